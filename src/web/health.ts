/**
 * Health endpoints: `GET /healthz` (liveness: the process answers) and `GET /health` (readiness:
 * what works and what is degraded). Both are open without the dashboard token, for probes.
 */
import type { FastifyInstance } from 'fastify';
import { pingDatabase } from '../engine/db/database.ts';
import type { Engine } from '../engine/engine.ts';

/** A chat platform's connection as its adapter sees it (bot/adapter.ts reports these). */
export interface ChatStatus {
  platform: 'telegram' | 'discord';
  /** Telegram: the last `getUpdates` succeeded; Discord: the gateway session is ready. */
  connected: boolean;
  /** Why not, in words, when known. */
  detail?: string;
}

/** One check of `/health`. */
export interface HealthCheck {
  status: 'ok' | 'degraded' | 'not_configured';
  detail?: string;
}

/** The body of `GET /health`. */
export interface HealthReport {
  /** `degraded` when any check is; the HTTP status is then 503. */
  status: 'ok' | 'degraded';
  /** Names of the degraded checks (`database`, `telegram`, `discord`, `queue`). */
  degraded: string[];
  checks: {
    database: HealthCheck;
    telegram: HealthCheck;
    discord: HealthCheck;
    /** Queue depth; degraded when full (MAX_QUEUED_RUNS: new runs are refused with 429) or unreadable (`queued: null`). */
    queue: HealthCheck & { queued: number | null; running: number; max_concurrent: number; max_queued: number };
  };
  /** On Postgres (`DATABASE_URL`): this process, whether it runs the chat adapters, and the live processes. Absent on SQLite. */
  cluster?: { worker: string; chat_leader: boolean; processes: number };
}

/** What `/health` is told of the chat adapters. */
export interface ChatHealthSource {
  /** The adapters' connections, as they report them (none when they do not run here). */
  statuses: () => readonly ChatStatus[];
  /** In a cluster, whether this process is the one that runs the chat adapters (leader election); null alone. */
  leader?: () => boolean | null;
}

async function queueCheck(engine: Engine): Promise<HealthReport['checks']['queue']> {
  const max = engine.config.maxQueuedRuns;
  const base = { running: engine.runner.runningCount, max_concurrent: engine.config.maxConcurrentRuns, max_queued: max };
  let queued: number;
  try {
    queued = await engine.runner.queuedCount(); // the queue lives in the database
  } catch (err) {
    return { status: 'degraded', detail: `the queue cannot be read: ${(err as Error).message}`, queued: null, ...base };
  }
  if (queued >= max) return { status: 'degraded', detail: `the queue is full (${queued} of MAX_QUEUED_RUNS ${max}): new runs are refused`, queued, ...base };
  return { status: 'ok', queued, ...base };
}

/**
 * Builds the report: the database answers a query, each configured chat adapter is connected, the
 * run queue is not full.
 */
export async function healthReport(engine: Engine, source: ChatHealthSource): Promise<HealthReport> {
  let database: HealthCheck = { status: 'ok' };
  try {
    await pingDatabase(engine.db);
  } catch (err) {
    database = { status: 'degraded', detail: `the database does not answer: ${(err as Error).message}` };
  }
  const queue = await queueCheck(engine);
  const statuses = source.statuses();
  const leader = source.leader?.() ?? null;
  const chat = (platform: ChatStatus['platform'], token: string | undefined): HealthCheck => {
    if (!token) return { status: 'not_configured' };
    // Exactly one process of a cluster polls Telegram and holds the Discord gateway.
    if (leader === false) return { status: 'ok', detail: 'runs on the cluster process that leads the chats' };
    const s = statuses.find((c) => c.platform === platform);
    if (!s) return { status: 'degraded', detail: 'the adapter has not started' };
    return s.connected ? { status: 'ok' } : { status: 'degraded', detail: s.detail ?? 'not connected' };
  };
  const checks: HealthReport['checks'] = {
    database,
    telegram: chat('telegram', engine.config.telegram.token),
    discord: chat('discord', engine.config.discord.token),
    queue,
  };
  const degraded = Object.entries(checks)
    .filter(([, c]) => c.status === 'degraded')
    .map(([name]) => name);
  const report: HealthReport = { status: degraded.length ? 'degraded' : 'ok', degraded, checks };
  if (engine.cluster) {
    const processes = await engine.cluster.members().then((m) => m.length, () => 0);
    report.cluster = { worker: engine.cluster.workerId, chat_leader: leader === true, processes };
  }
  return report;
}

/** Paths the dashboard token does not guard (probes from Docker, load balancers). */
export const HEALTH_PATHS: readonly string[] = ['/health', '/healthz'];

/** Adds `GET /health` (200 ok, 503 degraded) and `GET /healthz` (200 while the process answers). */
export function healthRoutes(engine: Engine, source: ChatHealthSource) {
  return async (app: FastifyInstance) => {
    app.get('/health', async (_req, reply) => {
      const report = await healthReport(engine, source);
      return reply.code(report.status === 'ok' ? 200 : 503).send(report);
    });
    app.get('/healthz', async () => ({
      status: 'ok',
      runs: { running: engine.runner.runningCount, queued: await engine.runner.queuedCount() },
    }));
  };
}
