/**
 * The Settings → Chat page in real headless Chromium at a phone's width (390 px): a person types
 * the code their chat bot gave them and presses Link (htmx), sees the linked chat, unlinks it with
 * one click; the admin approves a pending code for a chosen user. Nothing is wider than the screen.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from './helpers/browser.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

let t: TestApp;
let browser: Browser;
let page: Page;
const errors: string[] = [];

beforeAll(async () => {
  t = await startTestApp();
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  page.on('pageerror', (e) => errors.push(e.message));
});

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

describe('Settings → Chat in a browser', () => {
  it('links a code, lists the chat with Unlink, unlinks; approves a pending code for a user', async () => {
    const code = (await t.engine.chatIdentities.codeFor('telegram', '424242', '@a_rather_long_telegram_username_indeed')).code;
    const other = await t.engine.chatIdentities.codeFor('discord', '700000000000000099', 'dora');
    const dora = await t.engine.users.create({ username: 'dora', role: 'operator' });

    await page.goto(`${t.url}/settings/chat`);
    await expect.poll(() => page.locator('h1').textContent()).toBe('Chat');
    expect(await overflow()).toBeLessThanOrEqual(0);
    await page.getByLabel('Code', { exact: true }).fill(code.toLowerCase());
    await page.getByRole('button', { name: 'Link', exact: true }).click();
    await expect.poll(() => page.locator('.form-ok').textContent()).toContain('Linked Telegram user @a_rather_long_telegram_username_indeed');
    await expect.poll(() => page.locator('[data-identity-id]').count()).toBe(1);
    expect((await t.engine.chatIdentities.callerFor('telegram', '424242'))?.userId).toBe(1);
    expect(await overflow()).toBeLessThanOrEqual(0);

    // The admin approves the Discord code for Dora.
    const pending = page.locator(`[data-code-id="${other.id}"]`);
    await pending.locator('select[name="userId"]').selectOption(String(dora.id));
    await pending.getByRole('button', { name: 'Approve' }).click();
    await expect.poll(() => page.locator('.form-ok').textContent()).toContain('dora now acts as dora');
    expect((await t.engine.chatIdentities.callerFor('discord', '700000000000000099'))?.userId).toBe(dora.id);
    await expect.poll(() => page.locator(`[data-code-id="${other.id}"]`).count()).toBe(0);

    // A used code is refused on the page.
    await page.getByLabel('Code', { exact: true }).fill(code);
    await page.getByRole('button', { name: 'Link', exact: true }).click();
    await expect.poll(() => page.locator('.form-error').textContent()).toContain('already used');

    await page.getByRole('button', { name: 'Unlink @a_rather_long_telegram_username_indeed' }).click();
    await expect.poll(() => page.locator('.chat-settings').textContent()).toContain('No chat account is linked to you yet.');
    expect(await t.engine.chatIdentities.callerFor('telegram', '424242')).toBeNull();
    expect(await overflow()).toBeLessThanOrEqual(0);
    expect(errors).toEqual([]);
  });
});
