/**
 * Benchmark: runs/s of one to three app processes on one Postgres, beside SQLite's single process
 * (issue "Scale out"). Each setup gets 300 trivial runs (echo, ECHO_DELAY_MS=0) over 5 bots,
 * all started through the first process (10 requests in flight), and the clock stops when none is
 * queued or running. Prints numbers and how the runs spread over the processes; no pass/fail.
 *
 * The processes are `node --import tsx src/main.ts`, as `npm start` runs them; Postgres is the
 * tests' throwaway server (Debian's PostgreSQL binaries, test/helpers/postgres.ts).
 * Run: npm run bench:cluster
 */
import os from 'node:os';
import { startCluster } from '../test/helpers/cluster.ts';
import { tempDataDir } from '../test/helpers/app.ts';
import { startPostgres } from '../test/helpers/postgres.ts';
import { json, startServer, type ServerProcess } from '../test/helpers/server.ts';

const RUNS = 300;
// Within MAX_RUN_PROCESSES (8): each bot keeps its warm run process on every process of the cluster.
const BOTS = 5;
const IN_FLIGHT = 10;
const ENV = { ECHO_DELAY_MS: '0' };

async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 20));
}

/** Starts the 300 runs through `via`; resolves with the seconds until `idle()` says all ended. */
async function drive(via: ServerProcess, idle: () => Promise<boolean>): Promise<number> {
  const bots: number[] = [];
  for (let i = 0; i < BOTS; i++) {
    const r = await json(`${via.url}/api/bots`, { method: 'POST', body: JSON.stringify({ name: `Bench ${i}`, prompt: 'Say hi.', model: 'echo' }) });
    bots.push(r.body.id);
  }
  // A warm-up run per bot (its run process starts), not counted.
  for (const id of bots) await json(`${via.url}/api/bots/${id}/run`, { method: 'POST', body: '{}' });
  await until(idle);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < RUNS) {
        const i = next++;
        const r = await json(`${via.url}/api/bots/${bots[i % BOTS]}/run`, { method: 'POST', body: '{}' });
        if (r.status !== 202) throw new Error(`run ${i}: ${r.status} ${JSON.stringify(r.body)}`);
      }
    }),
  );
  await until(idle);
  return (performance.now() - t0) / 1000;
}

const rows: string[] = [];
console.log(`openOrchestrator cluster bench: ${RUNS} echo runs over ${BOTS} bots, started through process 1; ${os.cpus().length} CPU cores`);

{
  const p = await startServer({ ...ENV, DATA_DIR: tempDataDir() });
  const idle = async () => {
    const h = await json(`${p.url}/health`);
    return h.body.checks.queue.queued === 0 && h.body.checks.queue.running === 0;
  };
  const s = await drive(p, idle);
  rows.push(`SQLite, 1 process:      ${(RUNS / s).toFixed(1)} runs/s (${s.toFixed(2)} s)`);
  p.proc.kill('SIGKILL');
  await p.exited;
}

const server = await startPostgres();
try {
  for (const n of [1, 2, 3]) {
    const c = await startCluster(server, n, ENV);
    try {
      const idle = async () => (await c.sql.query<{ n: number }>(`select count(*)::int as n from runs where status in ('queued', 'running')`)).rows[0]!.n === 0;
      const s = await drive(c.procs[0]!, idle);
      const spread = (await c.sql.query<{ n: number }>(`select count(*)::int as n from runs where worker_id is not null group by worker_id order by 1 desc`)).rows.map((r) => r.n);
      rows.push(`Postgres, ${n} process${n > 1 ? 'es' : ''}: ${(RUNS / s).toFixed(1)} runs/s (${s.toFixed(2)} s; runs per process incl. warm-up: ${spread.join(' / ')})`);
    } finally {
      await c.stop();
    }
  }
} finally {
  await server.stop();
}
for (const r of rows) console.log(r);
process.exit(0);
