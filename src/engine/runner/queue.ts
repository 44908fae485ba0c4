import { and, asc, eq, lt, lte, or, sql } from 'drizzle-orm';
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
  due(limit: number, now: number): number[];
  /** When the first queued run that is not due yet becomes due (epoch ms), or null. */
  nextDueAt(now: number): number | null;
  /** Number of queued runs (due or waiting for a retry's backoff). */
  size(): number;
  /** 1-based place of a queued run in the queue, or null when it is not queued. */
  position(runId: number): number | null;
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

  due(limit: number, now: number): number[] {
    if (limit <= 0) return [];
    return this.db
      .select({ id: runs.id })
      .from(runs)
      .where(and(eq(runs.status, 'queued'), lte(runs.availableAt, now)))
      .orderBy(asc(runs.availableAt), asc(runs.id))
      .limit(limit)
      .all()
      .map((r) => r.id);
  }

  nextDueAt(now: number): number | null {
    const row = this.db
      .select({ at: sql<number | null>`min(${runs.availableAt})` })
      .from(runs)
      .where(and(eq(runs.status, 'queued'), sql`${runs.availableAt} > ${now}`))
      .get();
    return row?.at ?? null;
  }

  size(): number {
    return this.db.select({ n: sql<number>`count(*)` }).from(runs).where(eq(runs.status, 'queued')).get()?.n ?? 0;
  }

  position(runId: number): number | null {
    const me = this.db.select({ status: runs.status, availableAt: runs.availableAt }).from(runs).where(eq(runs.id, runId)).get();
    if (!me || me.status !== 'queued') return null;
    const ahead = this.db
      .select({ n: sql<number>`count(*)` })
      .from(runs)
      .where(and(eq(runs.status, 'queued'), or(lt(runs.availableAt, me.availableAt), and(eq(runs.availableAt, me.availableAt), lt(runs.id, runId)))))
      .get();
    return (ahead?.n ?? 0) + 1;
  }
}
