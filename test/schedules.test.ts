import fs from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from './fakes/openai.ts';
import { startTestApp, tempDataDir, type TestApp } from './helpers/app.ts';

// Schedules fire each occurrence once: on time, never for a paused bot, never on top of a run still
// going, never twice across a restart or with two processes on one data dir. Occurrences are
// 6-field cron expressions (seconds first) a second or two apart.

const EVERY_SECOND = '* * * * * *';
const EVERY_2S = '*/2 * * * * *';

const events = async (t: TestApp, botId: number) =>
  ((await t.api('GET', '/api/events?limit=200')).body as any[]).filter((e) => e.bot_id === botId).reverse();
const scheduledRuns = async (t: TestApp, botId: number) =>
  ((await t.api('GET', `/api/bots/${botId}/runs?limit=500`)).body as any[]).filter((r) => r.trigger === 'schedule').reverse();
const kinds = (evs: any[], kind: string) => evs.filter((e) => e.kind === kind);
/** The occurrence second a `schedule.fired` / `schedule.skipped` event names ("HH:MM:SS"). */
const occurrenceOf = (e: any) => /(?:occurrence|at) (\d\d:\d\d:\d\d)/.exec(e.message)?.[1];
/** The occurrence (epoch ms) an event names as HH:MM:SS, in the process's time zone. */
const occurrenceMs = (e: any) => {
  const [h, m, s] = occurrenceOf(e)!.split(':').map(Number);
  const d = new Date(e.created_at);
  d.setHours(h!, m!, s!, 0);
  return d.getTime() > Date.parse(e.created_at) ? d.getTime() - 86_400_000 : d.getTime();
};

