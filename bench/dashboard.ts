/**
 * Benchmark: the dashboard at fleet size.
 *
 * Seeds BOTS bots, RUNS runs and RESULTS results (defaults 1,000 / 100,000 / 1,000,000) straight
 * into SQLite (one transaction, prepared statements), starts the app as `npm start` does, and
 * prints:
 *  - server time (p50, p95; fastify's `reply.elapsedTime`, from request to response sent) and
 *    bytes of `GET /` and of a bot page, over ROUNDS sequential requests each;
 *  - for one card update (a bot's description changes) with DASHBOARDS real SSE clients on
 *    `GET /stream`: how many parts were rendered, the server time of rendering and writing it to
 *    every client, bytes per client and in all, and how long until the last client had it.
 *
 * Run: npm run bench:dashboard   (prints numbers; no pass/fail)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type net from 'node:net';
import pino from 'pino';
import { loadConfig } from '../src/config.ts';
import { Engine } from '../src/engine/engine.ts';
import { buildApp } from '../src/web/app.ts';
import { openSse } from '../test/helpers/sse-client.ts';

const BOTS = Number(process.env.BOTS ?? 1000);
const RUNS = Number(process.env.RUNS ?? 100_000);
const RESULTS = Number(process.env.RESULTS ?? 1_000_000);
const ROUNDS = Number(process.env.ROUNDS ?? 200);
const DASHBOARDS = Number(process.env.DASHBOARDS ?? 100);

// BENCH_DATA_DIR keeps the seeded data between runs (it is seeded when empty, and not removed).
const keep = process.env.BENCH_DATA_DIR;
const dataDir = keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'oo-bench-dash-'));
const seeded = keep !== undefined && fs.existsSync(path.join(keep, 'bots'));
const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
const logger = pino({ level: 'silent' });
const engine = await Engine.open(config, logger);

// ── Seed ────────────────────────────────────────────────────────────────────────────────────────
const sqlite = engine.db.$client;
const t0 = performance.now();
const now = Date.now();
const emojis = ['🛒', '👗', '💻', '🧪', '📧', '🔎', '📊', '🤖'];
const bot = sqlite.prepare(
  `insert into bots (name, name_key, emoji, description, prompt, model, tools, schedule, docs_path, notify, paused, created_at, updated_at)
   values (?, ?, ?, ?, ?, 'echo', '[]', ?, ?, '{}', ?, ?, ?)`,
);
const run = sqlite.prepare(
  `insert into runs (bot_id, trigger, status, input, output, error, created_at, started_at, finished_at, duration_ms)
   values (?, ?, ?, null, ?, ?, ?, ?, ?, ?)`,
);
const result = sqlite.prepare(
  `insert into results (bot_id, run_id, title, content, url, metadata, pinned, is_new, dedupe_key, created_at)
   values (?, ?, ?, ?, ?, '{}', 0, ?, ?, ?)`,
);
const event = sqlite.prepare(`insert into events (bot_id, run_id, kind, message, level, created_at) values (?, ?, 'run.completed', ?, 'success', ?)`);
const trigger = sqlite.prepare(`insert into triggers (source_bot_id, event, target_bot_id, target_action, enabled, created_at) values (?, 'completed', ?, 'start', 1, ?)`);
const seed = sqlite.transaction(() => {
  for (let b = 1; b <= BOTS; b++) {
    const name = `Bot-${String(b).padStart(4, '0')}`;
    const schedule = b % 4 === 0 ? '*/30 * * * *' : null;
    bot.run(name, name.toLowerCase(), emojis[b % emojis.length], `Finds deals for fleet member ${b}`, `You are ${name}. Find things.`, schedule, path.join(dataDir, 'bots', String(b)), b % 10 === 0 ? 1 : 0, now, now);
  }
  for (let b = 2; b <= BOTS; b += 10) trigger.run(b - 1, b, now);
  const runsPerBot = Math.max(1, Math.floor(RUNS / BOTS));
  const resultsPerRun = Math.max(1, Math.floor(RESULTS / RUNS));
  let runId = 0;
  for (let i = 0; i < RUNS; i++) {
    const b = (i % BOTS) + 1;
    const at = now - (RUNS - i) * 60_000;
    const failed = i % 17 === 0;
    runId = Number(run.run(b, i % 3 ? 'schedule' : 'manual', failed ? 'failed' : 'completed', failed ? null : 'found things', failed ? 'HTTP 503 from the shop' : null, at, at, at + 1500, 1500).lastInsertRowid);
    for (let k = 0; k < resultsPerRun; k++) {
      const n = i * resultsPerRun + k;
      result.run(b, runId, `Item ${n} — ${(n % 90) + 10} €`, `An offer found by bot ${b}`, `https://shop.example/item/${n}`, k === 0 ? 1 : 0, `url:https://shop.example/item/${n}`, at);
    }
    if (i % 10 === 0) event.run(b, runId, `Bot-${String(b).padStart(4, '0')}: run #${runId} completed — found things`, at);
  }
  void runsPerBot;
});
if (!seeded) {
  seed();
  fs.mkdirSync(path.join(dataDir, 'bots'), { recursive: true });
}
const seedMs = performance.now() - t0;

