/**
 * How much disk a run costs in SQLite: runs N echo runs through the real engine (run processes,
 * log lines, results, activity) in a fresh data dir, then measures each table and index with
 * SQLite's dbstat (https://www.sqlite.org/dbstat.html). Prints bytes per run and per log line.
 *
 *   node --import tsx bench/disk-per-run.ts [runs=200]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadConfig } from '../src/config.ts';
import { Engine } from '../src/engine/engine.ts';

const N = Number(process.argv[2] ?? 200);
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oo-disk-'));
const engine = await Engine.open(loadConfig({ DATA_DIR: dataDir, ECHO_DELAY_MS: '0', MAX_CONCURRENT_RUNS: '4', RUN_RETENTION_DAYS: '0', RUN_LOG_RETENTION_DAYS: '0' }), pino({ level: 'silent' }));
await engine.start();
const db = engine.db.$client;

/** Bytes of every table and index, by name (pages in use times page size, dbstat's `pgsize`). */
const sizes = () => Object.fromEntries((db.prepare('SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name').all() as { name: string; bytes: number }[]).map((r) => [r.name, r.bytes]));

try {
  const bot = await engine.createBot({ name: 'Scout', prompt: 'Find Nike Air Max under 50 euros on eBay and report each offer with its price and link.' });
  const before = sizes();
  const done = new Promise<void>((resolve) => {
    let finished = 0;
    engine.bus.on('run.finished', () => ++finished === N && resolve());
  });
  for (let i = 0; i < N; i++) await engine.startRun(bot.id, { input: `size 43, page ${i}`, trigger: 'manual' });
  await done;
  await new Promise((r) => setTimeout(r, 200)); // the last events' rows
  const after = sizes();
  const grew = (prefix: string) => Object.keys(after).filter((n) => n === prefix || n.startsWith(`${prefix}_`) || n.startsWith(`sqlite_autoindex_${prefix}`)).reduce((a, n) => a + (after[n]! - (before[n] ?? 0)), 0);
  const lines = (db.prepare('SELECT count(*) AS n FROM run_logs').get() as { n: number }).n;
  const logBytes = grew('run_logs');
  const perRun = { runs: grew('runs') / N, results: grew('results') / N, events: grew('events') / N };
  const rowBytes = perRun.runs + perRun.results + perRun.events;
  console.log(`${N} echo runs, ${lines} log lines (${(lines / N).toFixed(1)} per run)`);
  console.log(`per run: ${Math.round(rowBytes)} bytes for its rows (run ${Math.round(perRun.runs)}, result ${Math.round(perRun.results)}, activity ${Math.round(perRun.events)})`);
  console.log(`per log line: ${Math.round(logBytes / lines)} bytes (average text ${Math.round((db.prepare('SELECT avg(length(text)) AS a FROM run_logs').get() as { a: number }).a)} characters)`);
  console.log(`per run in all: ${Math.round(rowBytes + logBytes / N)} bytes`);
} finally {
  await engine.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
}