describe('schedules', () => {
  let t: TestApp;
  let fake: FakeOpenAI;
  let metronome: number;
  /** Waits until `n` more occurrences of the metronome (a bot scheduled every second) have passed. */
  const ticks = async (n: number) => {
    const seen = async () => (await events(t, metronome)).filter((e) => e.kind === 'schedule.fired' || e.kind === 'schedule.skipped');
    const from = (await seen()).at(-1)?.id ?? 0;
    await expect.poll(async () => (await seen()).filter((e) => e.id > from).length, { timeout: 10_000, interval: 100 }).toBeGreaterThanOrEqual(n);
  };
  beforeAll(async () => {
    fake = await startFakeOpenAI();
    t = await startTestApp({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.baseURL });
    metronome = (await t.api('POST', '/api/bots', { name: 'Metronome', prompt: 'tick', schedule: EVERY_SECOND })).body.id;
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
  });

  it('"every 30m" is stored as cron and next_run_at is the next half hour; a bad schedule is refused', async () => {
    const bot = (await t.api('POST', '/api/bots', { name: 'eBay-Scout', prompt: 'Find Nike Air Max under 50 €', schedule: 'every 30m', paused: true })).body;
    expect(bot.schedule).toBe('*/30 * * * *');
    expect(bot.next_run_at).toBeNull(); // paused

    const resumed = (await t.api('PUT', `/api/bots/${bot.id}`, { paused: false })).body;
    const next = new Date(resumed.next_run_at);
    expect(next.getTime()).toBeGreaterThan(Date.now());
    expect(next.getTime() - Date.now()).toBeLessThanOrEqual(30 * 60_000);
    expect([0, 30]).toContain(next.getMinutes()); // the process's time zone, like the dashboard
    expect(next.getSeconds()).toBe(0);

    const bad = await t.api('PUT', `/api/bots/${bot.id}`, { schedule: 'every 99 minutes' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('VALIDATION_FAILED');
    expect(bad.body.error.message).toContain('is not an even interval: every N minutes takes N from 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30');
    expect((await t.api('PUT', `/api/bots/${bot.id}`, { schedule: 'every 45m' })).body.error.message).toContain('not an even interval');
    expect((await t.api('PUT', `/api/bots/${bot.id}`, { schedule: 'every 7h' })).body.error.message).toContain('every N hours takes N from 1, 2, 3, 4, 6, 8, 12');
    const junk = await t.api('PUT', `/api/bots/${bot.id}`, { schedule: '61 * * * *' });
    expect(junk.body.error.message).toMatch(/not a valid schedule/);

    const off = (await t.api('PUT', `/api/bots/${bot.id}`, { schedule: 'off' })).body;
    expect(off).toMatchObject({ schedule: null, next_run_at: null });
  });

  it('a schedule fires on time, one run per occurrence; removing it stops it at once', async () => {
    const bot = (await t.api('POST', '/api/bots', { name: 'Ticker', prompt: 'tick', schedule: EVERY_2S })).body;
    const next = Date.parse(bot.next_run_at);
    expect(next % 2000).toBe(0);
    expect(next - Date.now()).toBeLessThanOrEqual(2000);

    await expect.poll(async () => (await scheduledRuns(t, bot.id)).length, { timeout: 10_000, interval: 100 }).toBeGreaterThanOrEqual(2);
    const runs = await scheduledRuns(t, bot.id);
    const fired = kinds(await events(t, bot.id), 'schedule.fired');
    for (const r of runs) {
      // On time: an even-second occurrence starts its run then, never early and before the next one.
      const occurrence = occurrenceMs(fired.find((e) => e.run_id === r.id));
      expect(occurrence % 2000).toBe(0);
      expect(Date.parse(r.created_at) - occurrence).toBeGreaterThanOrEqual(0);
      expect(Date.parse(r.created_at) - occurrence).toBeLessThan(2000);
      expect(r.input).toBeNull();
    }
    expect(fired.length).toBeGreaterThanOrEqual(runs.length);
    expect(new Set(fired.map(occurrenceOf)).size).toBe(fired.length);
    expect(fired[0].message).toMatch(/^⏰ 🤖 Ticker: scheduled run #\d+ started \(occurrence \d\d:\d\d:\d\d\)$/);

    // Remove the schedule: the metronome shows time passing, the ticker stays still.
    const off = (await t.api('PUT', `/api/bots/${bot.id}`, { schedule: null })).body;
    expect(off.next_run_at).toBeNull();
    const count = (await scheduledRuns(t, bot.id)).length;
    await ticks(2);
    expect((await scheduledRuns(t, bot.id)).length).toBe(count);
  });

  it('a paused bot stays quiet, and fires again once resumed', async () => {
    const sleeper = (await t.api('POST', '/api/bots', { name: 'Sleeper', prompt: 'zz', schedule: EVERY_SECOND, paused: true })).body;
    expect(sleeper.next_run_at).toBeNull();
    await ticks(2);
    expect(await scheduledRuns(t, sleeper.id)).toHaveLength(0);
    expect(kinds(await events(t, sleeper.id), 'schedule.fired')).toHaveLength(0);

    const resumed = (await t.api('PUT', `/api/bots/${sleeper.id}`, { paused: false })).body;
    expect(Date.parse(resumed.next_run_at) - Date.now()).toBeLessThanOrEqual(1000);
    await expect.poll(async () => (await scheduledRuns(t, sleeper.id)).length, { timeout: 10_000, interval: 100 }).toBeGreaterThanOrEqual(1);

    // Pausing a firing schedule stops it at once too.
    await t.api('PUT', `/api/bots/${sleeper.id}`, { paused: true });
    const count = (await scheduledRuns(t, sleeper.id)).length;
    await ticks(2);
    expect((await scheduledRuns(t, sleeper.id)).length).toBe(count);
  });

  it('a slow run is never overlapped: occurrences meanwhile are skipped with an event, not queued', async () => {
    fake.enqueue({ kind: 'hang' });
    const slow = (await t.api('POST', '/api/bots', { name: 'Slowpoke', prompt: 'take your time', model: 'openai:gpt-4.1-mini', schedule: EVERY_SECOND })).body;
    await expect.poll(async () => (await scheduledRuns(t, slow.id))[0]?.status, { timeout: 10_000, interval: 100 }).toBe('running');
    await expect.poll(async () => kinds(await events(t, slow.id), 'schedule.skipped').length, { timeout: 10_000, interval: 100 }).toBeGreaterThanOrEqual(2);

    const runs = await scheduledRuns(t, slow.id);
    expect(runs).toHaveLength(1);
    expect(runs[0].status).toBe('running');
    const skipped = kinds(await events(t, slow.id), 'schedule.skipped');
    expect(skipped[0]).toMatchObject({ level: 'warn' });
    expect(skipped[0].message).toBe(`⏭ 🤖 Slowpoke: scheduled run at ${occurrenceOf(skipped[0])} skipped — run #${runs[0].id} is still running`);

    // Once the slow run ends, the next occurrence starts a run again.
    await t.api('POST', `/api/runs/${runs[0].id}/cancel`);
    await expect.poll(async () => (await scheduledRuns(t, slow.id)).length, { timeout: 10_000, interval: 100 }).toBeGreaterThanOrEqual(2);
    await t.api('PUT', `/api/bots/${slow.id}`, { schedule: null });
    const all = await scheduledRuns(t, slow.id);
    // Never two at once: each run started after the one before had ended.
    for (let i = 1; i < all.length; i++) {
      const prev = await t.waitForRun(all[i - 1].id);
      expect(Date.parse(all[i].created_at)).toBeGreaterThanOrEqual(Date.parse(prev.finished_at));
    }
  });
});

describe('schedules across restarts', () => {
  const apps: TestApp[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close({ keepData: true }).catch(() => {})));
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });
  const dataDir = () => {
    const d = tempDataDir();
    dirs.push(d);
    return d;
  };
  const start = async (dir: string) => {
    const a = await startTestApp({ DATA_DIR: dir });
    apps.push(a);
    return a;
  };
  const stop = async (a: TestApp) => {
    apps.splice(apps.indexOf(a), 1);
    await a.close({ keepData: true });
  };

  /** What the activity feed says happened to each occurrence of a bot's schedule. */
  const ledger = async (t: TestApp, botId: number) => {
    const evs = await events(t, botId);
    const fired = kinds(evs, 'schedule.fired').map(occurrenceMs);
    const skipped = kinds(evs, 'schedule.skipped').map(occurrenceMs);
    const missedEvents = kinds(evs, 'schedule.missed');
    const missed = missedEvents.reduce((n, e) => n + Number(/: (\d+) scheduled runs? w/.exec(e.message)?.[1] ?? 1), 0);
    return { fired, skipped, missed, missedEvents, runs: await scheduledRuns(t, botId) };
  };

  it('a restart within the occurrence that just fired does not fire it again (it is claimed in the database)', async () => {
    const dir = dataDir();
    let app = await start(dir);
    const bot = (await app.api('POST', '/api/bots', { name: 'Restarter', prompt: 'once', schedule: EVERY_SECOND })).body;
    // Restart right after an occurrence fired, until one restart is done within that same second:
    // the new process tries its current second when it starts, and the claim must refuse it.
    let sameSecond = 0;
    for (let attempt = 0; attempt < 8 && sameSecond === 0; attempt++) {
      const seen = (await scheduledRuns(app, bot.id)).length;
      await expect.poll(async () => (await scheduledRuns(app, bot.id)).length, { timeout: 10_000, interval: 10 }).toBeGreaterThan(seen);
      const firedIn = Math.floor(Date.parse((await scheduledRuns(app, bot.id)).at(-1).created_at) / 1000);
      await stop(app);
      app = await start(dir);
      if (Math.floor(Date.now() / 1000) === firedIn) sameSecond++;
    }
    expect(sameSecond).toBe(1);
    await expect.poll(async () => (await scheduledRuns(app, bot.id)).length, { timeout: 10_000, interval: 100 }).toBeGreaterThanOrEqual(3);
    await app.api('PUT', `/api/bots/${bot.id}`, { schedule: null });

    const l = await ledger(app, bot.id);
    expect(new Set(l.fired).size).toBe(l.fired.length); // no occurrence fired twice
    expect(l.runs).toHaveLength(l.fired.length); // one run per fired occurrence
    const all = [...l.fired, ...l.skipped];
    const span = (Math.max(...all) - Math.min(...all)) / 1000 + 1;
    expect(l.fired.length + l.skipped.length + l.missed).toBe(span); // every second accounted for once
  });

  it('two processes on one data dir still start one run per occurrence', async () => {
    const dir = dataDir();
    const a = await start(dir);
    const bot = (await a.api('POST', '/api/bots', { name: 'Twice', prompt: 'once', schedule: EVERY_SECOND })).body;
    await expect.poll(async () => (await scheduledRuns(a, bot.id)).length, { timeout: 10_000, interval: 50 }).toBeGreaterThanOrEqual(1);
    const b = await start(dir); // both now hold a task for the bot and fire every second
    const from = (await ledger(b, bot.id)).fired.length;
    await expect.poll(async () => (await ledger(b, bot.id)).fired.length, { timeout: 10_000, interval: 100 }).toBeGreaterThanOrEqual(from + 2);
    await a.api('PUT', `/api/bots/${bot.id}`, { schedule: null }); // b re-reads the row on each occurrence

    const l = await ledger(b, bot.id);
    expect(new Set(l.fired).size).toBe(l.fired.length);
    expect(l.runs).toHaveLength(l.fired.length);
  });

  it('occurrences missed while the process was down are not replayed; one event says how many', async () => {
    const dir = dataDir();
    const first = await start(dir);
    const bot = (await first.api('POST', '/api/bots', { name: 'Napper', prompt: 'nap', schedule: EVERY_2S })).body;
    await expect.poll(async () => (await scheduledRuns(first, bot.id)).length, { timeout: 10_000, interval: 50 }).toBeGreaterThanOrEqual(1);
    await stop(first);
    // Stay down for longer than one period, so at least one occurrence passes unseen.
    await new Promise((r) => setTimeout(r, 3000));
    const t0 = Date.now();
    const second = await start(dir);
    const t1 = Date.now();
    await second.api('PUT', `/api/bots/${bot.id}`, { schedule: null });

    const l = await ledger(second, bot.id);
    expect(l.missedEvents.map((e: any) => e.message)).toHaveLength(1);
    const n = Number(/: (\d+) scheduled runs? (?:was|were) missed while the process was down \(not replayed\)$/.exec(l.missedEvents[0].message)?.[1]);
    const lastBefore = Math.max(...[...l.fired, ...l.skipped].filter((o) => o < t0 - 1000));
    // Occurrences (even seconds) strictly between the last one handled and the second the new process started in.
    const evenSecondsBetween = (from: number, to: number) => Math.ceil(to / 2000) - Math.floor(from / 2000) - 1;
    const lo = evenSecondsBetween(lastBefore, Math.floor(t0 / 1000) * 1000);
    const hi = evenSecondsBetween(lastBefore, Math.floor(t1 / 1000) * 1000);
    expect(n).toBeGreaterThanOrEqual(1);
    expect(n).toBeGreaterThanOrEqual(lo);
    expect(n).toBeLessThanOrEqual(hi);
    expect(l.missedEvents[0]).toMatchObject({ level: 'warn' });
    // Not replayed: no run for any occurrence while down.
    expect(l.fired.filter((o) => o > lastBefore && o < Math.floor(t0 / 1000) * 1000)).toEqual([]);
    expect(l.runs).toHaveLength(l.fired.length);
  });
});
