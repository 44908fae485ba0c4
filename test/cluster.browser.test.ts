import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from './helpers/browser.ts';
import { startCluster, type TestCluster } from './helpers/cluster.ts';
import { startPostgres, type TestPostgres } from './helpers/postgres.ts';
import { json } from './helpers/server.ts';

// A page served by one process of a cluster follows runs that another process queued and ran:
// the live stream wakes from the other processes' events (LISTEN/NOTIFY), nothing polls.
describe('live pages of a cluster, in headless Chromium', () => {
  let server: TestPostgres;
  let cluster: TestCluster;
  let browser: Browser;
  const pages: Page[] = [];
  beforeAll(async () => {
    server = await startPostgres();
    cluster = await startCluster(server, 2, { ECHO_DELAY_MS: '300' });
    browser = await launchBrowser();
  }, 90_000);
  afterAll(async () => {
    await browser?.close();
    await cluster?.stop();
    await server?.stop();
  });

  /** Opens `path` on process `i`; resolves once its live stream answered and the header's counts loaded. */
  const open = async (i: number, path: string) => {
    const page = await browser.newPage();
    pages.push(page);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const stream = page.waitForResponse((r) => new URL(r.url()).pathname.endsWith('/stream') && r.status() === 200);
    await page.goto(cluster.procs[i]!.url + path);
    await stream;
    await expect.poll(() => page.locator('#approvals-bell[hx-trigger^="load"], #failures-badge[hx-trigger^="load"]').count()).toBe(0);
    await page.evaluate(() => ((window as unknown as { __same: boolean }).__same = true));
    return { page, errors };
  };

  it("a bot's page on one process follows a run started through the other: lines, outcome and tiles, no reload", async () => {
    const [a, b] = cluster.procs;
    const bot = (await json(`${a!.url}/api/bots`, { method: 'POST', body: JSON.stringify({ name: 'Far-Bot', prompt: 'Say hi.', model: 'echo' }) })).body;
    const { page, errors } = await open(0, `/bots/${bot.id}`);
    const dash = await open(0, '/');
    expect(await page.locator('#run-panel').textContent()).toContain('No runs yet');

    const run = await json(`${b!.url}/api/bots/${bot.id}/run`, { method: 'POST', body: JSON.stringify({ input: 'from the other process' }) });
    expect(run.status).toBe(202);

    const panel = page.locator('#run-panel');
    await expect.poll(async () => Number(await panel.getAttribute('data-run-id')), { timeout: 20_000 }).toBe(run.body.id);
    await expect.poll(() => page.locator('#run-panel .log-line').count(), { timeout: 20_000 }).toBeGreaterThanOrEqual(2);
    await expect.poll(() => page.locator('#run-panel .run-outcome .status').textContent(), { timeout: 20_000 }).toBe('Completed');
    expect(await panel.textContent()).toContain('echo: done');
    await expect.poll(() => page.locator('[data-stat="runs"]').textContent(), { timeout: 10_000 }).toBe('1');
    // The dashboard of the same process shows the bot's last run as completed and its result, in place.
    const card = dash.page.locator(`[data-bot-id="${bot.id}"]`);
    await expect.poll(() => card.locator('.last-run').getAttribute('title'), { timeout: 10_000 }).toBe('Last run: Completed');
    await expect.poll(() => card.locator('.result-count strong').textContent(), { timeout: 10_000 }).toBe('1');
    for (const p of [page, dash.page]) expect(await p.evaluate(() => (window as unknown as { __same?: boolean }).__same)).toBe(true);
    expect([...errors, ...dash.errors]).toEqual([]);
    await page.screenshot({ path: '/tmp/cluster-bot-page.png' });
  }, 60_000);
});
