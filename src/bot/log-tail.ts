import { desc, eq, max } from 'drizzle-orm';
import { runLogs } from '../engine/db/schema.ts';
import type { Engine } from '../engine/engine.ts';

/**
 * The last `n` log lines of a run, oldest first, and how many it has: only the tail is read,
 * however long the log (`seq` numbers a run's lines 1, 2, 3 …).
 */
export async function logTail(engine: Engine, runId: number, n: number): Promise<{ lines: { stream: string; text: string }[]; total: number }> {
  const lines = (
    await engine.db
      .select({ stream: runLogs.stream, text: runLogs.text })
      .from(runLogs)
      .where(eq(runLogs.runId, runId))
      .orderBy(desc(runLogs.seq))
      .limit(n)
  ).reverse();
  const [last] = await engine.db.select({ last: max(runLogs.seq) }).from(runLogs).where(eq(runLogs.runId, runId));
  const total = last?.last ?? 0;
  return { lines, total };
}
