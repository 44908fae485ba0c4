import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type TestPostgres } from './helpers/postgres.ts';

const CHILD = fileURLToPath(new URL('./helpers/leader-child.ts', import.meta.url));

interface Competitor {
  proc: ChildProcess;
  lines: string[];
}

function compete(url: string, name: string): Competitor {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, url, name], { stdio: ['ignore', 'pipe', 'inherit'] });
  const c: Competitor = { proc, lines: [] };
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => c.lines.push(...d.split('\n').filter(Boolean)));
  return c;
}

/** `true` while the competitor's last word is `elected`. */
const leads = (c: Competitor) => c.lines.filter((l) => l !== 'ready').at(-1) === 'elected';

// Leader election for what must run on exactly one process (the Telegram poller, the Discord
// gateway): real processes competing on a real Postgres.
describe('leader election over a Postgres advisory lock', () => {
  let pgServer: TestPostgres;
  let admin: pg.Client;
  const procs: Competitor[] = [];
  beforeAll(async () => {
    pgServer = await startPostgres();
    admin = new pg.Client({ connectionString: pgServer.url });
    await admin.connect();
  }, 120_000);
  afterAll(async () => {
    for (const c of procs) c.proc.kill('SIGKILL');
    await admin?.end();
    await pgServer?.stop();
  });

  /** Sessions holding an advisory lock, as Postgres itself sees them. */
  const holders = async () => (await admin.query(`SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted`)).rows.length;

  it('three processes: exactly one leads; kill -9 the leader and another leads within 10 s; a broken connection deposes', async () => {
    for (let i = 0; i < 3; i++) procs.push(compete(pgServer.url, 'telegram-poller'));
    await expect.poll(() => procs.every((c) => c.lines.includes('ready')), { timeout: 30_000 }).toBe(true);
    await expect.poll(() => procs.filter(leads).length, { timeout: 10_000 }).toBe(1);
    expect(await holders()).toBe(1);

    const first = procs.find(leads)!;
    first.proc.kill('SIGKILL');
    const rest = procs.filter((c) => c !== first);
    await expect.poll(() => rest.filter(leads).length, { timeout: 10_000, interval: 100 }).toBe(1);
    expect(await holders()).toBe(1);

    // The leader's connection is cut (a network fault, a Postgres restart): it is deposed at
    // once, and one process (maybe the same, on a new connection) leads again.
    const second = rest.find(leads)!;
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'oo-leader:telegram-poller' AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)`);
    await expect.poll(() => second.lines.includes('deposed'), { timeout: 10_000 }).toBe(true);
    await expect.poll(() => rest.filter(leads).length, { timeout: 10_000, interval: 100 }).toBe(1);
    expect(await holders()).toBe(1);
  }, 90_000);
});
