import { and, asc, count, eq, gt, lt, lte, min, or } from 'drizzle-orm';
import type { Db } from '../db/database.ts';
import { runs } from '../db/schema.ts';

/**
 * The run queue as a port: where queued runs wait for a slot, in order (due time, then id). The
 * SQLite implementation below reads the `runs` table itself, so the queue is as durable as the
 * runs: a restart finds it as it was. A queue on another engine (pg-boss on Postgres) implements
 * the same interface; the dispatcher claims a run by moving it `queued → running` with one
 * conditional update, so a run handed out twice still starts once.
 */
export interface RunQueue {
  /** A queued run was stored (new, or again for a retry); `availableAt` in epoch ms. */
  push(runId: number, availableAt: number): void;
  /** A queued run left the queue without starting (cancelled). */
  remove(runId: number): void;
  /** Ids of queued runs due at `now`, in queue order, at most `limit`. */
  due(limit: number, now: number): Promise<number[]>;
  /** When the first queued run that is not due yet becomes due (epoch ms), or null. */
  nextDueAt(now: number): Promise<number | null>;
  /** Number of queued runs (due or waiting for a retry's backoff). */
  size(): Promise<number>;
  /** 1-based place of a queued run in the queue, or null when it is not queued. */
  position(runId: number): Promise<number | null>;
}

/** {@link RunQueue} over the `runs` table (status `queued`, ordered by `available_at`, `id`). */
export class SqliteRunQueue implements RunQueue {
  constructor(private readonly db: Db) {}

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
