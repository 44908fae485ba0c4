/**
 * Benchmark: what a run costs, measured on this machine against the physical limits of the same
 * run (issue "A run costs what its work costs"). Prints numbers; no pass/fail.
 *
 *  - limits: `node -e 0`, and a fork with one IPC round trip under Node's permission model;
 *  - trivial (echo, ECHO_DELAY_MS=0) runs one at a time: p50 / p95 from the API request to the
 *    run's `end` event on its SSE log stream;
 *  - trivial throughput, 300 runs at concurrency 10 and 50: runs/s, CPU ms per run (server + run
 *    processes);
 *  - LLM-bound, 200 runs at concurrency 50 with DEFAULT settings against a fake OpenAI-compatible
 *    model (its own process) that answers after 2 s: runs/s, peak RSS of the server and its run
 *    processes, and PSS per waiting run (/proc/<pid>/smaps_rollup, sampled at the plateau).
 *
 * The server is `node --import tsx src/main.ts` in its own process, driven over HTTP.
 * Run: npm run bench:runs
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PERMISSION_FLAG } from '../src/engine/tools/sandbox.ts';

const MODEL_DELAY_MS = 2000;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}
const ms = (n: number) => `${n.toFixed(1)} ms`;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Every process under `pid` (children, grandchildren, …). */
function descendants(pid: number): number[] {
  const out: number[] = [];
  const walk = (p: number) => {
    let kids: number[] = [];
    try {
      kids = fs.readdirSync(`/proc/${p}/task`).flatMap((t) => fs.readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
    } catch {
      return;
    }
    for (const k of kids) {
      out.push(k);
      walk(k);
    }
  };
  walk(pid);
  return out;
}

function rollup(pid: number): { rssKb: number; pssKb: number } {
  try {
    const t = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    return { rssKb: Number(/^Rss:\s+(\d+)/m.exec(t)?.[1] ?? 0), pssKb: Number(/^Pss:\s+(\d+)/m.exec(t)?.[1] ?? 0) };
  } catch {
    return { rssKb: 0, pssKb: 0 };
  }
}

/** Whether `pid` is a bot's run process (it runs the run-child bundle). */
function isRunProcess(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('run-child');
  } catch {
    return false;
  }
}

/** CPU time (ms) a process has used so far, user + system. */
function cpuMs(pid: number): number {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return 0;
  }
}

// ─── the physical limits ─────────────────────────────────────────────────────────────────────────

function nodeE0(): number[] {
  const out: number[] = [];
  for (let i = 0; i < 15; i++) {
    const t0 = performance.now();
    spawnSync(process.execPath, ['-e', '0']);
    out.push(performance.now() - t0);
  }
  return out;
}

async function forkIpc(): Promise<number[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oo-bench-fork-'));
  const mod = path.join(dir, 'echo.mjs');
  fs.writeFileSync(mod, "process.on('message', (m) => process.send(m, () => process.exit(0)));\n");
  const out: number[] = [];
  for (let i = 0; i < 15; i++) {
    const t0 = performance.now();
    const child = spawn(process.execPath, [PERMISSION_FLAG, `--allow-fs-read=${mod}`, mod], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'], env: {} });
    await new Promise<void>((resolve) => {
      child.once('message', () => resolve());
      child.send({ hello: 1 });
    });
    out.push(performance.now() - t0);
    await new Promise((r) => child.once('exit', r));
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return out;
}

// ─── the fake model, in its own process ──────────────────────────────────────────────────────────

const FAKE_MODEL = `
const http = require('node:http');
const delay = Number(process.argv[1]);
http.createServer((req, res) => {
  req.resume();
  req.on('end', () => setTimeout(() => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const chunk = (delta, finish, usage) => 'data: ' + JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'gpt-4.1-mini', choices: finish === undefined ? [] : [{ index: 0, delta, finish_reason: finish }], ...(usage ? { usage } : {}) }) + '\\n\\n';
    res.end(chunk({ role: 'assistant', content: 'ok' }, null) + chunk({}, 'stop') + chunk(undefined, undefined, { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 }) + 'data: [DONE]\\n\\n');
  }, delay));
}).listen(0, '127.0.0.1', function () { console.log(this.address().port); });
`;

async function startFakeModel(): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, ['-e', FAKE_MODEL, String(MODEL_DELAY_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve) => proc.stdout!.once('data', (d) => resolve(String(d).trim())));
  return { proc, url: `http://127.0.0.1:${port}/v1` };
}

// ─── the server ──────────────────────────────────────────────────────────────────────────────────

async function startServer(env: Record<string, string>): Promise<{ proc: ChildProcess; url: string; dataDir: string }> {
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oo-bench-runs-'));
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { PATH: process.env.PATH!, PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc, url, dataDir };
}

async function stopServer(s: { proc: ChildProcess; dataDir: string }): Promise<void> {
  s.proc.kill('SIGTERM');
  await new Promise((r) => s.proc.once('exit', r));
  fs.rmSync(s.dataDir, { recursive: true, force: true });
}

async function post(url: string, body: unknown): Promise<any> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return res.json();
}

