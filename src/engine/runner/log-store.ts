import { and, asc, eq, gt, max } from 'drizzle-orm';
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
  /** Per run, the last write under way: a run's lines are written one after another, in call order. */
  private readonly tails = new Map<number, Promise<void>>();

  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly now: () => number,
  ) {}

  /**
   * Appends one line (CR and CRLF become LF; lines over {@link MAX_LOG_LINE} are cut). Lines of one
   * run are stored in call order, even when the caller does not wait for the previous one.
   */
  append(runId: number, botId: number, stream: string, text: string): Promise<void> {
    const plain = text.replace(/\r\n?/g, '\n');
    const line = plain.length > MAX_LOG_LINE ? plain.slice(0, MAX_LOG_LINE) + ' …[cut]' : plain;
    const ts = this.now();
    return this.inTurn(runId, async () => {
      const seq = await this.nextSeq(runId);
      await this.db.insert(runLogs).values({ runId, seq, ts, stream, text: line });
      this.bus.emit('run.log', { runId, botId, seq, ts, stream, text: line });
    });
  }

  /**
   * Forgets the run's cached sequence number (its attempt ended) once the lines appended so far
   * are written; resolves then, so a caller that awaits it before changing the run's status has
   * every line stored first.
   */
  release(runId: number): Promise<void> {
    return this.inTurn(runId, async () => {
      this.seqs.delete(runId);
    }).catch(() => {});
  }

  /** Runs `fn` after the run's writes under way; the chain goes on past a failure (the caller hears of it). */
  private inTurn(runId: number, fn: () => Promise<void>): Promise<void> {
    const out = (this.tails.get(runId) ?? Promise.resolve()).then(fn);
    const tail = out.catch(() => {});
    this.tails.set(runId, tail);
    void tail.then(() => {
      if (this.tails.get(runId) === tail) this.tails.delete(runId);
    });
    return out;
  }

  /** Lines with `seq > afterSeq`, in order, at most `limit`. */
  async read(runId: number, afterSeq = 0, limit = 1000): Promise<RunLogRow[]> {
    return await this.db
      .select()
      .from(runLogs)
      .where(and(eq(runLogs.runId, runId), gt(runLogs.seq, afterSeq)))
      .orderBy(asc(runLogs.seq))
      .limit(limit);
  }

  private async nextSeq(runId: number): Promise<number> {
    let seq = this.seqs.get(runId);
    if (seq === undefined) {
      const [row] = await this.db.select({ max: max(runLogs.seq) }).from(runLogs).where(eq(runLogs.runId, runId));
      seq = row?.max ?? 0;
    }
    seq++;
    this.seqs.set(runId, seq);
    return seq;
  }
}
