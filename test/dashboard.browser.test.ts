import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from './helpers/browser.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

// A person opens the dashboard in a real browser, creates a bot, presses Run and watches the log.
describe('dashboard in headless Chromium', () => {
  let t: TestApp;
  let browser: Browser;
  beforeAll(async () => {
    t = await startTestApp({ ECHO_DELAY_MS: '400' });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('fill the New-bot form, press Run, see log lines appear without a reload', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(t.url + '/');
    await page.getByRole('button', { name: 'New bot' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name').fill('eBay-Scout');
    await dialog.getByLabel('Emoji').fill('🛒');
    await dialog.getByLabel('Description').fill('Finds deals <under> 50 €');
    await dialog.getByLabel('What should it do?').fill('Search eBay for Nike Air Max under 50 €. <script>window.pwned = 1</script>');
    await dialog.getByRole('button', { name: 'Create bot' }).click();

    await page.waitForURL(/\/bots\/\d+$/);
    await expect.poll(() => page.locator('h1').textContent()).toContain('eBay-Scout');
    // User text is shown as text, never run as markup.
    expect(await page.locator('.bot-head .muted').first().textContent()).toBe('Finds deals <under> 50 €');
    expect(await page.locator('#bot-settings').getByLabel('Prompt').inputValue()).toContain('<script>window.pwned = 1</script>');
    expect(await page.evaluate(() => (window as any).pwned)).toBeUndefined();

    // Mark this document: a reload would lose the mark.
    await page.evaluate(() => ((window as any).__sameDocument = true));
    await page.getByPlaceholder('Optional input for this run').fill('size 43');
    await page.getByRole('button', { name: 'Run now' }).click();

    const lines = page.locator('#run-panel .log-line');
    await expect.poll(() => lines.count(), { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
    const whileRunning = await lines.count();
    // Lines keep arriving live (echo sends one every 400 ms) ...
    await expect.poll(() => lines.count(), { timeout: 15_000 }).toBeGreaterThan(whileRunning);
    // ... until the run ends and the outcome shows.
    await expect.poll(() => page.locator('#run-panel .run-outcome .status').textContent(), { timeout: 15_000 }).toBe('Completed');
    expect(await page.locator('#run-panel').textContent()).toContain('echo: done');
    expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);

    // The output was saved as a result, shown on the page.
    await expect.poll(() => page.locator('#results .result').count()).toBe(1);
    expect(await page.locator('#results .result-content').textContent()).toContain('Input: size 43');
    expect(await page.evaluate(() => (window as any).pwned)).toBeUndefined();
    expect(errors).toEqual([]);
  });

  it('pin a result from the results panel and filter the new ones', async () => {
    const page = await browser.newPage();
    const bot = (await t.api('GET', '/api/bots')).body.find((b: any) => b.name === 'eBay-Scout');
    await page.goto(`${t.url}/bots/${bot.id}`);
    const result = page.locator('#results .result').first();
    await result.getByRole('button', { name: 'Pin', exact: true }).click();
    await expect.poll(() => page.locator('#results .result .tag.pin').count()).toBe(1);
    expect((await t.api('GET', `/api/bots/${bot.id}/results`)).body[0].pinned).toBe(true);
    await page.locator('#results').getByRole('button', { name: 'Unpin' }).click();
    await expect.poll(() => page.locator('#results .result .tag.pin').count()).toBe(0);
    expect((await t.api('GET', `/api/bots/${bot.id}/results`)).body[0].pinned).toBe(false);

    await page.locator('#results nav').getByText('New').click();
    await expect.poll(() => page.locator('#results nav a.active').textContent()).toBe('New');
    expect(await page.locator('#results .result .tag.new').count()).toBe(await page.locator('#results .result').count());
  });

  it('edit the schedule and pause the bot from its settings panel', async () => {
    const page = await browser.newPage();
    const bot = (await t.api('GET', '/api/bots')).body.find((b: any) => b.name === 'eBay-Scout');
    await page.goto(`${t.url}/bots/${bot.id}`);
    const settings = page.locator('#bot-settings');
    await settings.getByLabel(/^Schedule/).fill('every 61m');
    await settings.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => settings.getByRole('alert').textContent()).toContain('is not an even interval');
    expect((await t.api('GET', `/api/bots/${bot.id}`)).body.schedule).toBeNull();

    await settings.getByLabel(/^Schedule/).fill('every 30m');
    await settings.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => settings.getByRole('status').textContent()).toBe('Saved.');
    expect((await t.api('GET', `/api/bots/${bot.id}`)).body).toMatchObject({ schedule: '*/30 * * * *', next_run_at: expect.any(String) });

    await settings.getByRole('button', { name: 'Pause' }).click();
    await expect.poll(() => settings.getByRole('button', { name: 'Resume' }).count()).toBe(1);
    expect((await t.api('GET', `/api/bots/${bot.id}`)).body).toMatchObject({ paused: true, next_run_at: null });
    await settings.getByRole('button', { name: 'Resume' }).click();
    await expect.poll(() => settings.getByRole('button', { name: 'Pause' }).count()).toBe(1);
    expect((await t.api('GET', `/api/bots/${bot.id}`)).body.paused).toBe(false);
  });

  it('start from the eBay-Scout template: the form fills in, the bot runs every 30 minutes', async () => {
    const page = await browser.newPage();
    await page.goto(t.url + '/');
    await page.getByRole('button', { name: 'New bot' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('button', { name: '🛒 eBay-Scout' }).click();
    // The empty form says 30 minutes too: wait for what the template changes (its schedule mode).
    await expect.poll(() => dialog.locator('input[name=schedule_mode][value=every]').isChecked()).toBe(true);
    expect(await dialog.getByLabel('Every how many minutes').inputValue()).toBe('30');
    expect(await dialog.getByLabel('What should it do?').inputValue()).toContain('report_result');
    expect(await dialog.getByLabel('web search').isChecked()).toBe(true);
    expect(await dialog.getByLabel('files').isChecked()).toBe(true);
    expect(await dialog.getByLabel('code').isChecked()).toBe(false);
    await dialog.getByLabel('Name').fill('Scout from template');
    await dialog.getByRole('button', { name: 'Create bot' }).click();
    await page.waitForURL(/\/bots\/\d+$/);
    const id = Number(page.url().split('/').pop());
    expect((await t.api('GET', `/api/bots/${id}`)).body).toMatchObject({ emoji: '🛒', schedule: '*/30 * * * *', tools: ['web_search', 'web_fetch', 'files'] });
    await t.api('DELETE', `/api/bots/${id}`);
  });

  it('a bad form shows the error in the dialog and keeps what was typed', async () => {
    const page = await browser.newPage();
    await page.goto(t.url + '/');
    await page.getByRole('button', { name: 'New bot' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name').fill('EBAY-scout');
    await dialog.getByLabel('What should it do?').fill('duplicate name');
    await dialog.getByRole('button', { name: 'Create bot' }).click();
    await expect.poll(() => dialog.getByRole('alert').textContent()).toContain('already exists');
    expect(await dialog.getByLabel('What should it do?').inputValue()).toBe('duplicate name');
    expect(page.url()).toBe(t.url + '/');
  });

  it('the card grid shows each bot with status, last run and result count', async () => {
    const page = await browser.newPage();
    await page.goto(t.url + '/');
    const card = page.locator('.bot-card', { hasText: 'eBay-Scout' });
    // Its schedule (every 30 minutes, set above) says when it runs next.
    await expect.poll(() => card.locator('.status').textContent()).toMatch(/^Scheduled · next (\d\d:\d\d|\d\d \w+ \d\d:\d\d)$/);
    expect(await card.textContent()).toContain('1 result');
    expect(await page.locator('#activity').textContent()).toContain('eBay-Scout: run #1 completed');
  });
});
