import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from './helpers/browser.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

// The bot page's Secrets panel on a phone-sized screen (390 px): add, replace and delete a secret;
// the value is typed into password fields and never shown.
describe('the Secrets panel of the bot page, in headless Chromium at 390 px', () => {
  let t: TestApp;
  let browser: Browser;
  beforeAll(async () => {
    t = await startTestApp();
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('adds, replaces and deletes a secret; shows its name only; nothing overflows the screen', async () => {
    const bot = (await t.api('POST', '/api/bots', { name: 'Phone', prompt: 'x' })).body;
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('dialog', (d) => void d.accept());
    await page.goto(`${t.url}/bots/${bot.id}`);
    const panel = page.locator('#bot-secrets');
    await panel.getByText('No secrets.').waitFor();

    const value = page.getByLabel('Secret value');
    expect(await value.getAttribute('type')).toBe('password');
    await panel.getByLabel('Secret name').fill('SITE_LOGIN');
    await value.fill('first-secret-value');
    await panel.getByRole('button', { name: 'Add' }).click();
    await panel.getByText('Saved SITE_LOGIN.').waitFor();
    expect(await panel.locator('.secret-name').allTextContents()).toEqual(['SITE_LOGIN']);
    expect(t.engine.botSecrets.values(bot.id)).toEqual({ SITE_LOGIN: 'first-secret-value' });

    await panel.locator('.secret-replace summary').click();
    const replace = panel.getByLabel('New value of SITE_LOGIN');
    expect(await replace.getAttribute('type')).toBe('password');
    await replace.fill('second-secret-value');
    await panel.locator('.secret-replace').getByRole('button', { name: 'Save' }).click();
    await panel.getByText('Saved SITE_LOGIN.').waitFor();
    expect(t.engine.botSecrets.values(bot.id)).toEqual({ SITE_LOGIN: 'second-secret-value' });

    const html = await page.content();
    expect(html).not.toContain('first-secret-value');
    expect(html).not.toContain('second-secret-value');
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(390);
    const box = await panel.boundingBox();
    expect(box!.x + box!.width).toBeLessThanOrEqual(390);

    await panel.getByRole('button', { name: 'Delete SITE_LOGIN' }).click();
    await panel.getByText('Deleted SITE_LOGIN.').waitFor();
    expect(await panel.locator('.secret-name').count()).toBe(0);
    expect(t.engine.botSecrets.list(bot.id)).toEqual([]);
    expect(errors).toEqual([]);
  });
});
