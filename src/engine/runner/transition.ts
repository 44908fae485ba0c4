import { and, eq, inArray } from 'drizzle-orm';
import type { Db } from '../db/database.ts';
import { bots, runs, type RunRow } from '../db/schema.ts';
import type { EventBot, EventBus } from '../event-bus.ts';
import { assertNever, type FinalRunStatus, type RunStatus } from '../run-status.ts';

/** What the event of a transition into `S` needs beyond the row. */
export type TransitionExtra<S extends RunStatus> = S extends 'running' ? { pid: number } : S extends FinalRunStatus ? { newResults: number } : Record<never, never>;

/** Columns a transition may set beside the status. */
export type RunChanges = Partial<Omit<typeof runs.$inferInsert, 'id' | 'status' | 'botId'>>;

/**
 * Which attempt a transition out of `running` belongs to: the attempt number and, in a cluster, the
 * process that runs it. A transition with a fence changes nothing once the run was taken over
 * (queued again as the next attempt, or claimed by another process).
 */
export interface AttemptFence {
  attempt: number;
  /** `workers.id` of the process that runs it; null: no cluster (any process, there is one). */
  workerId: string | null;
}

/**
 * The one way a run's status changes: one conditional `UPDATE … WHERE id = ? AND status IN (from)`
 * (and, with a {@link AttemptFence}, `AND attempt = ? AND worker_id = ?`),
 * then one typed event (`run.queued`, `run.started`, `run.awaiting_approval` or `run.finished`) with the committed row,
 * delivered after the fact by the bus.
 * @returns the updated row, or null when the run was not in one of `from` (it moved elsewhere
 *   first, or does not exist); then nothing is announced.
 */
export async function transitionRun<S extends RunStatus>(
  res: { db: Db; bus: EventBus },
  runId: number,
  from: readonly RunStatus[],
  to: S,
  changes: RunChanges,
  extra: TransitionExtra<S>,
  fence?: AttemptFence,
): Promise<RunRow | null> {
  const fenced = fence ? and(eq(runs.attempt, fence.attempt), fence.workerId === null ? undefined : eq(runs.workerId, fence.workerId)) : undefined;
  const [row] = await res.db
    .update(runs)
    // A run queued again belongs to no process until one takes it (queue.ts, ClusterRunQueue).
    .set({ ...changes, ...(to === 'queued' ? { workerId: null } : {}), status: to })
    .where(and(eq(runs.id, runId), inArray(runs.status, [...from]), fenced))
    .returning();
  if (!row) return null;
  await announceRun(res, row, extra as TransitionExtra<RunStatus>);
  return row;
}

/** Announces a run row in its current status (a transition, or the insert of a new queued run). */
export async function announceRun(res: { db: Db; bus: EventBus }, row: RunRow, extra: TransitionExtra<RunStatus>): Promise<void> {
  const base = { runId: row.id, botId: row.botId, run: row, bot: await eventBot(res.db, row.botId) };
  const status = row.status;
  switch (status) {
    case 'queued':
      res.bus.emit('run.queued', { ...base, trigger: row.trigger });
      return;
    case 'running':
      res.bus.emit('run.started', { ...base, pid: (extra as TransitionExtra<'running'>).pid ?? -1 });
      return;
    case 'awaiting_approval':
      res.bus.emit('run.awaiting_approval', { ...base, draft: row.output ?? '' });
      return;
    case 'completed':
    case 'failed':
    case 'cancelled':
    case 'interrupted':
    case 'rejected':
      res.bus.emit('run.finished', { ...base, status, output: row.output, error: row.error, newResults: (extra as TransitionExtra<FinalRunStatus>).newResults ?? 0 });
      return;
    default:
      assertNever(status);
  }
}

/** The bot as events show it; a deleted bot is `#<id>`. */
export async function eventBot(db: Db, botId: number): Promise<EventBot> {
  const [b] = await db.select({ id: bots.id, name: bots.name, emoji: bots.emoji }).from(bots).where(eq(bots.id, botId));
  return b ?? { id: botId, name: `#${botId}`, emoji: '🤖' };
}