await engine.start();
const app = await buildApp({ engine, logger });
// Server time per request (fastify's elapsedTime), and the process's CPU time for it: requests
// are sent one after another, so the CPU used between a request's arrival and its response is its
// own. On a machine shared with other work the CPU time is the steadier figure.
const times = new Map<string, { wall: number[]; cpu: number[] }>();
const cpuAt = new WeakMap<object, NodeJS.CpuUsage>();
app.addHook('onRequest', async (req) => {
  cpuAt.set(req, process.cpuUsage());
});
app.addHook('onResponse', async (req, reply) => {
  const key = req.routeOptions.url ?? req.url;
  let t = times.get(key);
  if (!t) times.set(key, (t = { wall: [], cpu: [] }));
  t.wall.push(reply.elapsedTime);
  const c = process.cpuUsage(cpuAt.get(req));
  t.cpu.push((c.user + c.system) / 1000);
});
await app.listen({ port: 0, host: '127.0.0.1' });
const base = `http://127.0.0.1:${(app.server.address() as net.AddressInfo).port}`;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

async function measure(label: string, url: string, route: string): Promise<void> {
  let bytes = 0;
  for (let i = 0; i < 10; i++) await (await fetch(base + url)).arrayBuffer(); // warm up
  times.set(route, { wall: [], cpu: [] });
  for (let i = 0; i < ROUNDS; i++) {
    const res = await fetch(base + url);
    bytes = (await res.arrayBuffer()).byteLength;
    if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status}`);
  }
  const { wall, cpu } = times.get(route)!;
  console.log(
    `${label.padEnd(34)} server p50 ${pct(wall, 50).toFixed(1)} ms, p95 ${pct(wall, 95).toFixed(1)} ms · CPU p50 ${pct(cpu, 50).toFixed(1)} ms, p95 ${pct(cpu, 95).toFixed(1)} ms · ${kb(bytes)}`,
  );
}

console.log(`${seeded ? 'reused' : 'seeded'} ${BOTS} bots, ${RUNS} runs, ${RESULTS} results${seeded ? '' : ` in ${(seedMs / 1000).toFixed(1)} s`}; load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} CPUs`);
await measure('GET / (first page of 48 cards)', '/', '/');
await measure('GET /?q=bot-09 (search)', '/?q=bot-09', '/');
await measure('GET /?status=failed (filter)', '/?status=failed', '/');
await measure('GET /partials/bots?page=12', '/partials/bots?page=12', '/partials/bots');
await measure(`GET /bots/:id (${Math.floor(RESULTS / BOTS)} results)`, `/bots/${Math.ceil(BOTS / 2)}`, '/bots/:id');

// ── One card update, many dashboards ────────────────────────────────────────────────────────────
const clients = await Promise.all(Array.from({ length: DASHBOARDS }, () => openSse(`${base}/stream`)));
await engine.bus.flush();
await new Promise((r) => setImmediate(r));
const target = Math.ceil(BOTS / 3);
const before = { renders: app.live.view.stats.renders, flushes: app.live.view.stats.flushes, bytes: app.live.hub.stats.bytesWritten };
const sent = performance.now();
await engine.bots.update(target, { description: 'A new description' });
const got = await Promise.all(clients.map((c) => c.waitFor((e) => e.event === `card-${target}`, { timeoutMs: 30_000 })));
const allMs = performance.now() - sent;
const v = app.live.view.stats;
const cardBytes = Buffer.byteLength(`event: card-${target}\ndata: ${got[0]!.data.replace(/\n/g, '\ndata: ')}\n\n`) + `id: ${got[0]!.id}\n`.length;
console.log(
  `one card update, ${DASHBOARDS} dashboards:       ${v.renders - before.renders} parts rendered (${v.flushes - before.flushes} flush), ` +
    `server ${v.lastFlushMs.toFixed(2)} ms to render and write to all, ${cardBytes} B per client, ` +
    `${kb(app.live.hub.stats.bytesWritten - before.bytes)} written in all, last client had it after ${allMs.toFixed(1)} ms`,
);
for (const c of clients) c.close();

await app.close();
await engine.close();
if (!keep) fs.rmSync(dataDir, { recursive: true, force: true });
