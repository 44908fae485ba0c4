/**
 * Retention: with RUN_RETENTION_DAYS=1, runs that ended two days ago are gone after the next prune,
 * runs of pinned results stay, and the server keeps answering while 100,000 rows are pruned.
 */
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { RetentionPruner } from '../src/engine/retention.ts';
import { startTestApp, tempDataDir, type TestApp } from './helpers/app.ts';

const DAY = 86_400_000;

/** Moves a run, its log lines and its activity `days` into the past, as if it ran back then. */
function age(t: TestApp, runId: number, days: number): void {
  const db = t.engine.db.$client;
  const shift = days * DAY;
  db.prepare('UPDATE runs SET created_at = created_at - ?, started_at = started_at - ?, finished_at = finished_at - ? WHERE id = ?').run(shift, shift, shift, runId);
  db.prepare('UPDATE run_logs SET ts = ts - ? WHERE run_id = ?').run(shift, runId);
  db.prepare('UPDATE events SET created_at = created_at - ? WHERE run_id = ?').run(shift, runId);
  db.prepare('UPDATE results SET created_at = created_at - ? WHERE run_id = ?').run(shift, runId);
}

async function echoRun(t: TestApp, botId: number, input: string) {
  const run = (await t.api('POST', `/api/bots/${botId}/run`, { input })).body;
  return t.waitForRun(run.id);
}

