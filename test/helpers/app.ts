import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { loadConfig, type Config } from '../../src/config.ts';
import { Engine } from '../../src/engine/engine.ts';
import { isFinalRunStatus, type RunStatus } from '../../src/engine/run-status.ts';
import { buildApp } from '../../src/web/app.ts';
import { testDatabase } from './test-database.ts';

/** A running app on 127.0.0.1 with its own temporary data dir. */
export interface TestApp {
  config: Config;
  engine: Engine;
  app: FastifyInstance;
  /** `http://127.0.0.1:PORT` */
  url: string;
  dataDir: string;
  /** JSON request against the running server; resolves with status and parsed body. */
  api<T = any>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: T; headers: Headers }>;
  /** Waits until the run has ended and returns it as the API shows it. */
  waitForRun(runId: number, timeoutMs?: number): Promise<any>;
  /** Stops the server and the engine; keeps the data dir when `keepData`. */
  close(opts?: { keepData?: boolean }): Promise<void>;
}

/** A fresh temporary data dir. */
export function tempDataDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'oo-test-'));
}

/**
 * Starts the app as `npm start` does, on a random port, with `env` on top of test defaults.
 * `opts.onRoute` hears every route as it is registered (fastify's onRoute hook); `opts.now` is the
 * engine's clock (run engine, approvals, pairing codes).
 */
export async function startTestApp(env: Record<string, string | undefined> = {}, opts: { onRoute?: (route: RouteOptions) => void; now?: () => number } = {}): Promise<TestApp> {
  const dataDir = env.DATA_DIR ?? tempDataDir();
  const database = 'DATABASE_URL' in env ? null : await testDatabase(dataDir);
  const config = loadConfig({ PORT: '0', ECHO_DELAY_MS: '20', LOG_LEVEL: 'silent', ...(database ? { DATABASE_URL: database.url } : {}), ...env, DATA_DIR: dataDir });
  const logger = pino({ level: config.logLevel });
  const engine = await Engine.open(config, logger, opts.now ? { now: opts.now } : {});
  await engine.start();
  const app = await buildApp({ engine, logger, onRoute: opts.onRoute });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;

  const api: TestApp['api'] = async (method, p, body, headers = {}) => {
    const res = await fetch(url + p, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: any = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };

  const waitForRun = async (runId: number, timeoutMs = 20_000) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const { body } = await api('GET', `/api/runs/${runId}`);
      if (body?.status && isFinalRunStatus(body.status as RunStatus)) return body;
      if (Date.now() > until) throw new Error(`run ${runId} still ${body?.status} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  return {
    config,
    engine,
    app,
    url,
    dataDir,
    api,
    waitForRun,
    async close(opts) {
      await app.close();
      await engine.close();
      if (!opts?.keepData) {
        fs.rmSync(dataDir, { recursive: true, force: true });
        await database?.drop();
      }
    },
  };
}

/** `true` while a process with this pid exists (signal 0 probes without killing). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
