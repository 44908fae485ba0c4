import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from './helpers/browser.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

/**
 * Records, in the page, every text the bot page's header status, last-run badge and Runs tile take
 * (a MutationObserver: no sampling, so a short "Running" is not missed), and marks the document
 * so a reload would show.
 */
async function watchBotPage(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as any;
    w.__sameDocument = true;
    w.__seen = { status: [] as string[], lastRun: [] as string[], runs: [] as string[] };
    const push = (list: string[], v: string | null | undefined) => {
      const text = (v ?? '').trim();
      if (text && list.at(-1) !== text) list.push(text);
    };
    const snap = () => {
      push(w.__seen.status, document.querySelector('#bot-status')?.textContent);
      push(w.__seen.lastRun, document.querySelector('#bot-head .last-run .status')?.textContent);
      push(w.__seen.runs, document.querySelector('[data-stat="runs"]')?.textContent);
    };
    snap();
    new MutationObserver(snap).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
}

const seen = (page: Page) => page.evaluate(() => (window as any).__seen as { status: string[]; lastRun: string[]; runs: string[] });

/** The bot page follows a run it did not start: log lines arrive, header and tiles change, no reload. */
async function expectFollowed(page: Page, t: TestApp, botId: number, runsBefore: number): Promise<number> {
  // The log panel switched to the new run and its lines arrive one by one (echo: one every 300 ms).
  const panel = page.locator('#run-panel');
  await expect.poll(async () => Number(await panel.getAttribute('data-run-id')), { timeout: 20_000 }).toBeGreaterThan(0);
  const runId = Number(await panel.getAttribute('data-run-id'));
  const lines = page.locator('#run-panel .log-line');
  await expect.poll(() => lines.count(), { timeout: 20_000 }).toBeGreaterThanOrEqual(2);
  await expect.poll(() => page.locator('#run-panel .run-outcome .status').textContent(), { timeout: 20_000 }).toBe('Completed');
  expect(await page.locator('#run-panel').textContent()).toContain('echo: done');
  const ended = await t.waitForRun(runId);
  expect(ended.bot_id).toBe(botId);
  // Header and tiles changed in place: Running, then the run Completed; runs +1.
  await expect.poll(async () => (await seen(page)).lastRun.at(-1), { timeout: 10_000 }).toBe('Completed');
  await expect.poll(() => page.locator('[data-stat="runs"]').textContent(), { timeout: 10_000 }).toBe(String(runsBefore + 1));
  const s = await seen(page);
  expect(s.status).toContain('Running');
  expect(s.lastRun).toContain('Running');
  expect(s.lastRun.indexOf('Running')).toBeLessThan(s.lastRun.lastIndexOf('Completed'));
  expect(s.runs).toEqual(expect.arrayContaining([String(runsBefore), String(runsBefore + 1)]));
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
  return runId;
}

