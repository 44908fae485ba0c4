import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { and, eq, isNotNull, lt, notInArray } from 'drizzle-orm';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Db } from '../db/database.ts';
import { runs, workers } from '../db/schema.ts';

/**
 * The Postgres notification channels of a cluster (https://www.postgresql.org/docs/current/sql-notify.html).
 * A payload is text of at most 8,000 bytes.
 */
export const CLUSTER_CHANNELS = {
  /** An engine event of one process, for the others' live views (JSON `{ from, event, payload }`). */
  events: 'oo_events',
  /** A run was queued or a slot came free somewhere: every process looks at the queue (payload ignored). */
  runs: 'oo_runs',
  /** Cancel a run that another process runs (JSON `{ runId, reason }`). */
  cancel: 'oo_cancel',
} as const;

/** Name of a cluster notification channel. */
export type ClusterChannel = (typeof CLUSTER_CHANNELS)[keyof typeof CLUSTER_CHANNELS];

/** How a {@link ClusterMember} keeps its lease. */
export interface ClusterOptions {
  /** `postgres://…`: the listening connection is its own client (not from the pool). */
  connectionString: string;
  /** A process whose lease has not been renewed for this long is dead (ms). */
  leaseMs: number;
  /** How often the lease is renewed and the others' are checked (ms); a third of `leaseMs` or less. */
  heartbeatMs: number;
  log: Logger;
  now?: () => number;
}

/**
 * This process's membership of a cluster of processes on one Postgres: a row in `workers` that it
 * renews every `heartbeatMs` (its lease), LISTEN/NOTIFY between the processes, and the sweep that
 * finds processes whose lease ran out. A survivor that deletes a dead process's row (one `DELETE …
 * RETURNING`, so exactly one survivor does) hands it to {@link onDead}; running runs whose process
 * has no row any more are handed over too (a survivor that died while taking over). So a dead
 * process's runs are taken over within `leaseMs + heartbeatMs`.
 *
 * A process whose own row was swept (it could not renew for `leaseMs`: a long pause, a lost
 * connection) registers again; runs it ran meanwhile were already taken over by a survivor, and
 * the end of their attempts here changes nothing (a transition out of `running` is fenced by the
 * attempt and the process, `AttemptFence` in runner/transition.ts). Their children may still
 * finish their work meanwhile.
 */
export class ClusterMember {
  /** `<host>:<pid>:<random>`: this process, new at every start. */
  readonly workerId: string;
  private listener: pg.Client | null = null;
  private readonly handlers = new Map<string, ((payload: string) => void)[]>();
  private deadHandlers: ((workerId: string, runIds: number[]) => Promise<void>)[] = [];
  private reconnectHandlers: (() => void)[] = [];
  private timer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly now: () => number;

