import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, tempDataDir, type TestApp } from './helpers/app.ts';

// n8n's executions list: every run of every bot in one place, filtered, in pages; cancel several
// at once; retry one that did not complete. Runs get every final status: one fails (timeout), some
// are cancelled, one is interrupted by a restart, others complete.
describe('all runs: GET /api/runs, POST /api/runs/cancel, POST /api/runs/:id/retry', () => {
  const dataDir = tempDataDir();
  let t: TestApp;
  let a: any;
  let b: any;
  /** Runs by name, as the API answered when they were queued. */
  const r: Record<string, any> = {};
  const bulkCancel: { status: number; body: any }[] = [];
  let retryActive: { status: number; body: any };

  beforeAll(async () => {
    // Phase 1: one slot; a run of 4 × 5 s echo lines against a 1 s timeout fails, the rest wait.
    const p1 = await startTestApp({ DATA_DIR: dataDir, MAX_CONCURRENT_RUNS: '1', RUN_TIMEOUT_S: '1', ECHO_DELAY_MS: '5000' });
    try {
      a = (await p1.api('POST', '/api/bots', { name: 'Alpha', emoji: '🅰️', prompt: 'a' })).body;
      b = (await p1.api('POST', '/api/bots', { name: 'Beta', emoji: '🅱️', prompt: 'b' })).body;
      for (const [name, bot, input] of [['fails', a, 'one'], ['c1', b, 'two'], ['c2', a, 'three'], ['interrupted', b, 'four']] as const) {
        r[name] = (await p1.api('POST', `/api/bots/${bot.id}/run`, { input })).body;
      }
      bulkCancel.push(await p1.api('POST', '/api/runs/cancel', { ids: [r.c1.id, r.c2.id, 999_999, r.c1.id] }));
      bulkCancel.push(await p1.api('POST', '/api/runs/cancel', { ids: [r.c1.id] }));
      expect((await p1.waitForRun(r.fails.id)).status).toBe('failed');
      // The last run takes the slot; stopping the server while it runs interrupts it.
      for (const until = Date.now() + 15_000; (await p1.api('GET', `/api/runs/${r.interrupted.id}`)).body.status !== 'running'; ) {
        if (Date.now() > until) throw new Error(`run ${r.interrupted.id} did not start`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      retryActive = await p1.api('POST', `/api/runs/${r.interrupted.id}/retry`);
    } finally {
      await p1.close({ keepData: true }); // the last run is still active: it ends interrupted
    }
    // Phase 2: the same data, quick echo runs.
    t = await startTestApp({ DATA_DIR: dataDir, ECHO_DELAY_MS: '20' });
    r.completed = (await t.api('POST', `/api/bots/${a.id}/run`, { input: 'five' })).body;
    await t.waitForRun(r.completed.id);
  }, 60_000);
  afterAll(() => t?.close());

  const list = async (query = '') => {
    const res = await t.api('GET', `/api/runs${query}`);
    expect(res.status, query).toBe(200);
    return res.body as { runs: any[]; next_cursor: string | null };
  };
  const ids = async (query = '') => (await list(query)).runs.map((x) => x.id);

  it('cancels several runs at once and says per id what happened', () => {
    expect(bulkCancel[0]!.status).toBe(200);
    const results = bulkCancel[0]!.body.results;
    // One outcome per id, in the order given, a repeated id once.
    expect(results.map((o: any) => o.id)).toEqual([r.c1.id, r.c2.id, 999_999]);
    expect(results[0]).toMatchObject({ ok: true, run: { id: r.c1.id, status: 'cancelled' } });
    expect(results[1]).toMatchObject({ ok: true, run: { id: r.c2.id, status: 'cancelled' } });
    expect(results[2]).toEqual({ id: 999_999, ok: false, error: { code: 'RUN_NOT_FOUND', message: 'No run with id 999999.' } });
    expect(bulkCancel[1]!.body.results).toEqual([{ id: r.c1.id, ok: false, error: { code: 'RUN_NOT_ACTIVE', message: `Run #${r.c1.id} already ended (cancelled).` } }]);
  });

  it('refuses to retry a run that is still active or that completed: 409 RUN_NOT_RETRYABLE', async () => {
    expect(retryActive.status).toBe(409);
    expect(retryActive.body.error.code).toBe('RUN_NOT_RETRYABLE');
    expect(retryActive.body.error.message).toBe(`Run #${r.interrupted.id} is running: only a failed, cancelled, interrupted or rejected run can be retried.`);
    const done = await t.api('POST', `/api/runs/${r.completed.id}/retry`);
    expect(done.status).toBe(409);
    expect(done.body.error).toEqual({ code: 'RUN_NOT_RETRYABLE', message: `Run #${r.completed.id} is completed: only a failed, cancelled, interrupted or rejected run can be retried.` });
    expect((await t.api('POST', '/api/runs/999999/retry')).body.error.code).toBe('RUN_NOT_FOUND');
    expect((await t.api('POST', '/api/runs/abc/retry')).status).toBe(404);
  });

  it('retries a failed, a cancelled and an interrupted run: a new run of the same bot with the same input, linked to the old one', async () => {
    expect((await t.api('GET', `/api/runs/${r.interrupted.id}`)).body.status).toBe('interrupted');
    for (const [old, bot, input] of [['fails', a, 'one'], ['c1', b, 'two'], ['interrupted', b, 'four']] as const) {
      const res = await t.api('POST', `/api/runs/${r[old].id}/retry`);
      expect(res.status).toBe(202);
      expect(res.headers.get('location')).toBe(`/api/runs/${res.body.id}`);
      expect(res.body).toMatchObject({ bot_id: bot.id, input, retry_of: r[old].id, trigger: 'manual', status: 'queued' });
      expect(res.body.id).toBeGreaterThan(r.completed.id);
      r[`retry-${old}`] = res.body;
      const done = await t.waitForRun(res.body.id);
      expect(done).toMatchObject({ status: 'completed', output: `Prompt: ${bot.prompt}\nInput: ${input}`, retry_of: r[old].id });
    }
    // The old run is unchanged.
    expect((await t.api('GET', `/api/runs/${r.fails.id}`)).body).toMatchObject({ status: 'failed', retry_of: null });
  });

  it('lists every run of every bot, newest first, with its bot', async () => {
    const all = await list();
    const order = ['retry-interrupted', 'retry-c1', 'retry-fails', 'completed', 'interrupted', 'c2', 'c1', 'fails'];
    expect(all.runs.map((x) => x.id)).toEqual(order.map((n) => r[n].id));
    expect(all.next_cursor).toBeNull();
    expect(all.runs.find((x) => x.id === r.c1.id)).toMatchObject({ bot_id: b.id, bot_name: 'Beta', bot_emoji: '🅱️', status: 'cancelled', input: 'two' });
    expect(all.runs.find((x) => x.id === r.fails.id)).toMatchObject({ bot_name: 'Alpha', status: 'failed', error: expect.stringMatching(/timed out/) });
  });

  it('filters by bot, status, origin and time', async () => {
    expect(await ids(`?bot=${b.id}`)).toEqual([r['retry-interrupted'].id, r['retry-c1'].id, r.interrupted.id, r.c1.id]);
    // A bot that is not there (or is another user's) is 404, as on /api/triggers?bot=.
    expect((await t.api('GET', '/api/runs?bot=999999')).body.error.code).toBe('BOT_NOT_FOUND');
    expect(await ids('?status=failed')).toEqual([r.fails.id]);
    expect(await ids('?status=cancelled,interrupted')).toEqual([r.interrupted.id, r.c2.id, r.c1.id]);
    expect(await ids('?status=cancelled&status=interrupted')).toEqual([r.interrupted.id, r.c2.id, r.c1.id]);
    expect(await ids(`?status=completed&bot=${a.id}`)).toEqual([r['retry-fails'].id, r.completed.id]);
    // Phase 2 began seconds after phase 1 ended: its first run splits the history in two.
    expect(await ids(`?since=${encodeURIComponent(r.completed.created_at)}`)).toEqual(['retry-interrupted', 'retry-c1', 'retry-fails', 'completed'].map((n) => r[n].id));
    expect(await ids(`?until=${encodeURIComponent(r.interrupted.created_at)}`)).toEqual(['interrupted', 'c2', 'c1', 'fails'].map((n) => r[n].id));
    expect(await ids(`?since=${encodeURIComponent(r.completed.created_at)}&until=${encodeURIComponent(r.completed.created_at)}`)).toEqual([r.completed.id]);
    expect(await ids('?since=2099-01-01T00:00:00Z')).toEqual([]);

    // Origin: exact, or a kind for all of that kind.
    expect((await ids('?trigger=manual')).length).toBe(8);
    const pipeline = (await t.api('POST', '/api/pipelines', { name: 'Line', steps: [a.id] })).body;
    const prun = (await t.api('POST', `/api/pipelines/${pipeline.id}/run`, { input: 'p' })).body;
    const stepRun = prun.steps[0].run_id;
    await t.waitForRun(stepRun);
    expect(await ids('?trigger=pipeline')).toEqual([stepRun]);
    expect(await ids(`?trigger=${encodeURIComponent(`pipeline:${pipeline.id}`)}`)).toEqual([stepRun]);
    expect(await ids('?trigger=pipe')).toEqual([]);
    expect(await ids('?trigger=pipeline:999')).toEqual([]);
    expect(await ids('?trigger=schedule')).toEqual([]);
  });

  it('pages with an opaque cursor: no run twice, none skipped, even when new runs arrive between pages', async () => {
    const everything = await ids('?limit=200');
    const seen: number[] = [];
    let page = await list('?limit=3');
    expect(page.runs).toHaveLength(3);
    seen.push(...page.runs.map((x) => x.id));
    // A new run arrives: it is newer than page 1 and does not push an old run onto page 2 again.
    const fresh = (await t.api('POST', `/api/bots/${a.id}/run`, { input: 'late' })).body;
    await t.waitForRun(fresh.id);
    while (page.next_cursor) {
      expect(page.next_cursor).not.toMatch(/^\d+$/);
      page = await list(`?limit=3&cursor=${encodeURIComponent(page.next_cursor)}`);
      seen.push(...page.runs.map((x) => x.id));
    }
    expect(seen).toEqual(everything);
    expect((await ids('?limit=1'))[0]).toBe(fresh.id);
    // Filters and cursor together.
    const firstB = await list(`?bot=${b.id}&limit=1`);
    expect((await list(`?bot=${b.id}&limit=3&cursor=${firstB.next_cursor}`)).runs.map((x) => x.bot_id)).toEqual([b.id, b.id, b.id]);
  });

  it('answers bad filters with 400 VALIDATION_FAILED', async () => {
    for (const q of ['?cursor=nope', '?cursor=MTIz', '?status=sleeping', '?status=', '?bot=abc', '?bot=-1', '?bot=1.5', '?since=yesterday', '?until=2026-13-01T00:00:00Z', '?limit=201', '?limit=0.5', '?trigger=']) {
      const res = await t.api('GET', `/api/runs${q}`);
      expect({ q, status: res.status }).toEqual({ q, status: 400 });
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
    for (const body of [{}, { ids: 'all' }, { ids: [] }, { ids: [0] }, { ids: Array.from({ length: 101 }, (_, i) => i + 1) }, [1, 2]]) {
      const res = await t.api('POST', '/api/runs/cancel', body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
    }
  });
});
