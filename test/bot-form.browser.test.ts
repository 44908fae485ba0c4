import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from './helpers/browser.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

// Seed 001's New-bot modal: "Runs" Manually / Every N minutes / When another bot finishes (which
// creates the connection); "Send results to" Dashboard, Telegram, E-mail, each wired; the model
// picked from the configured providers' models. The bot page edits name and emoji.
describe('the New-bot form and the bot page settings, in headless Chromium', () => {
  let t: TestApp;
  let browser: Browser;
  beforeAll(async () => {
    t = await startTestApp({ TELEGRAM_BOT_TOKEN: '123:abc', TELEGRAM_ALLOWED_USERS: '1001,1002', OPENAI_API_KEY: 'sk-test' });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('"When Dev-Bot completes" creates the connection; Telegram and e-mail are wired; the model is a select of configured models', async () => {
    const dev = (await t.api('POST', '/api/bots', { name: 'Dev-Bot', prompt: 'write code' })).body;
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(t.url + '/');
    await page.getByRole('button', { name: 'New bot' }).click();
    const dialog = page.getByRole('dialog');
    expect(await dialog.getByLabel('Model').locator('option').allTextContents()).toEqual([
      'echo (offline, repeats its input)',
      'openai:gpt-4.1-mini',
      'openai:gpt-4.1',
      'openai:gpt-4o-mini',
    ]);
    await dialog.getByLabel('Name', { exact: true }).fill('Test-Bot');
    await dialog.getByLabel('What should it do?').fill('test what Dev-Bot wrote');
    await dialog.getByLabel('Model').selectOption('echo');
    await dialog.locator('input[name=schedule_mode][value=after]').check();
    await dialog.getByLabel('Runs after which bot').selectOption(String(dev.id));
    await dialog.getByLabel('Finishes how').selectOption('completed');
    await dialog.locator('input[name=send_telegram]').check();
    await dialog.locator('input[name=send_email]').check();
    await dialog.getByLabel('E-mail address').fill('me@example.com');
    await dialog.getByRole('button', { name: 'Create bot' }).click();
    await page.waitForURL(/\/bots\/\d+$/);
    const id = Number(page.url().split('/').pop());
    expect((await t.api('GET', `/api/bots/${id}`)).body).toMatchObject({ name: 'Test-Bot', model: 'echo', schedule: null, notify: { telegram: true, email: { to: 'me@example.com' } } });
    expect((await t.api('GET', '/api/triggers')).body.map((x: any) => x.label)).toEqual(['Dev-Bot —completed→ Test-Bot']);
    expect((await t.engine.subscriptions.listForBot(id, 'telegram')).map((s) => s.chatId)).toEqual(['1001', '1002']);

    // It is wired: Dev-Bot's run starts Test-Bot.
    const run = (await t.api('POST', `/api/bots/${dev.id}/run`, { input: 'x' })).body;
    await t.waitForRun(run.id);
    await expect.poll(async () => (await t.api('GET', `/api/bots/${id}/runs`)).body.length, { timeout: 10_000 }).toBe(1);
    expect(errors).toEqual([]);
  });

  it('Every N minutes stores the schedule; an uneven interval is refused in place, keeping what was typed, and makes no bot', async () => {
    const page = await browser.newPage();
    await page.goto(t.url + '/');
    await page.getByRole('button', { name: 'New bot' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name', { exact: true }).fill('Ticker');
    await dialog.getByLabel('What should it do?').fill('tick');
    await dialog.locator('input[name=schedule_mode][value=every]').check();
    await dialog.getByLabel('Every how many minutes').fill('15');
    await dialog.getByRole('button', { name: 'Create bot' }).click();
    await page.waitForURL(/\/bots\/\d+$/);
    expect((await t.api('GET', `/api/bots/${page.url().split('/').pop()}`)).body.schedule).toBe('*/15 * * * *');

    await page.goto(t.url + '/');
    await page.getByRole('button', { name: 'New bot' }).click();
    const d2 = page.getByRole('dialog');
    await d2.getByLabel('Name', { exact: true }).fill('Looper');
    await d2.getByLabel('What should it do?').fill('loop');
    await d2.locator('input[name=schedule_mode][value=every]').check();
    await d2.getByLabel('Every how many minutes').fill('45');
    await d2.getByRole('button', { name: 'Create bot' }).click();
    await expect.poll(() => d2.getByRole('alert').textContent()).toContain('is not an even interval');
    expect(await d2.getByLabel('Every how many minutes').inputValue()).toBe('45');
    expect(await d2.locator('input[name=schedule_mode][value=every]').isChecked()).toBe(true);
    expect((await t.api('GET', '/api/bots')).body.map((b: any) => b.name)).not.toContain('Looper');
  });

  it('the bot page edits name and emoji, and whether results need approval', async () => {
    const bot = (await t.api('POST', '/api/bots', { name: 'Renamer', emoji: '🤖', prompt: 'p' })).body;
    const page = await browser.newPage();
    await page.goto(`${t.url}/bots/${bot.id}`);
    const settings = page.locator('#bot-settings');
    await settings.getByLabel('Bot name').fill('Renamed');
    await settings.getByLabel('Bot emoji').fill('★');
    await settings.getByLabel('I approve each result first').check();
    await settings.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.locator('h1').textContent()).toContain('Renamed');
    expect(await page.locator('.bot-emoji.big').textContent()).toBe('★');
    expect((await t.api('GET', `/api/bots/${bot.id}`)).body).toMatchObject({ name: 'Renamed', emoji: '★', requires_approval: true });
  });
});
