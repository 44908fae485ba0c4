import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from './helpers/browser.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

// The bot page's "Chats" panel: which chats get the bot's runs, with their policy and mute, as
// /subscribe and /mute set them in chat — shown and changed over HTTP and in a real browser.
describe('the chats a bot posts to, on its page', () => {
  let t: TestApp;
  let browser: Browser;
  let bot: { id: number; name: string };

  beforeAll(async () => {
    t = await startTestApp();
    browser = await launchBrowser();
    bot = (await t.api('POST', '/api/bots', { name: 'Herald', prompt: 'announce' })).body;
    await t.engine.subscriptions.subscribe(bot.id, 'telegram', '-1001234567890', { threadId: '7' });
    await t.engine.subscriptions.subscribe(bot.id, 'discord', '800000000000000010', { policy: 'new' });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  const form = (fields: Record<string, string>, htmx = true) => ({
    'content-type': 'application/x-www-form-urlencoded',
    ...(htmx ? { 'hx-request': 'true' } : {}),
    body: new URLSearchParams(fields).toString(),
  });
  const post = async (path: string, fields: Record<string, string>, htmx = true) => {
    const { body, ...headers } = form(fields, htmx);
    const res = await fetch(t.url + path, { method: 'POST', headers, body, redirect: 'manual' });
    return { status: res.status, text: await res.text(), location: res.headers.get('location') };
  };

  it('lists each chat with its policy; a form changes the policy and mutes it; Remove removes it', async () => {
    const [tg, dc] = await t.engine.subscriptions.listForBot(bot.id);
    const panel = await fetch(`${t.url}/bots/${bot.id}/subscriptions`).then((r) => r.text());
    expect(panel).toContain('Telegram chat <code>-1001234567890</code> · topic 7');
    expect(panel).toContain('Discord channel <code>800000000000000010</code>');
    expect(panel).toMatch(/<option value="new" selected>new results only<\/option>/);

    const changed = await post(`/bots/${bot.id}/subscriptions/${tg!.id}`, { policy: 'failures', mute: '2h' });
    expect(changed.status).toBe(200);
    expect(changed.text).toMatch(/🔕 muted until/);
    const row = (await t.engine.subscriptions.find(bot.id, 'telegram', '-1001234567890'))!;
    expect(row.policy).toBe('failures');
    expect(row.mutedUntil! - Date.now()).toBeGreaterThan(2 * 3600_000 - 60_000);

    const bad = await post(`/bots/${bot.id}/subscriptions/${tg!.id}`, { mute: 'forever' });
    expect(bad.status).toBe(200);
    expect(bad.text).toContain('&quot;forever&quot; is not a duration: use 30m, 2h, 1d, 1w, or off.');
    expect((await post(`/bots/${bot.id}/subscriptions/${tg!.id}`, { policy: 'sometimes' }, false)).status).toBe(400);
    expect((await post(`/bots/${bot.id}/subscriptions/999999`, { policy: 'all' })).status).toBe(404);
    expect((await post(`/bots/${bot.id}/subscriptions/abc`, { policy: 'all' })).status).toBe(404);

    const unmuted = await post(`/bots/${bot.id}/subscriptions/${tg!.id}`, { mute: 'off' }, false);
    expect(unmuted).toMatchObject({ status: 303, location: `/bots/${bot.id}` });
    expect((await t.engine.subscriptions.find(bot.id, 'telegram', '-1001234567890'))!.mutedUntil).toBeNull();

    const removed = await post(`/bots/${bot.id}/subscriptions/${dc!.id}/delete`, {});
    expect(removed.text).not.toContain('800000000000000010');
    expect(await t.engine.subscriptions.isSubscribed(bot.id, 'discord', '800000000000000010')).toBe(false);
  });

  it('in the browser, the panel loads on the bot page and saving a policy changes what the chat gets', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${t.url}/bots/${bot.id}`);
    const panel = page.locator('#bot-subscriptions');
    await expect.poll(() => panel.locator('.subscription').count()).toBe(1);
    await panel.getByLabel('Gets').selectOption('new');
    await panel.getByLabel('Mute for').fill('1d');
    await panel.getByRole('button', { name: 'Save' }).click();
    await expect.poll(async () => (await t.engine.subscriptions.find(bot.id, 'telegram', '-1001234567890'))!.policy).toBe('new');
    await expect.poll(() => panel.textContent()).toMatch(/muted until/);
    expect((await t.engine.subscriptions.find(bot.id, 'telegram', '-1001234567890'))!.mutedUntil! - Date.now()).toBeGreaterThan(23 * 3600_000);
    await panel.getByRole('button', { name: 'Remove' }).click();
    await expect.poll(() => panel.textContent()).toMatch(/No chat gets this bot's runs/);
    expect(await t.engine.subscriptions.listForBot(bot.id)).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });
});
