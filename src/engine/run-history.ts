import { and, count, desc, eq, gte, inArray, lt, lte, or, sql, type SQL } from 'drizzle-orm';
import type { Db } from './db/database.ts';
import { bots, runs, type RunRow } from './db/schema.ts';
import { AppError } from './errors.ts';
import { assertNever, type RunStatus } from './run-status.ts';
import type { RunRequest } from './runner/runner.ts';

/** The header's failures count looks back this far (ms): failed runs of the last 24 hours. */
export const RECENT_FAILURES_MS = 24 * 3600_000;

/** Most runs one page of {@link RunHistory.list} returns. */
export const MAX_RUN_PAGE = 200;

/** Which runs {@link RunHistory.list} returns; every field narrows, none set: all runs. */
export interface RunFilter {
  /** Runs of this bot only. */
  botId?: number;
  /** Runs of this user's bots only (`users.id`; see `readScope` in access.ts). */
  ownerId?: number;
  /** Runs in one of these statuses. */
  statuses?: readonly RunStatus[];
  /**
   * How the runs came to be: an exact origin (`manual`, `schedule`, `telegram:42`), or a kind
   * without its `:<who>` part (`trigger`, `pipeline`, `telegram`, …), which matches every origin
   * of that kind.
   */
  trigger?: string;
  /** Created at or after this time (epoch ms). */
  since?: number;
  /** Created at or before this time (epoch ms). */
  until?: number;
  /** A `nextCursor` from the previous page: the page after it. */
  cursor?: string;
  /** Page size, 1..{@link MAX_RUN_PAGE}. */
  limit: number;
}

/** A run with its bot's name and emoji, as the list of all runs shows it. */
export interface RunListItem extends RunRow {
  botName: string;
  botEmoji: string;
}

/** One page of runs, newest first; `nextCursor` is null on the last page. */
export interface RunPage {
  runs: RunListItem[];
  nextCursor: string | null;
}

/**
 * The history of all runs over every bot (n8n's "executions" list): filtered by bot, status,
 * origin and time, newest first, in pages. Pages are keyed on the run id (a cursor), so a page
 * never repeats or skips a run when new runs arrive in between.
 */
export class RunHistory {
  constructor(private readonly db: Db) {}

  /**
   * How many runs failed since `since` (epoch ms; default the last {@link RECENT_FAILURES_MS}), of
   * the bots of `ownerId` when given (the header's failures count, see `readScope` in access.ts).
   */
  async failedSince(since = Date.now() - RECENT_FAILURES_MS, ownerId?: number): Promise<number> {
    const where = [eq(runs.status, 'failed'), gte(runs.createdAt, since)];
    if (ownerId !== undefined) where.push(sql`${runs.botId} in (select id from bots where owner_id = ${ownerId})`);
    const [row] = await this.db.select({ n: count() }).from(runs).where(and(...where));
    return row?.n ?? 0;
  }

  /**
   * One page of runs matching `filter`, newest first.
   * @throws {AppError} VALIDATION_FAILED when `cursor` is not one this list gave out
   */
  async list(filter: RunFilter): Promise<RunPage> {
    const where: SQL[] = [];
    if (filter.botId !== undefined) where.push(eq(runs.botId, filter.botId));
    if (filter.ownerId !== undefined) where.push(eq(bots.ownerId, filter.ownerId));
    if (filter.statuses?.length) where.push(inArray(runs.status, [...filter.statuses]));
    if (filter.trigger) {
      const t = filter.trigger;
      const ofKind = sql`substr(${runs.trigger}, 1, ${t.length + 1}) = ${t + ':'}`;
      where.push(t.includes(':') ? eq(runs.trigger, t) : (or(eq(runs.trigger, t), ofKind) as SQL));
    }
    if (filter.since !== undefined) where.push(gte(runs.createdAt, filter.since));
    if (filter.until !== undefined) where.push(lte(runs.createdAt, filter.until));
    if (filter.cursor !== undefined) where.push(lt(runs.id, decodeCursor(filter.cursor)));
    const limit = Math.min(Math.max(Math.trunc(filter.limit), 1), MAX_RUN_PAGE);
    const rows = await this.db
      .select({ run: runs, botName: bots.name, botEmoji: bots.emoji })
      .from(runs)
      .innerJoin(bots, eq(bots.id, runs.botId))
      .where(where.length ? and(...where) : undefined)
      .orderBy(desc(runs.id))
      .limit(limit + 1);
    const page = rows.slice(0, limit).map((r) => ({ ...r.run, botName: r.botName, botEmoji: r.botEmoji }));
    return { runs: page, nextCursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null };
  }
}

/**
 * `true` for a run a person may retry: it ended without completing (failed, cancelled,
 * interrupted). An active run is still going; a completed one did its work.
 */
export function isRetryableRunStatus(status: RunStatus): boolean {
  switch (status) {
    case 'failed':
    case 'cancelled':
    case 'interrupted':
    case 'rejected':
      return true;
    case 'queued':
    case 'running':
    case 'awaiting_approval':
    case 'completed':
      return false;
    default:
      return assertNever(status);
  }
}

/**
 * The request for a retry of `run`: the same bot (the caller's), the same input, linked to `run`
 * by `retryOf`; started by a person (`manual`), at the same chain depth so a retried chain hop
 * still counts toward the loop limit.
 * @throws {AppError} RUN_NOT_RETRYABLE when the run is still active or completed
 */
export function retryRequest(run: RunRow): RunRequest {
  if (!isRetryableRunStatus(run.status)) {
    throw new AppError('RUN_NOT_RETRYABLE', `Run #${run.id} is ${run.status}: only a failed, cancelled, interrupted or rejected run can be retried.`);
  }
  return { input: run.input, trigger: 'manual', retryOf: run.id, chainDepth: run.chainDepth };
}

/** An opaque page cursor for "runs older than `id`". */
function encodeCursor(id: number): string {
  return Buffer.from(`r${id}`).toString('base64url');
}

/** @throws {AppError} VALIDATION_FAILED for anything {@link encodeCursor} did not write */
function decodeCursor(cursor: string): number {
  const raw = /^[A-Za-z0-9_-]{1,40}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('latin1') : '';
  const m = /^r(\d{1,15})$/.exec(raw);
  if (!m) throw new AppError('VALIDATION_FAILED', 'cursor is not one this list gave out (pass next_cursor from the previous page).', { fields: [{ field: 'cursor', message: 'unknown cursor' }] });
  return Number(m[1]);
}
