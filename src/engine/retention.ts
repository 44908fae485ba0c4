import { and, eq, inArray, isNotNull, lt, notInArray, sql, type SQL, type SQLWrapper } from 'drizzle-orm';
import type { Logger } from 'pino';
import { rowsChanged, transaction, type Db } from './db/database.ts';
import { events, results, runLogs, runs } from './db/schema.ts';
import { ACTIVE_RUN_STATUSES, FINAL_RUN_STATUSES } from './run-status.ts';

const DAY_MS = 86_400_000;
/** Rows deleted per statement; between two batches the event loop serves requests. */
export const PRUNE_BATCH_ROWS = 500;
/** How often history is pruned after the prune at start, in ms. */
export const PRUNE_INTERVAL_MS = 3_600_000;


/** What one prune removed. */
export interface PruneReport {
  /** Log lines older than the log retention (also those of removed runs). */
  logLines: number;
  /** Finished runs older than the run retention. */
  runs: number;
  /** Unpinned results of the removed runs. */
  results: number;
  /** Activity-feed entries older than the run retention. */
  events: number;
  /** Delete statements run; the event loop was free between any two of them. */
  batches: number;
}

/** Tuning of a {@link RetentionPruner}. */
export interface RetentionOptions {
  /** Finished runs (with their unpinned results and log lines) and activity older than this many days go; 0 keeps them. */
  runDays: number;
  /** Log lines older than this many days go; 0 keeps them (until their run goes). */
  logDays: number;
  /** Rows per delete statement (default {@link PRUNE_BATCH_ROWS}). */
  batchRows?: number;
  /** Pause between prunes in ms (default {@link PRUNE_INTERVAL_MS}). */
  intervalMs?: number;
  /** The clock, epoch ms (default `Date.now`). */
  now?: () => number;
}

/**
 * Keeps history in bounds: at start and then every hour it deletes log lines older than
 * `logDays`, finished runs older than `runDays` (by `finished_at`) with their remaining log lines
 * and unpinned results, and activity older than `runDays`. A run with a pinned result is kept,
 * and so is the result. Queued and running runs are never touched.
 *
 * Deletes go in batches of `batchRows` rows, each its own statement (and transaction), with a
 * `setImmediate` turn between them, so a prune of a million rows never holds the event loop for
 * more than one batch (the indexes of migration 0002 keep each batch from scanning a table).
 * SQLite reuses the freed pages; the file itself does not shrink (`VACUUM` does that).
 */
export class RetentionPruner {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<PruneReport> | undefined;
  private current: PruneReport | undefined;
  private stopped = false;
  private readonly batchRows: number;
  private readonly now: () => number;

  constructor(
    private readonly deps: { db: Db; log: Logger },
    private readonly opts: RetentionOptions,
  ) {
    this.batchRows = opts.batchRows ?? PRUNE_BATCH_ROWS;
    this.now = opts.now ?? Date.now;
  }

  /** Prunes now (in the background) and then every `intervalMs`. Idempotent. */
  start(): void {
    if (this.timer || (this.opts.runDays === 0 && this.opts.logDays === 0)) return;
    this.stopped = false;
    const tick = () => void this.prune().catch((err) => this.deps.log.error({ err }, 'pruning old runs failed'));
    tick();
    this.timer = setInterval(tick, this.opts.intervalMs ?? PRUNE_INTERVAL_MS);
    this.timer.unref();
  }

  /** Stops the schedule and waits for a prune under way to stop at its next batch. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => {});
  }

  /** The report of the prune under way (growing batch by batch), or undefined between prunes. */
  get progress(): Readonly<PruneReport> | undefined {
    return this.current;
  }

  /**
   * Prunes once. A call while a prune is under way returns that prune.
   * @returns what was removed.
   */
  prune(): Promise<PruneReport> {
    this.running ??= this.pruneAll().finally(() => {
      this.running = undefined;
      this.current = undefined;
    });
    return this.running;
  }

  private async pruneAll(): Promise<PruneReport> {
    const started = this.now();
    const report: PruneReport = { logLines: 0, runs: 0, results: 0, events: 0, batches: 0 };
    this.current = report;
    const { db } = this.deps;
    const n = this.batchRows;

    if (this.opts.logDays > 0) {
      const cutoff = started - this.opts.logDays * DAY_MS;
      const active = db.select({ id: runs.id }).from(runs).where(inArray(runs.status, ACTIVE_RUN_STATUSES));
      await this.batches(report, 'logLines', async () =>
        rowsChanged(await db.delete(runLogs).where(logLinesIn(db.select({ runId: runLogs.runId, seq: runLogs.seq }).from(runLogs).where(and(lt(runLogs.ts, cutoff), notInArray(runLogs.runId, active))).limit(n)))),
      );
    }

    if (this.opts.runDays > 0) {
      const cutoff = started - this.opts.runDays * DAY_MS;
      const pinned = db.select({ id: results.runId }).from(results).where(and(eq(results.pinned, true), isNotNull(results.runId)));
      for (;;) {
        if (this.stopped) return report;
        const ids = (
          await db
            .select({ id: runs.id })
            .from(runs)
            .where(and(lt(runs.finishedAt, cutoff), inArray(runs.status, FINAL_RUN_STATUSES), notInArray(runs.id, pinned)))
            .limit(n)
        ).map((r) => r.id);
        if (ids.length === 0) break;
        // Their log lines first, in batches, so deleting the runs cascades to nothing big.
        await this.batches(report, 'logLines', async () =>
          rowsChanged(await db.delete(runLogs).where(logLinesIn(db.select({ runId: runLogs.runId, seq: runLogs.seq }).from(runLogs).where(inArray(runLogs.runId, ids)).limit(n)))),
        );
        if (this.stopped) return report;
        await transaction(db, async (tx) => {
          report.results += rowsChanged(await tx.delete(results).where(and(inArray(results.runId, ids), eq(results.pinned, false))));
          report.runs += rowsChanged(await tx.delete(runs).where(inArray(runs.id, ids)));
        });
        report.batches++;
        await yieldToLoop();
        if (ids.length < n) break;
      }
      await this.batches(report, 'events', async () =>
        rowsChanged(await db.delete(events).where(inArray(events.id, db.select({ id: events.id }).from(events).where(lt(events.createdAt, cutoff)).limit(n)))),
      );
    }

    const removed = report.logLines + report.runs + report.results + report.events;
    if (removed > 0) this.deps.log.info({ ...report, ms: this.now() - started }, 'pruned old runs and log lines');
    return report;
  }

  /** Runs `deleteBatch` until it deletes fewer than a batch, yielding to the event loop after each. */
  private async batches(report: PruneReport, field: 'logLines' | 'events', deleteBatch: () => Promise<number>): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const changes = await deleteBatch();
      report[field] += changes;
      report.batches++;
      await yieldToLoop();
      if (changes < this.batchRows) return;
    }
  }
}

/**
 * Log lines whose primary key `(run_id, seq)` is among those `keys` selects (a sub-select with a
 * limit: one batch). Row values with IN work on SQLite (3.15+) and Postgres alike.
 */
function logLinesIn(keys: SQLWrapper): SQL {
  return sql`(${runLogs.runId}, ${runLogs.seq}) in ${keys}`;
}

/** Lets pending I/O (HTTP requests, IPC from run processes) run before the next batch. */
function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
