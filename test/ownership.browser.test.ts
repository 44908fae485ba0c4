import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../src/engine/access.ts';
import { launchBrowser } from './helpers/browser.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

// Issue 12 in real headless Chromium: two operators each see only their own bots, runs, results,
// documents, live updates and bell; a guessed URL of the other's bot is 404; a viewer sees but has
// no Run button. Each person is a browser context sending their own API key (X-API-Key).

describe('ownership in the browser', () => {
  let t: TestApp;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const keys: Record<string, string> = {};
  let alpha: any;
  let bravo: any;

  const user = async (username: string, role: Role) => {
    const u = await t.engine.users.create({ username, role });
    keys[username] = (await t.engine.swarm.keys.create({ name: `${username}-key`, scopes: ['admin', 'tasks', 'agents'] }, 'test', null, u.id)).key;
    return { 'x-api-key': keys[username]! };
  };
  const open = async (who: string, path: string): Promise<{ page: Page; status: number | undefined; errors: string[] }> => {
    const context = await browser.newContext({ extraHTTPHeaders: { 'x-api-key': keys[who]! } });
    contexts.push(context);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const res = await page.goto(t.url + path);
    return { page, status: res?.status(), errors };
  };
  const cardNames = (page: Page) => page.locator('.bot-card .bot-name').allTextContents();

  beforeAll(async () => {
    t = await startTestApp();
    browser = await launchBrowser();
    const alice = await user('alice', 'operator');
    const bob = await user('bob', 'operator');
    await user('vera', 'viewer');
    alpha = (await t.api('POST', '/api/bots', { name: 'Alpha-Scout', prompt: 'find alpha' }, alice)).body;
    bravo = (await t.api('POST', '/api/bots', { name: 'Bravo-Scout', prompt: 'find bravo', requires_approval: true }, bob)).body;
    await t.api('POST', `/api/bots/${alpha.id}/docs`, { name: 'alpha-notes.md', content: 'only for alice' }, alice);
  }, 60_000);
  afterAll(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await t?.close();
  });

  it('each operator sees only their own bots, live updates and bell; the other bot is 404', async () => {
    const a = await open('alice', '/');
    const b = await open('bob', '/');
    expect(await cardNames(a.page)).toEqual(['Alpha-Scout']);
    expect(await cardNames(b.page)).toEqual(['Bravo-Scout']);
    // Both dashboards have joined the live stream before anything runs.
    await expect.poll(() => t.app.live.hub.clientCount, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);

    // Bob's run waits for his approval: his feed and bell follow it live; Alice's page hears nothing of it.
    const bobRun = (await t.api('POST', `/api/bots/${bravo.id}/run`, { input: 'bravo input' }, { 'x-api-key': keys.bob! })).body;
    await expect.poll(() => b.page.locator('#approvals-bell .bell-count').textContent(), { timeout: 20_000 }).toBe('1');
    await expect.poll(() => b.page.locator('.activity-panel').textContent(), { timeout: 20_000 }).toContain(`run #${bobRun.id}`);
    // Then Alice's own run: once her page shows it, it would have shown Bob's before.
    const aliceRun = (await t.api('POST', `/api/bots/${alpha.id}/run`, { input: 'alpha input' }, { 'x-api-key': keys.alice! })).body;
    await t.waitForRun(aliceRun.id);
    await expect.poll(() => a.page.locator('.activity-panel').textContent(), { timeout: 20_000 }).toContain(`run #${aliceRun.id}`);
    await expect.poll(() => a.page.locator(`#bot-${alpha.id} .result-count strong`).textContent(), { timeout: 20_000 }).toBe('1');
    const aliceText = (await a.page.locator('body').textContent()) ?? '';
    expect(aliceText).not.toContain('Bravo-Scout');
    expect(aliceText).not.toContain(`run #${bobRun.id}`);
    expect(await a.page.locator('#approvals-bell .bell-count').textContent()).toBe('0');
    expect(await cardNames(a.page)).toEqual(['Alpha-Scout']);

    // Alice's own bot page: her run, result and document. Bob's, guessed: 404.
    await a.page.goto(`${t.url}/bots/${alpha.id}`);
    await expect.poll(() => a.page.locator('#results').textContent(), { timeout: 10_000 }).toContain('alpha input');
    expect(await a.page.locator('body').textContent()).toContain('alpha-notes.md');
    const guessed = await a.page.goto(`${t.url}/bots/${bravo.id}`);
    expect(guessed?.status()).toBe(404);
    expect(await a.page.locator('body').textContent()).not.toContain('Bravo-Scout');
    const guessedRun = await a.page.goto(`${t.url}/bots/${bravo.id}?run=${bobRun.id}`);
    expect(guessedRun?.status()).toBe(404);
    // And Bob cannot open Alice's.
    expect((await b.page.goto(`${t.url}/bots/${alpha.id}`))?.status()).toBe(404);
    expect([...a.errors, ...b.errors]).toEqual([]);
  }, 90_000);

  it('a viewer sees every bot but gets no Run button, and the server refuses the run', async () => {
    const v = await open('vera', '/');
    expect((await cardNames(v.page)).sort()).toEqual(['Alpha-Scout', 'Bravo-Scout']);
    await expect.poll(() => v.page.locator(`#bot-${alpha.id} button`, { hasText: 'Run' }).isVisible()).toBe(false);
    const own = await open('alice', '/');
    expect(await own.page.locator(`#bot-${alpha.id} button`, { hasText: 'Run' }).isVisible()).toBe(true);

    const botPage = await v.page.goto(`${t.url}/bots/${alpha.id}`);
    expect(botPage?.status()).toBe(200);
    expect(await v.page.locator('h1, .bot-head').first().textContent()).toContain('Alpha-Scout');
    expect(await v.page.getByRole('button', { name: 'Run now' }).count()).toBe(0);
    const before = (await t.api('GET', `/api/bots/${alpha.id}/runs`)).body.length;
    const refused = await v.page.evaluate(async (id) => (await fetch(`/bots/${id}/run`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'input=x' })).status, alpha.id);
    expect(refused).toBe(403);
    expect((await t.api('GET', `/api/bots/${alpha.id}/runs`)).body.length).toBe(before);
    expect(v.errors).toEqual([]);
  }, 60_000);
});
