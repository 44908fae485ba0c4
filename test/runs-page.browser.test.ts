import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from './helpers/browser.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

// A person opens Runs from the header, filters the list, retries a cancelled run and cancels two
// waiting runs at once, in real Chromium; the table changes in place (htmx), never a reload.
describe('the Runs page in headless Chromium', () => {
  let t: TestApp;
  let browser: Browser;
  const ids: Record<string, number> = {};
  beforeAll(async () => {
    // One slot, held by a long run; the others wait, one is cancelled so it can be retried.
    t = await startTestApp({ MAX_CONCURRENT_RUNS: '1', ECHO_DELAY_MS: '60000' });
    const scout = (await t.api('POST', '/api/bots', { name: 'Scout', emoji: '🛒', prompt: 's' })).body;
    const writer = (await t.api('POST', '/api/bots', { name: 'Writer', emoji: '✍️', prompt: 'w' })).body;
    ids.running = (await t.api('POST', `/api/bots/${scout.id}/run`, { input: 'first' })).body.id;
    ids.cancelled = (await t.api('POST', `/api/bots/${writer.id}/run`, { input: 'draft 1' })).body.id;
    ids.waitA = (await t.api('POST', `/api/bots/${scout.id}/run`, { input: 'second' })).body.id;
    ids.waitB = (await t.api('POST', `/api/bots/${writer.id}/run`, { input: 'draft 2' })).body.id;
    await t.api('POST', `/api/runs/${ids.cancelled}/cancel`);
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('filter, retry, and cancel several at once', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(t.url + '/');
    await page.locator('header').getByRole('link', { name: 'Runs' }).click();
    await page.waitForURL(/\/runs$/);
    const rows = page.locator('#all-runs tbody tr');
    expect(await rows.count()).toBe(4);
    await page.evaluate(() => ((window as any).__sameDocument = true));

    // Filter by status: the table changes in place and the address says what is shown.
    await page.getByLabel('Status').selectOption('cancelled');
    await page.waitForURL(/status=cancelled/);
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().getAttribute('id')).toBe(`run-row-${ids.cancelled}`);
    expect(await rows.first().textContent()).toContain('✍️ Writer');

    // Retry it: the table comes back with the notice; with the filter reset, the new run is on top.
    await rows.first().getByRole('button', { name: `Retry run #${ids.cancelled}` }).click();
    const notice = page.locator('#all-runs [role=status]');
    await expect.poll(() => notice.textContent()).toMatch(new RegExp(`^Retrying run #${ids.cancelled} as run #\\d+\\.$`));
    const retryId = Number(/as run #(\d+)/.exec((await notice.textContent()) ?? '')?.[1]);
    expect((await t.api('GET', `/api/runs/${retryId}`)).body).toMatchObject({ retry_of: ids.cancelled, input: 'draft 1', status: 'queued' });
    await page.getByLabel('Status').selectOption('');
    await expect.poll(() => rows.count()).toBe(5);
    expect(await rows.first().getAttribute('id')).toBe(`run-row-${retryId}`);
    expect(await rows.first().textContent()).toContain(`retry of #${ids.cancelled}`);

    // Select two waiting runs and cancel them together.
    await page.getByLabel(`Select run #${ids.waitA}`).check();
    await page.getByLabel(`Select run #${ids.waitB}`).check();
    await page.getByRole('button', { name: 'Cancel selected' }).click();
    // In the order of the table: newest first.
    await expect.poll(() => notice.textContent()).toBe(`Cancelled #${ids.waitB}, #${ids.waitA}.`);
    for (const id of [ids.waitA, ids.waitB]) {
      expect(await page.locator(`#run-row-${id}`).getAttribute('data-status')).toBe('cancelled');
      expect((await t.api('GET', `/api/runs/${id}`)).body.status).toBe('cancelled');
    }
    // The running run and the retry were not touched.
    expect((await t.api('GET', `/api/runs/${ids.running}`)).body.status).toBe('running');
    expect((await t.api('GET', `/api/runs/${retryId}`)).body.status).toBe('queued');

    expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
    expect(errors).toEqual([]);
  });
});
