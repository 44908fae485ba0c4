import { and, asc, count, eq, gt, inArray, isNull, lt, lte, min, or, sql } from 'drizzle-orm';
import type { Db } from '../db/database.ts';
import { runs } from '../db/schema.ts';

/**
 * The run queue as a port: where queued runs wait for a slot, in order (due time, then id). Both
 * implementations below read the `runs` table itself, so the queue is as durable as the runs: a
 * restart finds it as it was. The dispatcher claims a run by moving it `queued → running` with one
 * conditional update, so a run handed out twice still starts once.
 */
export interface RunQueue {
  /** A queued run was stored (new, or again for a retry); `availableAt` in epoch ms. */
  push(runId: number, availableAt: number): void;
  /** A queued run left the queue without starting (cancelled). */
  remove(runId: number): void;
  /** Ids of queued runs due at `now`, in queue order, at most `limit`: this process may start them. */
  due(limit: number, now: number): Promise<number[]>;
  /** Runs that {@link due} handed out and this process did not start (no free run process): any process may take them. */
  release(runIds: readonly number[]): Promise<void>;
  /** When the first queued run that is not due yet becomes due (epoch ms), or null. */
  nextDueAt(now: number): Promise<number | null>;
  /** Number of queued runs (due or waiting for a retry's backoff). */
  size(): Promise<number>;
  /** 1-based place of a queued run in the queue, or null when it is not queued. */
  position(runId: number): Promise<number | null>;
}

/** {@link RunQueue} over the `runs` table (status `queued`, ordered by `available_at`, `id`), for one process. */
export class RunsTableQueue implements RunQueue {
  constructor(protected readonly db: Db) {}

  async release(_runIds: readonly number[]): Promise<void> {
    // Nothing was reserved.
  }

  push(): void {
    // The row is the queue entry.
  }

  remove(): void {
    // The run's status change removes it.
  }

  async due(limit: number, now: number): Promise<number[]> {
    if (limit <= 0) return [];
    const rows = await this.db
      .select({ id: runs.id })
      .from(runs)
      .where(and(eq(runs.status, 'queued'), lte(runs.availableAt, now)))
      .orderBy(asc(runs.availableAt), asc(runs.id))
      .limit(limit);
    return rows.map((r) => r.id);
  }

  async nextDueAt(now: number): Promise<number | null> {
    const [row] = await this.db
      .select({ at: min(runs.availableAt) })
      .from(runs)
      .where(and(eq(runs.status, 'queued'), gt(runs.availableAt, now)));
    return row?.at ?? null;
  }

  async size(): Promise<number> {
    const [row] = await this.db.select({ n: count() }).from(runs).where(eq(runs.status, 'queued'));
    return row?.n ?? 0;
  }

  async position(runId: number): Promise<number | null> {
    const [me] = await this.db.select({ status: runs.status, availableAt: runs.availableAt }).from(runs).where(eq(runs.id, runId));
    if (!me || me.status !== 'queued') return null;
    const [ahead] = await this.db
      .select({ n: count() })
      .from(runs)
      .where(and(eq(runs.status, 'queued'), or(lt(runs.availableAt, me.availableAt), and(eq(runs.availableAt, me.availableAt), lt(runs.id, runId)))));
    return (ahead?.n ?? 0) + 1;
  }
}

/**
 * {@link RunQueue} for several processes on one Postgres: {@link due} reserves the runs it hands
 * out for this process (`worker_id`, under `FOR UPDATE SKIP LOCKED`), so processes pumping at the
 * same moment take different runs instead of racing for the same ones
 * (https://www.postgresql.org/docs/current/sql-select.html#SQL-FOR-UPDATE-SHARE). A reserved run is
 * still `queued`: the claim stays the conditional `queued → running` update. Reservations of a
 * process that died are dropped by the cluster's sweep (src/engine/cluster/cluster.ts); a run
 * queued again (a retry) is unreserved by its transition.
 */
export class ClusterRunQueue extends RunsTableQueue {
  constructor(
    db: Db,
    private readonly workerId: string,
  ) {
    super(db);
  }

  override async due(limit: number, now: number): Promise<number[]> {
    if (limit <= 0) return [];
    const free = this.db
      .select({ id: runs.id })
      .from(runs)
      .where(and(eq(runs.status, 'queued'), lte(runs.availableAt, now), isNull(runs.workerId)))
      .orderBy(asc(runs.availableAt), asc(runs.id))
      .limit(limit);
    // `for` is pg-core's (the handle is typed as SQLite's; see Db in database.ts).
    const locked = (free as unknown as { for(strength: 'update', config: { skipLocked: true }): typeof free }).for('update', { skipLocked: true });
    // `= any(array(…))`, not `in (…)`: Postgres may run an `in` subquery more than once within the
    // update (a semi-join rescan), and each run skips other rows, handing out more than `limit`.
    const rows = await this.db
      .update(runs)
      .set({ workerId: this.workerId })
      .where(and(sql`${runs.id} = any(array(${locked}))`, eq(runs.status, 'queued')))
      .returning({ id: runs.id, availableAt: runs.availableAt });
    return rows.sort((a, b) => a.availableAt - b.availableAt || a.id - b.id).map((r) => r.id);
  }

  override async release(runIds: readonly number[]): Promise<void> {
    if (runIds.length === 0) return;
    await this.db
      .update(runs)
      .set({ workerId: null })
      .where(and(inArray(runs.id, [...runIds]), eq(runs.status, 'queued'), eq(runs.workerId, this.workerId)));
  }
}