  constructor(
    private readonly db: Db,
    private readonly pool: pg.Pool,
    private readonly opts: ClusterOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.workerId = `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  }

  /** Registers this process, starts listening and renewing its lease. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.register();
    await this.listen();
    this.timer = setInterval(() => void this.beat(), this.opts.heartbeatMs);
    this.timer.unref();
  }

  /** Stops renewing and listening and deletes this process's row (its runs were ended before). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.timer = this.reconnectTimer = null;
    const l = this.listener;
    this.listener = null;
    await l?.end().catch(() => {});
    await this.db
      .delete(workers)
      .where(eq(workers.id, this.workerId))
      .catch((err: unknown) => this.opts.log.warn({ err }, 'could not remove this process from the workers table'));
  }

  /** Sends `payload` (text, at most 8,000 bytes) to every process listening on `channel`, this one included. */
  async notify(channel: ClusterChannel, payload = ''): Promise<void> {
    await this.pool.query('select pg_notify($1, $2)', [channel, payload]);
  }

  /** Calls `handler` with each payload sent on `channel` (by any process, this one included). */
  on(channel: ClusterChannel, handler: (payload: string) => void): void {
    const list = this.handlers.get(channel) ?? [];
    list.push(handler);
    this.handlers.set(channel, list);
  }

  /**
   * `handler` takes over a dead process's running runs (their ids, possibly none). It runs on
   * exactly one survivor per dead process.
   */
  onDead(handler: (workerId: string, runIds: number[]) => Promise<void>): void {
    this.deadHandlers.push(handler);
  }

  /** `handler` runs after the listening connection was lost and made again (notifications may have been missed). */
  onReconnect(handler: () => void): void {
    this.reconnectHandlers.push(handler);
  }

  /** The processes whose lease is current, oldest first. */
  async members(): Promise<{ id: string; host: string; pid: number; startedAt: number; seenAt: number }[]> {
    const rows = await this.db.select().from(workers);
    const cutoff = this.now() - this.opts.leaseMs;
    return rows.filter((w) => w.seenAt >= cutoff).sort((a, b) => a.startedAt - b.startedAt);
  }

  private async register(): Promise<void> {
    const now = this.now();
    await this.db
      .insert(workers)
      .values({ id: this.workerId, host: os.hostname(), pid: process.pid, startedAt: now, seenAt: now })
      .onConflictDoUpdate({ target: workers.id, set: { seenAt: now } });
  }

  /** Renews the lease, then looks for processes whose lease ran out. */
  private async beat(): Promise<void> {
    if (this.stopped) return;
    try {
      const renewed = await this.db.update(workers).set({ seenAt: this.now() }).where(eq(workers.id, this.workerId)).returning({ id: workers.id });
      if (renewed.length === 0) {
        this.opts.log.warn({ workerId: this.workerId }, 'this process was taken for dead (its lease ran out); registering again');
        await this.register();
      }
      await this.sweep();
    } catch (err) {
      this.opts.log.warn({ err }, 'cluster heartbeat failed; trying again');
    }
  }

  private async sweep(): Promise<void> {
    const dead = await this.db
      .delete(workers)
      .where(lt(workers.seenAt, this.now() - this.opts.leaseMs))
      .returning({ id: workers.id });
    const alive = (await this.db.select({ id: workers.id }).from(workers)).map((w) => w.id);
    // Running runs of a process that has no row: just swept, or swept by a survivor that died before taking them over.
    const orphans = await this.db
      .select({ id: runs.id, workerId: runs.workerId })
      .from(runs)
      .where(and(eq(runs.status, 'running'), isNotNull(runs.workerId), notInArray(runs.workerId, alive)));
    // Queued runs a dead process had reserved (ClusterRunQueue) go back to everyone.
    await this.db
      .update(runs)
      .set({ workerId: null })
      .where(and(eq(runs.status, 'queued'), isNotNull(runs.workerId), notInArray(runs.workerId, alive)));
    const byWorker = new Map<string, number[]>(dead.map((d) => [d.id, []]));
    for (const o of orphans) byWorker.set(o.workerId!, [...(byWorker.get(o.workerId!) ?? []), o.id]);
    for (const [workerId, runIds] of byWorker) {
      this.opts.log.warn({ workerId, runs: runIds.length }, 'a process of the cluster stopped renewing its lease: taking over its running runs');
      for (const h of this.deadHandlers) await h(workerId, runIds);
    }
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.opts.connectionString, application_name: 'oo-listen' });
    const lost = (err?: unknown) => {
      if (this.listener !== client) return;
      this.listener = null;
      if (err) this.opts.log.warn({ err }, 'the cluster listening connection broke; reconnecting');
      void client.end().catch(() => {});
      this.scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (n) => {
      for (const h of this.handlers.get(n.channel) ?? []) {
        try {
          h(n.payload ?? '');
        } catch (err) {
          this.opts.log.error({ err, channel: n.channel }, 'a cluster notification handler failed');
        }
      }
    });
    await client.connect();
    for (const channel of Object.values(CLUSTER_CHANNELS)) await client.query(`LISTEN ${channel}`);
    this.listener = client;
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.listen().then(
        () => {
          for (const h of this.reconnectHandlers) h();
        },
        (err: unknown) => {
          this.opts.log.warn({ err }, 'could not listen again yet');
          this.scheduleReconnect();
        },
      );
    }, 1000);
    this.reconnectTimer.unref();
  }
}
