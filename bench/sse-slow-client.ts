/**
 * Benchmark: what a slow SSE client costs the server, and how fast a fast one is served.
 *
 * A finished run with LINES log lines of ~200 bytes (~40 MB of events) is streamed to
 *  1. a client that connects and reads nothing for HOLD_MS (the server must not buffer the log:
 *     heap growth stays near the socket's buffer, not the log's size), then
 *  2. a client that reads everything (throughput in MB/s and lines/s).
 *
 *  3. IDLE readers (default 50) of the dashboard's HTML log stream (`/runs/:id/stream`) on a run of
 *     IDLE_LINES lines (default 30,000) of 2,000 characters, who read nothing: the server's heap
 *     and what it holds queued for them, once every stream has stalled.
 *
 * Run: npm run bench   (prints numbers; no pass/fail)
 */
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadConfig } from '../src/config.ts';
import { Engine } from '../src/engine/engine.ts';
import { buildApp } from '../src/web/app.ts';

const LINES = Number(process.env.LINES ?? 200_000);
const HOLD_MS = Number(process.env.HOLD_MS ?? 3000);

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oo-bench-'));
const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
const logger = pino({ level: 'silent' });
const engine = await Engine.open(config, logger);
await engine.start();
const app = await buildApp({ engine, logger });
await app.listen({ port: 0, host: '127.0.0.1' });
const port = (app.server.address() as net.AddressInfo).port;

const bot = await engine.createBot({ name: 'Bench', prompt: 'bench' });
const sqlite = engine.db.$client;
const runId = Number(
  sqlite.prepare("insert into runs (bot_id, trigger, status, created_at, started_at, finished_at, duration_ms) values (?, 'manual', 'completed', ?, ?, ?, 1)").run(bot.id, Date.now(), Date.now(), Date.now()).lastInsertRowid,
);
const insert = sqlite.prepare("insert into run_logs (run_id, seq, ts, stream, text) values (?, ?, ?, 'stdout', ?)");
const t0 = performance.now();
sqlite.transaction(() => {
  for (let i = 1; i <= LINES; i++) insert.run(runId, i, Date.now(), `line ${i} `.padEnd(200, 'x'));
})();
const insertMs = performance.now() - t0;

const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
const heap = () => {
  global.gc?.();
  return process.memoryUsage().heapUsed;
};
const request = `GET /api/runs/${runId}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n`;

// 1. The slow client: connects, reads nothing.
const heapBefore = heap();
const slow = net.connect(port, '127.0.0.1', () => slow.write(request));
slow.pause();
await new Promise((r) => setTimeout(r, HOLD_MS));
const heapDuring = heap();
slow.destroy();

// 2. The fast client: reads everything.
const t1 = performance.now();
const bytes = await new Promise<number>((resolve) => {
  let n = 0;
  const fast = net.connect(port, '127.0.0.1', () => fast.write(request));
  fast.on('data', (d) => (n += d.length));
  fast.on('end', () => resolve(n));
});
const readMs = performance.now() - t1;

// 3. Many idle readers of a long log, on the page's HTML stream.
const IDLE = Number(process.env.IDLE ?? 50);
const IDLE_LINES = Number(process.env.IDLE_LINES ?? 30_000);
const idleRun = Number(
  sqlite.prepare("insert into runs (bot_id, trigger, status, created_at, started_at, finished_at, duration_ms) values (?, 'manual', 'completed', ?, ?, ?, 1)").run(bot.id, Date.now(), Date.now(), Date.now()).lastInsertRowid,
);
sqlite.transaction(() => {
  for (let i = 1; i <= IDLE_LINES; i++) insert.run(idleRun, i, Date.now(), `line ${i} `.padEnd(2000, 'x'));
})();
const serverSockets: net.Socket[] = [];
app.server.on('connection', (s) => serverSockets.push(s));
const mem = () => {
  global.gc?.();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.external + m.arrayBuffers, rss: m.rss };
};
const memBefore = mem();
const idleReaders = Array.from({ length: IDLE }, () => {
  const s = net.connect(port, '127.0.0.1', () => s.write(`GET /runs/${idleRun}/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`));
  s.pause();
  return s;
});
const t2 = performance.now();
const sentNow = () => serverSockets.reduce((n, s) => n + s.bytesWritten, 0);
let lastSent = -1;
while (sentNow() !== lastSent) {
  lastSent = sentNow();
  await new Promise((r) => setTimeout(r, 500));
}
const stallMs = performance.now() - t2;
const memIdle = mem();
const queuedNow = serverSockets.reduce((n, s) => n + s.writableLength, 0);
for (const s of idleReaders) s.destroy();

console.log(`log lines                 ${LINES} (${mb(LINES * 200)} MB of text)`);
console.log(`insert                    ${(LINES / (insertMs / 1000)).toFixed(0)} lines/s`);
console.log(`slow client, held ${HOLD_MS} ms: server heap ${mb(heapBefore)} MB -> ${mb(heapDuring)} MB (growth ${mb(heapDuring - heapBefore)} MB)`);
console.log(`fast client               ${mb(bytes)} MB in ${readMs.toFixed(0)} ms = ${(bytes / 1024 / 1024 / (readMs / 1000)).toFixed(1)} MB/s, ${(LINES / (readMs / 1000)).toFixed(0)} lines/s`);
console.log(
  `${IDLE} idle readers, ${IDLE_LINES} lines of 2 KB (${mb(IDLE * IDLE_LINES * 2000)} MB if each got all): stalled after ${(stallMs / 1000).toFixed(1)} s with ${mb(lastSent)} MB in the kernel's socket buffers; ` +
    `server heap ${mb(memBefore.heap)} -> ${mb(memIdle.heap)} MB, buffers ${mb(memBefore.external)} -> ${mb(memIdle.external)} MB, rss ${mb(memBefore.rss)} -> ${mb(memIdle.rss)} MB, ${mb(queuedNow)} MB queued for the readers`,
);


await app.close();
await engine.close();
fs.rmSync(dataDir, { recursive: true, force: true });