// Pages opened before a run starts follow it, whatever started it; nothing polls.
describe('live pages in headless Chromium', () => {
  let t: TestApp;
  let browser: Browser;
  beforeAll(async () => {
    t = await startTestApp({ ECHO_DELAY_MS: '300' });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  const open = async (path: string) => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const streams = t.app.live.hub.clientCount;
    await page.goto(t.url + path);
    // The page's stream opens and the header's counts (bell, failures) load once with the page;
    // after that nothing is fetched.
    await expect.poll(() => t.app.live.hub.clientCount).toBeGreaterThan(streams);
    await expect.poll(() => page.locator('#approvals-bell[hx-trigger^="load"], #failures-badge[hx-trigger^="load"]').count()).toBe(0);
    return { page, errors };
  };
  const bot = async (name: string, extra: Record<string, unknown> = {}) =>
    (await t.api('POST', '/api/bots', { name, emoji: '🤖', prompt: `be ${name}`, ...extra })).body;

  it('a run started through the API', async () => {
    const b = await bot('Api-Bot');
    const { page, errors } = await open(`/bots/${b.id}`);
    await watchBotPage(page);
    expect(await page.locator('#run-panel').textContent()).toContain('No runs yet');
    const { status } = await t.api('POST', `/api/bots/${b.id}/run`, { input: 'from the API' });
    expect(status).toBe(202);
    await expectFollowed(page, t, b.id, 0);
    expect(await page.locator('#results .result').count()).toBe(1);
    expect(errors).toEqual([]);
  });

  it('a run started by a schedule', async () => {
    const b = await bot('Cron-Bot');
    const { page, errors } = await open(`/bots/${b.id}`);
    await watchBotPage(page);
    // One occurrence only, however slow the machine: the schedule goes off as its first run is queued.
    const off = t.engine.bus.on('run.queued', (e) => {
      if (e.botId !== b.id) return;
      off();
      void t.api('PUT', `/api/bots/${b.id}`, { schedule: null });
    });
    await t.api('PUT', `/api/bots/${b.id}`, { schedule: '*/2 * * * * *' });
    const runId = await expectFollowed(page, t, b.id, 0);
    expect((await t.api('GET', `/api/runs/${runId}`)).body.trigger).toBe('schedule');
    expect(errors).toEqual([]);
  });

  it('a run started by a connection: the page says whom it waits on, then follows the run', async () => {
    const dev = await bot('Dev-Bot', { emoji: '💻' });
    const test = await bot('Test-Bot');
    expect((await t.api('POST', '/api/triggers', { source_bot: dev.id, event: 'completed', target_bot: test.id })).status).toBe(201);
    const { page, errors } = await open(`/bots/${test.id}`);
    await watchBotPage(page);
    await t.api('POST', `/api/bots/${dev.id}/run`, {});
    const runId = await expectFollowed(page, t, test.id, 0);
    expect((await seen(page)).status).toContain('Waiting on 💻 Dev-Bot');
    expect((await t.api('GET', `/api/runs/${runId}`)).body.trigger).toBe('trigger:Dev-Bot');
    expect(errors).toEqual([]);
  });

  it('a run started by a pipeline, and its steps on the dashboard', async () => {
    const researcher = await bot('Researcher');
    const writer = await bot('Writer');
    const p = (await t.api('POST', '/api/pipelines', { name: 'Blog', steps: [researcher.id, writer.id] })).body;
    const { page, errors } = await open(`/bots/${writer.id}`);
    await watchBotPage(page);
    const dash = await open('/');
    const steps = dash.page.locator(`.pipeline[data-pipeline-id="${p.id}"] .pipeline-step .status`);
    expect(await steps.count()).toBe(0);
    expect((await t.api('POST', `/api/pipelines/${p.id}/run`, {})).status).toBe(202);
    await expectFollowed(page, t, writer.id, 0);
    // The dashboard's pipeline shows both steps done, without a reload or a poll.
    await expect.poll(() => steps.allTextContents(), { timeout: 10_000 }).toEqual([expect.stringContaining('Completed'), expect.stringContaining('Completed')]);
    await expect.poll(() => dash.page.locator(`.pipeline[data-pipeline-id="${p.id}"] .pipeline-progress`).textContent()).toBe('2/2');
    expect(errors).toEqual([]);
    expect(dash.errors).toEqual([]);
  });

  it('the dashboard card goes Running → Idle and the activity line appears; idle, only the streams are open', async () => {
    const b = await bot('Card-Bot');
    const { page, errors } = await open('/');
    const requests: string[] = [];
    page.on('request', (r) => requests.push(`${r.resourceType()} ${new URL(r.url()).pathname}`));
    await page.evaluate(() => {
      const w = window as any;
      w.__sameDocument = true;
      w.__card = [] as string[];
      const snap = () => {
        const text = document.querySelector('#bot-' + (w.__botId as number) + ' .status')?.textContent?.trim();
        if (text && w.__card.at(-1) !== text) w.__card.push(text);
      };
      w.__snap = snap;
      new MutationObserver(snap).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await page.evaluate((id) => {
      (window as any).__botId = id;
      (window as any).__snap();
    }, b.id);
    const card = page.locator(`#bot-${b.id}`);
    expect(await card.locator('.status').textContent()).toBe('Idle');

    const run = (await t.api('POST', `/api/bots/${b.id}/run`, {})).body;
    await t.waitForRun(run.id);
    await expect.poll(() => card.locator('.status').textContent(), { timeout: 10_000 }).toBe('Idle');
    await expect.poll(() => page.locator('#activity').textContent(), { timeout: 10_000 }).toContain(`Card-Bot: run #${run.id} completed`);
    expect(await page.evaluate(() => (window as any).__card)).toEqual(expect.arrayContaining(['Idle', 'Running']));
    expect(await card.locator('.result-count').textContent()).toBe('1 result');
    expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
    // While it followed the run the page asked for nothing (its stream was open before; a font
    // file for a glyph first shown may load).
    expect(requests.filter((r) => !r.startsWith('font '))).toEqual([]);

    // 10 s of idle: no request at all (the streams stay open; nothing polls).
    requests.length = 0;
    await page.waitForTimeout(10_000);
    expect(requests).toEqual([]);
    expect(errors).toEqual([]);
  });
});
