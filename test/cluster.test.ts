import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from './helpers/cluster.ts';
import { startPostgres, type TestPostgres } from './helpers/postgres.ts';
import { descendants, json, running, type ServerProcess } from './helpers/server.ts';
import { openSse } from './helpers/sse-client.ts';
import { startFakeTelegram } from './fakes/telegram.ts';

/** Polls `check` every 100 ms until it returns a value that is not undefined/false, or `ms` pass. */
async function until<T>(what: string, ms: number, check: () => Promise<T | undefined | false> | T | undefined | false): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

async function createBot(p: ServerProcess, body: Record<string, unknown>): Promise<{ id: number }> {
  const r = await json(`${p.url}/api/bots`, { method: 'POST', body: JSON.stringify({ prompt: 'Say hi.', model: 'echo', ...body }) });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

async function startRun(p: ServerProcess, botId: number): Promise<{ id: number }> {
  const r = await json(`${p.url}/api/bots/${botId}/run`, { method: 'POST', body: '{}' });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  return r.body;
}

/**
 * Waits until run `runId` is running; resolves with the process that runs it (its `worker_id` is
 * `<host>:<pid>:<random>`) and another live process of the cluster.
 */
async function runningOn(c: TestCluster, runId: number): Promise<{ runner: ServerProcess; other: ServerProcess }> {
  const workerId = await until('the run to start', 10_000, async () => {
    const { rows } = await c.sql.query<{ worker_id: string | null; status: string }>(`select worker_id, status from runs where id = $1`, [runId]);
    return rows[0]?.status === 'running' ? (rows[0].worker_id ?? undefined) : undefined;
  });
  const pid = Number(workerId.split(':')[1]);
  const runner = c.procs.find((x) => x.proc.pid === pid);
  if (!runner) throw new Error(`no process with pid ${pid}`);
  return { runner, other: c.procs.find((p) => p !== runner && p.proc.exitCode === null)! };
}

// Several app processes on one Postgres (issue 11): real processes started as `npm start`, a real
// PostgreSQL server, the shared data folder.
describe('a cluster of processes on one Postgres', () => {
  let server: TestPostgres;
  let cluster: TestCluster | null = null;
  beforeAll(async () => {
    server = await startPostgres();
  }, 60_000);
  afterEach(async () => {
    await cluster?.stop();
    cluster = null;
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('opens a new database with three processes at once, and answers a name taken by two processes at once with one 201 and one 409', async () => {
    // startCluster starts the three in parallel on an empty database: migrations and the first admin once.
    cluster = await startCluster(server, 3);
    const c = cluster;
    const { rows } = await c.sql.query<{ n: number }>(`select count(*)::int as n from users`);
    expect(rows[0]!.n).toBe(1);
    for (let i = 0; i < 5; i++) {
      const body = JSON.stringify({ name: `Twin ${i}`, prompt: 'p', model: 'echo' });
      const answers = await Promise.all(c.procs.slice(0, 2).map((p) => json(`${p.url}/api/bots`, { method: 'POST', body })));
      expect(answers.map((a) => a.status).sort()).toEqual([201, 409]);
      expect(answers.find((a) => a.status === 409)!.body.error.code).toBe('BOT_NAME_TAKEN');
    }
  }, 60_000);

  it('fires every second of a `* * * * * *` schedule exactly once while a process is killed and another started', async () => {
    cluster = await startCluster(server, 3, { ECHO_DELAY_MS: '0' });
    const c = cluster;
    const bot = await createBot(c.procs[0]!, { name: 'Ticker', schedule: '* * * * * *' });
    const t0 = Date.now();
    // At 20 s: kill -9 a process while it has no running run (a run it held would make the next occurrences skip until taken over).
    await sleep(20_000 - (Date.now() - t0));
    const victim = c.procs[1]!;
    await until('a moment the victim runs nothing', 5_000, async () => {
      const { rows } = await c.sql.query<{ n: number }>(`select count(*)::int as n from runs where status = 'running' and worker_id like $1`, [`%:${victim.proc.pid}:%`]);
      return rows[0]!.n === 0;
    });
    victim.proc.kill('SIGKILL');
    await sleep(40_000 - (Date.now() - t0));
    const restartedAt = Date.now();
    await c.add({ ECHO_DELAY_MS: '0' });
    await sleep(Math.max(0, 60_000 - (Date.now() - t0)));
    const r = await json(`${c.procs[0]!.url}/api/bots/${bot.id}`, { method: 'PUT', body: JSON.stringify({ paused: true }) });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await until('every scheduled run to end', 10_000, async () => {
      const { rows } = await c.sql.query<{ n: number }>(`select count(*)::int as n from runs where status in ('queued', 'running')`);
      return rows[0]!.n === 0;
    });

    const { rows } = await c.sql.query<{ occurrence: number; created_at: number; status: string; worker_id: string }>(
      `select occurrence::float8 as occurrence, created_at::float8 as created_at, status, worker_id from runs where bot_id = $1 and trigger = 'schedule' order by occurrence`,
      [bot.id],
    );
    const seconds = rows.map((x) => x.occurrence);
    // One run per second from the first to the last: none missing, none twice (the unique key on bot and occurrence).
    expect(new Set(seconds).size).toBe(seconds.length);
    for (let i = 1; i < seconds.length; i++) expect(seconds[i]! - seconds[i - 1]!, `gap after ${new Date(seconds[i - 1]!).toISOString()}`).toBe(1000);
    expect(seconds.length).toBeGreaterThanOrEqual(55);
    expect(rows.every((x) => x.status === 'completed')).toBe(true);
    // Nothing replayed: every run was created in the second of its occurrence (the restarted process did not catch up old ones).
    for (const x of rows) expect(x.created_at - x.occurrence).toBeLessThan(1000);
    expect(rows.filter((x) => x.created_at >= restartedAt).every((x) => x.occurrence >= restartedAt - 1000)).toBe(true);
    // The work spread over the processes, the restarted one included.
    expect(new Set(rows.map((x) => x.worker_id.split(':')[1])).size).toBeGreaterThanOrEqual(3);
    const { rows: skipped } = await c.sql.query(`select message from events where kind in ('schedule.skipped', 'schedule.missed', 'schedule.error')`);
    expect(skipped).toEqual([]);
  }, 120_000);

  it('spreads 300 runs started through one process over all three, and completes them all', async () => {
    cluster = await startCluster(server, 3, { ECHO_DELAY_MS: '0', MAX_CONCURRENT_RUNS: '4' });
    const c = cluster;
    const [a] = c.procs;
    const bots = await Promise.all(Array.from({ length: 10 }, (_, i) => createBot(a!, { name: `Worker ${i}` })));
    const ids: number[] = [];
    for (let i = 0; i < 300; i++) ids.push((await startRun(a!, bots[i % bots.length]!.id)).id);
    await until('300 runs to end', 90_000, async () => {
      const { rows } = await c.sql.query<{ n: number }>(`select count(*)::int as n from runs where status in ('queued', 'running')`);
      return rows[0]!.n === 0;
    });
    const { rows } = await c.sql.query<{ status: string; n: number }>(`select status, count(*)::int as n from runs group by status`);
    expect(rows).toEqual([{ status: 'completed', n: 300 }]);
    const { rows: by } = await c.sql.query<{ w: string; n: number }>(`select worker_id as w, count(*)::int as n from runs group by worker_id`);
    expect(by.length).toBe(3);
    for (const w of by) expect(w.n).toBeGreaterThan(10);
  }, 150_000);

  it('streams the log of a run on another process over SSE, every line once and in order across a reconnect', async () => {
    cluster = await startCluster(server, 2, { ECHO_DELAY_MS: '400' });
    const c = cluster;
    const bot = await createBot(c.procs[0]!, { name: 'Talker' });
    const run = await startRun(c.procs[0]!, bot.id);
    const { other: follower } = await runningOn(c, run.id);
    const url = `${follower.url}/api/runs/${run.id}/events`;
    const first = await openSse(url);
    const early = await first.waitFor((e) => e.event === 'log' && JSON.parse(e.data).text.startsWith('echo: reading the prompt'), { timeoutMs: 10_000 });
    first.close();
    const second = await openSse(url, { 'last-event-id': early.id! });
    await second.waitFor((e) => e.event === 'end', { timeoutMs: 15_000 });
    const { rows } = await c.sql.query<{ seq: number }>(`select seq::int as seq from run_logs where run_id = $1 order by seq`, [run.id]);
    // The first stream's lines up to the one it reconnected after, then the second stream's: each line once, in order.
    const logIds = (events: typeof first.events) => events.filter((e) => e.event === 'log').map((e) => Number(e.id));
    const firstPart = logIds(first.events);
    const upTo = firstPart.indexOf(Number(early.id));
    expect(upTo).toBeGreaterThanOrEqual(0);
    const stitched = [...firstPart.slice(0, upTo + 1), ...logIds(second.events)];
    expect(stitched).toEqual(rows.map((r) => r.seq));
    expect(stitched.length).toBeGreaterThanOrEqual(5);
    second.close();
  }, 60_000);

  it('cancels through one process a run that another runs: cancelled, and its child gone within 2 s', async () => {
    cluster = await startCluster(server, 2, { ECHO_DELAY_MS: '20000' });
    const c = cluster;
    const bot = await createBot(c.procs[0]!, { name: 'Sleeper' });
    const run = await startRun(c.procs[0]!, bot.id);
    const { runner: b, other: a } = await runningOn(c, run.id);
    // The run processes of B: forked in the bot's folder under the shared data folder.
    const runProcesses = () =>
      descendants(b.proc.pid!).filter((pid) => {
        try {
          return fs.readlinkSync(`/proc/${pid}/cwd`).startsWith(c.dataDir);
        } catch {
          return false;
        }
      });
    const children = await until('the run child on B', 5_000, () => {
      const d = runProcesses();
      return d.length > 0 ? d : undefined;
    });
    const t = Date.now();
    const r = await json(`${a.url}/api/runs/${run.id}/cancel`, { method: 'POST', body: '{}' });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.status).toBe('cancelled');
    await until('the child to be gone', 2_000 - (Date.now() - t), () => children.every((pid) => !running(pid)));
    expect(Date.now() - t).toBeLessThan(2_000);
  }, 60_000);

  it('takes over the running runs of a process killed with kill -9 within the lease', async () => {
    cluster = await startCluster(server, 2, { ECHO_DELAY_MS: '20000' });
    const c = cluster;
    const bot = await createBot(c.procs[0]!, { name: 'Doomed' });
    const run = await startRun(c.procs[0]!, bot.id);
    const { runner: b, other: a } = await runningOn(c, run.id);
    const killedAt = Date.now();
    b.proc.kill('SIGKILL');
    // Lease 3 s, renewed and checked every 0.5 s: taken over within 3.5 s (2.5 s more for a loaded machine's timers).
    const status = await until('the run to be taken over', 10_000, async () => {
      const r = await json(`${a.url}/api/runs/${run.id}`);
      return r.body.status === 'interrupted' ? r.body.status : undefined;
    });
    expect(status).toBe('interrupted');
    expect(Date.now() - killedAt).toBeLessThan(6_000);
  }, 60_000);

  it('polls Telegram from exactly one process, and from another within 10 s of the leader being killed', async () => {
    const tg = await startFakeTelegram();
    try {
      cluster = await startCluster(server, 3, { TELEGRAM_BOT_TOKEN: tg.token, TELEGRAM_API_ROOT: tg.apiRoot, TELEGRAM_ALLOWED_USERS: '42' });
      const c = cluster;
      const conflicts = () => tg.calls.filter((x) => x.method === 'getUpdates' && x.error?.error_code === 409);
      const leaders = async () => {
        const out: ServerProcess[] = [];
        for (const p of c.procs.filter((x) => x.proc.exitCode === null && x.proc.signalCode === null)) {
          const h = await json(`${p.url}/health`);
          if (h.body.cluster?.chat_leader) out.push(p);
        }
        return out;
      };
      await until('a getUpdates poller', 10_000, () => tg.calls.some((x) => x.method === 'getUpdates'));
      const [leader, ...others] = await until('one leader', 10_000, async () => {
        const l = await leaders();
        return l.length === 1 ? l : undefined;
      });
      expect(others).toEqual([]);
      // Several seconds of polling: never two pollers (Telegram would end one with 409 Conflict).
      await sleep(5_000);
      expect(conflicts()).toEqual([]);
      expect(await leaders()).toEqual([leader]);
      // The leader answers a command once.
      tg.pushMessage({ chatId: 42, fromId: 42, text: '/help' });
      await tg.waitForCall('sendMessage', (m) => m.chat_id === 42, 10_000);

      const killedAt = Date.now();
      const before = tg.calls.length;
      leader!.proc.kill('SIGKILL');
      await until('another process to poll', 10_000, () => tg.calls.slice(before).some((x) => x.method === 'getUpdates'));
      expect(Date.now() - killedAt).toBeLessThan(10_000);
      const next = await until('a new leader', 10_000, async () => {
        const l = await leaders();
        return l.length === 1 ? l : undefined;
      });
      expect(next[0]).not.toBe(leader);
      await sleep(3_000);
      expect(conflicts()).toEqual([]);
      const sent = tg.calls.filter((x) => x.method === 'sendMessage').length;
      tg.pushMessage({ chatId: 42, fromId: 42, text: '/help' });
      await tg.waitForCall('sendMessage', (m, call) => m.chat_id === 42 && call.seq > before, 10_000);
      await sleep(1_000);
      expect(tg.calls.filter((x) => x.method === 'sendMessage').length).toBe(sent + 1);
    } finally {
      await cluster?.stop();
      cluster = null;
      await tg.close();
    }
  }, 90_000);
});