describe('retention', () => {
  const apps: TestApp[] = [];
  afterEach(async () => {
    for (const a of apps.splice(0)) await a.close();
  });

  it('prunes runs and log lines two days old, keeps the runs of pinned results and anything recent', async () => {
    const t = await startTestApp({ RUN_RETENTION_DAYS: '1', RUN_LOG_RETENTION_DAYS: '1' });
    apps.push(t);
    const bot = (await t.api('POST', '/api/bots', { name: 'Keeper', prompt: 'echo' })).body;
    const pinnedRun = await echoRun(t, bot.id, 'worth keeping');
    const oldRun = await echoRun(t, bot.id, 'old news');
    const recentRun = await echoRun(t, bot.id, 'fresh');
    const results = (await t.api('GET', `/api/bots/${bot.id}/results`)).body as { id: number; run_id: number }[];
    const pinnedResult = results.find((r) => r.run_id === pinnedRun.id)!;
    expect((await t.api('POST', `/api/results/${pinnedResult.id}/pin`)).status).toBe(200);
    expect((await t.api('GET', `/api/runs/${oldRun.id}/logs`)).body.length).toBeGreaterThan(2);
    age(t, pinnedRun.id, 2);
    age(t, oldRun.id, 2);

    const report = await t.engine.retention.prune();
    expect(report).toMatchObject({ runs: 1, results: 1 });
    expect(report.logLines).toBeGreaterThan(4);
    expect(report.events).toBeGreaterThan(0);

    // The old run is gone with its log, its result and its activity.
    expect((await t.api('GET', `/api/runs/${oldRun.id}`)).status).toBe(404);
    expect(t.engine.db.$client.prepare('SELECT count(*) AS n FROM run_logs WHERE run_id = ?').get(oldRun.id)).toEqual({ n: 0 });
    const events = (await t.api('GET', '/api/events?limit=100')).body as { run_id: number | null }[];
    expect(events.some((e) => e.run_id === oldRun.id)).toBe(false);
    // The pinned result keeps its run (its two-day-old log lines went with the log retention).
    expect((await t.api('GET', `/api/runs/${pinnedRun.id}`)).body).toMatchObject({ id: pinnedRun.id, status: 'completed', output: pinnedRun.output });
    expect((await t.api('GET', `/api/runs/${pinnedRun.id}/logs`)).body).toEqual([]);
    // The recent run is untouched.
    expect((await t.api('GET', `/api/runs/${recentRun.id}`)).status).toBe(200);
    expect((await t.api('GET', `/api/runs/${recentRun.id}/logs`)).body.length).toBeGreaterThan(2);
    const after = (await t.api('GET', `/api/bots/${bot.id}/results`)).body as { id: number; run_id: number; pinned: boolean }[];
    expect(after.map((r) => r.run_id).sort()).toEqual([pinnedRun.id, recentRun.id].sort());
    expect(after.find((r) => r.id === pinnedResult.id)?.pinned).toBe(true);

    // Nothing more to do on the next prune.
    expect(await t.engine.retention.prune()).toMatchObject({ runs: 0, results: 0, logLines: 0, events: 0 });
  });

  it('prunes at start and then on every interval (injected clock)', async () => {
    const dataDir = tempDataDir();
    const first = await startTestApp({ DATA_DIR: dataDir, RUN_RETENTION_DAYS: '0', RUN_LOG_RETENTION_DAYS: '0' });
    const bot = (await first.api('POST', '/api/bots', { name: 'Clocked', prompt: 'echo' })).body;
    const old = await echoRun(first, bot.id, 'from last week');
    const current = await echoRun(first, bot.id, 'from today');
    age(first, old.id, 7);
    await first.close({ keepData: true });

    // The next start prunes at once.
    const t = await startTestApp({ DATA_DIR: dataDir, RUN_RETENTION_DAYS: '3' });
    apps.push(t);
    await expect.poll(async () => (await t.api('GET', `/api/runs/${old.id}`)).status).toBe(404);
    expect((await t.api('GET', `/api/runs/${current.id}`)).status).toBe(200);

    // Later prunes come on the interval: four days on, today's run is old too.
    let now = Date.now();
    const pruner = new RetentionPruner({ db: t.engine.db, log: pino({ level: 'silent' }) }, { runDays: 3, logDays: 3, intervalMs: 20, now: () => now });
    pruner.start();
    try {
      await new Promise((r) => setTimeout(r, 100)); // a few intervals with nothing old enough
      expect((await t.api('GET', `/api/runs/${current.id}`)).status).toBe(200);
      now += 4 * DAY;
      await expect.poll(async () => (await t.api('GET', `/api/runs/${current.id}`)).status).toBe(404);
    } finally {
      await pruner.stop();
    }
  });

  it('keeps answering requests while it prunes 100,000 rows in small batches', async () => {
    const t = await startTestApp({ RUN_RETENTION_DAYS: '1', RUN_LOG_RETENTION_DAYS: '1' });
    apps.push(t);
    const bot = (await t.api('POST', '/api/bots', { name: 'Hoarder', prompt: 'echo' })).body;
    const db = t.engine.db.$client;
    const old = Date.now() - 2 * DAY;
    const RUNS = 2000;
    const LINES = 49; // 2,000 runs + 98,000 log lines
    db.transaction(() => {
      const run = db.prepare("INSERT INTO runs (bot_id, trigger, status, input, output, created_at, started_at, finished_at, duration_ms) VALUES (?, 'manual', 'completed', 'in', 'out', ?, ?, ?, 1000)");
      const line = db.prepare("INSERT INTO run_logs (run_id, seq, ts, stream, text) VALUES (?, ?, ?, 'stdout', ?)");
      for (let i = 0; i < RUNS; i++) {
        const id = Number(run.run(bot.id, old, old, old + 1000).lastInsertRowid);
        for (let s = 1; s <= LINES; s++) line.run(id, s, old + s, `line ${s} of an old run that nobody reads any more`);
      }
    })();

    const pruning = t.engine.retention.prune();
    // A dashboard page and an API call are answered while the prune is still under way.
    const page = await fetch(`${t.url}/`, { headers: { accept: 'text/html' } });
    const batchesWhenAnswered = t.engine.retention.progress?.batches;
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Hoarder');
    expect((await t.api('GET', `/api/bots/${bot.id}`)).status).toBe(200);

    const report = await pruning;
    expect(report).toMatchObject({ runs: RUNS, logLines: RUNS * LINES });
    // Small batches: 500 rows each, so a couple of hundred statements…
    expect(report.batches).toBeGreaterThan((RUNS * LINES) / 500);
    // …and the page was served between two of them, not after the last.
    expect(batchesWhenAnswered).toBeDefined();
    expect(batchesWhenAnswered!).toBeLessThan(report.batches);
    expect(db.prepare('SELECT (SELECT count(*) FROM runs) AS runs, (SELECT count(*) FROM run_logs) AS lines').get()).toEqual({ runs: 0, lines: 0 });
  });
});
