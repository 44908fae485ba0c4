import { and, asc, eq, gt, sql } from 'drizzle-orm';
import type { Db } from '../db/database.ts';
import { runLogs, type RunLogRow } from '../db/schema.ts';
import type { EventBus } from '../event-bus.ts';

/** Longest log line kept, in characters; longer lines are cut and marked. */
export const MAX_LOG_LINE = 4000;

/**
 * A run's log: append-only rows `(run_id, seq)`, each published as `run.log`. Sequence numbers go
 * on across a run's attempts, so a reader resuming with `Last-Event-ID` never sees one twice.
 */
export class RunLogStore {
  /** Last sequence number per run that is being written now. */
  private readonly seqs = new Map<number, number>();

  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly now: () => number,
  ) {}

  /** Appends one line (CR and CRLF become LF; lines over {@link MAX_LOG_LINE} are cut). */
  append(runId: number, botId: number, stream: string, text: string): void {
    const plain = text.replace(/\r\n?/g, '\n');
    const line = plain.length > MAX_LOG_LINE ? plain.slice(0, MAX_LOG_LINE) + ' …[cut]' : plain;
    const seq = this.nextSeq(runId);
    const ts = this.now();
    this.db.insert(runLogs).values({ runId, seq, ts, stream, text: line }).run();
    this.bus.emit('run.log', { runId, botId, seq, ts, stream, text: line });
  }

  /** Forgets the run's cached sequence number (its attempt ended). */
  release(runId: number): void {
    this.seqs.delete(runId);
  }

  /** Lines with `seq > afterSeq`, in order, at most `limit`. */
  read(runId: number, afterSeq = 0, limit = 1000): RunLogRow[] {
    return this.db
      .select()
      .from(runLogs)
      .where(and(eq(runLogs.runId, runId), gt(runLogs.seq, afterSeq)))
      .orderBy(asc(runLogs.seq))
      .limit(limit)
      .all();
  }

  private nextSeq(runId: number): number {
    let seq = this.seqs.get(runId);
    if (seq === undefined) {
      seq = this.db.select({ max: sql<number | null>`max(${runLogs.seq})` }).from(runLogs).where(eq(runLogs.runId, runId)).get()?.max ?? 0;
    }
    seq++;
    this.seqs.set(runId, seq);
    return seq;
  }
}