/** Starts one run and resolves when its SSE log stream says `end`, with the time it took (ms). */
async function oneRun(base: string, botId: number, onQueued: () => void = () => {}): Promise<number> {
  const t0 = performance.now();
  const run = await post(`${base}/api/bots/${botId}/run`, {});
  onQueued();
  const res = await fetch(`${base}/api/runs/${run.id}/events`);
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    if (buf.includes('event: end')) {
      const status = /event: end\ndata: (.*)/.exec(buf)?.[1];
      if (status && !status.includes('"completed"')) throw new Error(`run ${run.id} ended ${status}`);
      void reader.cancel();
      break;
    }
  }
  return performance.now() - t0;
}

/** `n` runs with at most `concurrency` in flight; wall time (ms). */
async function many(base: string, botId: number, n: number, concurrency: number): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        await oneRun(base, botId);
      }
    }),
  );
  return performance.now() - t0;
}

function treeCpuMs(pid: number): number {
  return cpuMs(pid) + descendants(pid).reduce((sum, p) => sum + cpuMs(p), 0);
}

// ─── main ────────────────────────────────────────────────────────────────────────────────────────

console.log(`machine: ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, load ${os.loadavg()[0]!.toFixed(1)}, Node ${process.version}`);
const e0 = nodeE0();
const fk = await forkIpc();
console.log(`limits: node -e 0 p50 ${ms(pct(e0, 50))}; fork + IPC round trip under the permission model p50 ${ms(pct(fk, 50))}`);

{
  const s = await startServer({ ECHO_DELAY_MS: '0' });
  const bot = await post(`${s.url}/api/bots`, { name: 'Trivial', prompt: 'echo' });
  for (let i = 0; i < 5; i++) await oneRun(s.url, bot.id); // warm-up
  const seq: number[] = [];
  for (let i = 0; i < 50; i++) seq.push(await oneRun(s.url, bot.id));
  console.log(`trivial, one at a time (50 runs): p50 ${ms(pct(seq, 50))} / p95 ${ms(pct(seq, 95))}  (limit ×2 = ${ms(2 * pct(fk, 50))})`);
  for (const c of [10, 50]) {
    const cpu0 = treeCpuMs(s.proc.pid!);
    const wall = await many(s.url, bot.id, 300, c);
    const cpu = treeCpuMs(s.proc.pid!) - cpu0;
    console.log(`trivial, 300 runs at concurrency ${c}: ${(300 / (wall / 1000)).toFixed(1)} runs/s, ${(cpu / 300).toFixed(1)} ms CPU per run (server + run processes)`);
  }
  await stopServer(s);
}

{
  const model = await startFakeModel();
  const s = await startServer({ OPENAI_API_KEY: 'sk-bench', OPENAI_BASE_URL: model.url });
  const bot = await post(`${s.url}/api/bots`, { name: 'Waiter', prompt: 'answer', model: 'openai:gpt-4.1-mini' });
  if (!bot.id) throw new Error(`could not create the LLM bot: ${JSON.stringify(bot)}`);
  await oneRun(s.url, bot.id); // warm-up, as for the trivial runs: the bot's run process is forked once
  let peakRssKb = 0;
  let plateau: { pssKb: number; workers: number; inFlight: number } | null = null;
  let inFlight = 0;
  // Runs whose request was answered and whose end has not come: waiting on the model.
  let started = 0;
  let ended = 0;
  const runningNow = () => started - ended;
  const sampler = setInterval(() => {
    const pids = [s.proc.pid!, ...descendants(s.proc.pid!)];
    const r = pids.map(rollup);
    peakRssKb = Math.max(peakRssKb, r.reduce((a, b) => a + b.rssKb, 0));
    // The plateau: every client has a run waiting on the model; keep the fullest sample.
    const running = runningNow();
    if (running >= 45 && (!plateau || running > plateau.inFlight)) {
      // Run processes only (not tsx's esbuild service, also a child of the server).
      const workers = pids.slice(1).filter(isRunProcess).map(rollup);
      plateau = { pssKb: workers.reduce((a, b) => a + b.pssKb, 0), workers: workers.length, inFlight: running };
    }
  }, 100);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (next < 200) {
        next++;
        inFlight++;
        await oneRun(s.url, bot.id, () => started++);
        ended++;
        inFlight--;
      }
    }),
  );
  const wall = performance.now() - t0;
  clearInterval(sampler);
  console.log(`LLM-bound (model answers after ${MODEL_DELAY_MS} ms), 200 runs at concurrency 50, default settings: ${(200 / (wall / 1000)).toFixed(1)} runs/s (ideal ${(50 / (MODEL_DELAY_MS / 1000)).toFixed(1)})`);
  console.log(`  peak RSS, server + run processes: ${(peakRssKb / 1024).toFixed(0)} MB`);
  const p = plateau as { pssKb: number; workers: number; inFlight: number } | null; // set by the sampler
  if (p) {
    const plateau = p;
    console.log(`  at ${plateau.inFlight} runs waiting: ${plateau.workers} run process(es), ${(plateau.pssKb / 1024).toFixed(1)} MB PSS in all = ${(plateau.pssKb / 1024 / plateau.inFlight).toFixed(2)} MB PSS per waiting run`);
  }
  await stopServer(s);
  model.proc.kill();
}
