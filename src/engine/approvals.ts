import { and, asc, desc, eq, inArray, lte, ne, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import { z } from 'zod';
import { validationError } from './bots.ts';
import type { Db } from './db/database.ts';
import { approvals, pipelineRuns, pipelines, runs, type ApprovalRow, type RunRow } from './db/schema.ts';
import { AppError } from './errors.ts';
import type { EventBot, EventBus } from './event-bus.ts';
import type { ResultService } from './results.ts';
import { outputAsResult } from './runner/finalizer.ts';
import { RunLogStore } from './runner/log-store.ts';
import { eventBot, transitionRun } from './runner/transition.ts';

/**
 * An approval's lifecycle (one per run that required approval):
 *
 *   pending ──► approved    (a person approved the draft, maybe edited: the run is `completed`)
 *      ├──────► rejected    (a person rejected it with a reason: the run is `rejected`)
 *      ├──────► expired     (nobody decided within the bot's approval_timeout_s: the run is `rejected`)
 *      └──────► cancelled   (the run was cancelled, or its bot deleted, while it waited)
 */
export const APPROVAL_STATUSES = ['pending', 'approved', 'rejected', 'expired', 'cancelled'] as const;

/** One of {@link APPROVAL_STATUSES}. */
export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number];

/** Longest text a person may approve (an edited draft), in characters. */
export const MAX_APPROVED_TEXT = 100_000;

/** What a person sends to approve: the text to approve instead of the draft, if they edited it. */
export const approveInputSchema = z
  .object({ text: z.string({ error: 'text must be a string' }).max(MAX_APPROVED_TEXT, `text must be at most ${MAX_APPROVED_TEXT} characters`).optional() })
  .nullable()
  .optional();

/** What a person sends to reject: why (shown to whoever reads the run). */
export const rejectInputSchema = z.object({
  reason: z.string({ error: 'reason is required' }).trim().min(1, 'reason is required').max(2000, 'reason must be at most 2000 characters'),
});

/** An approval with its bot, its run and, for a pipeline step, its pipeline. */
export interface ApprovalView extends ApprovalRow {
  status: ApprovalStatus;
  bot: EventBot;
  run: RunRow;
  /** The pipeline run the draft holds up, when the run is a pipeline step. */
  pipeline: { id: number; name: string; pipelineRunId: number; step: number; totalSteps: number } | null;
}

/** The resources approvals work with. */
export interface ApprovalDeps {
  db: Db;
  bus: EventBus;
  results: ResultService;
  log: Logger;
  /** Epoch ms; injected so tests can move time past a draft's expiry. */
  now?: () => number;
}

/** Who decides, as recorded: `dashboard`, `api`, `telegram:<user id>`, `discord:<user id>`. */
export type Decider = string;

/** Longest a Node.js timer may wait (about 24.8 days); a later expiry re-arms on the way. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Approvals (seed 001's Support-Bot: "writes an answer draft; the user reviews it in the dashboard
 * → release"): a run of a bot (or pipeline step) that requires approval ends its attempt as
 * `awaiting_approval` holding its draft (see runner/finalizer.ts). Here a person approves it
 * (optionally with an edited text) — the run becomes `completed` with the approved text as output,
 * its held results are recorded, and then, hearing `run.finished`, notifications, connections and
 * the next pipeline step fire — or rejects it with a reason (`rejected`: nothing fires). A draft
 * nobody decides within its bot's `approval_timeout_s` is rejected as expired: by a timer armed for
 * the next expiry, and by a check at start for drafts that expired while the process was down.
 */
export class ApprovalService {
  private readonly now: () => number;
  private readonly logs: RunLogStore;
  private offs: (() => void)[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: ApprovalDeps) {
    this.now = deps.now ?? Date.now;
    this.logs = new RunLogStore(deps.db, deps.bus, this.now);
  }

  /**
   * Expires drafts whose time ran out while the process was down, then listens: a new draft arms
   * the expiry timer and is announced in the activity feed; a run that ends otherwise while it
   * waits (cancelled, its bot deleted) closes its approval as `cancelled`. Idempotent.
   */
  start(): void {
    if (this.offs.length > 0) return;
    this.offs.push(
      this.deps.bus.on('run.awaiting_approval', (e) => {
        const a = this.byRun(e.runId);
        const where = e.run.pipelineRunId != null ? ` (pipeline step ${(e.run.pipelineStep ?? 0) + 1})` : '';
        this.deps.bus.emit('notice', {
          botId: e.botId,
          runId: e.runId,
          kind: 'approval.requested',
          message: `‖ ${e.bot.emoji} ${e.bot.name}: run #${e.runId}'s draft waits for approval${where}${a ? ` — approval #${a.id}` : ''}`,
          level: 'warn',
        });
        this.arm();
      }),
      this.deps.bus.on('run.finished', (e) => {
        if (e.status === 'completed' || e.status === 'rejected') return;
        const r = this.deps.db
          .update(approvals)
          .set({ status: 'cancelled', decidedAt: this.now(), reason: e.error ?? e.status })
          .where(and(eq(approvals.runId, e.runId), eq(approvals.status, 'pending')))
          .returning()
          .get();
        if (r) this.deps.bus.emit('approval.decided', { approvalId: r.id, runId: r.runId, botId: r.botId, status: 'cancelled', decidedBy: null });
      }),
    );
    const expired = this.expireDue();
    if (expired > 0) this.deps.log.info({ expired }, 'drafts that expired while the process was down were rejected');
    this.arm();
  }

  /** Stops listening and disarms the expiry timer. */
  stop(): void {
    for (const off of this.offs.splice(0)) off();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /**
   * Approvals, newest first: `pending` (what waits, the inbox), `decided` (everything else), or
   * one status; all when none is given. At most `limit` (1..500).
   */
  list(filter: { status?: ApprovalStatus | 'decided'; botId?: number; limit?: number; ownerId?: number } = {}): ApprovalView[] {
    const conds = [];
    if (filter.ownerId !== undefined) conds.push(ownedBy(filter.ownerId));
    if (filter.status === 'decided') conds.push(ne(approvals.status, 'pending'));
    else if (filter.status) conds.push(eq(approvals.status, filter.status));
    if (filter.botId !== undefined) conds.push(eq(approvals.botId, filter.botId));
    const rows = this.deps.db
      .select()
      .from(approvals)
      .where(conds.length ? and(...conds) : undefined)
      .orderBy(desc(approvals.id))
      .limit(Math.min(Math.max(filter.limit ?? 100, 1), 500))
      .all();
    return this.views(rows);
  }

  /** How many drafts wait for a decision (the dashboard's bell); with `ownerId`, on that user's bots only. */
  pendingCount(ownerId?: number): number {
    const pending = eq(approvals.status, 'pending');
    return this.deps.db.select({ n: sql<number>`count(*)` }).from(approvals).where(ownerId === undefined ? pending : and(pending, ownedBy(ownerId))).get()?.n ?? 0;
  }

  /** @throws {AppError} APPROVAL_NOT_FOUND */
  get(id: number): ApprovalView {
    return this.views([this.row(id)])[0]!;
  }

  /** The approval of a run, if it required one. */
  byRun(runId: number): ApprovalRow | undefined {
    return this.deps.db.select().from(approvals).where(eq(approvals.runId, runId)).get();
  }

  /**
   * Approves a draft: the run becomes `completed` with `text` (the person's edit) or else the draft
   * as its output; the results it held are recorded, and a plain answer (a run that used no tool)
   * is recorded as its one result, the approved text. What fires on a completed run fires then.
   * @param input `{text?}`; see {@link approveInputSchema}.
   * @throws {AppError} APPROVAL_NOT_FOUND, VALIDATION_FAILED, APPROVAL_DECIDED (already decided,
   *   expired meanwhile, or its run no longer waits)
   */
  approve(id: number, input: unknown, by: Decider): ApprovalView {
    const parsed = approveInputSchema.safeParse(input);
    if (!parsed.success) throw validationError(parsed.error);
    const a = this.pending(id);
    const text = parsed.data?.text ?? a.draft;
    const edited = text !== a.draft;
    const now = this.now();
    let newResults = 0;
    this.deps.db.transaction(() => {
      this.claim(a, { status: 'approved', finalText: text, edited, decidedBy: by, decidedAt: now });
      for (const item of a.heldResults) if (this.deps.results.record(a.botId, a.runId, item).isNew) newResults++;
      if (a.answerIsResult && text.trim() && this.deps.results.record(a.botId, a.runId, outputAsResult(text)).isNew) newResults++;
      const found = a.heldResults.length + (a.answerIsResult && text.trim() ? 1 : 0);
      this.logs.append(a.runId, a.botId, 'system', `approved by ${by}${edited ? ' (edited)' : ''}${found ? ` · ${found} result${found === 1 ? '' : 's'} found, ${newResults} new` : ''}`);
      this.logs.release(a.runId);
      const run = transitionRun(this.deps, a.runId, ['awaiting_approval'], 'completed', { output: text, finishedAt: now }, { newResults });
      if (!run) throw new AppError('APPROVAL_DECIDED', `Run #${a.runId} no longer waits for approval.`);
    });
    this.decided(a, 'approved', by, `✓ ${this.botName(a)}: run #${a.runId} approved by ${by}${edited ? ' (edited)' : ''}`, 'success');
    return this.get(id);
  }

  /**
   * Rejects a draft with a reason: the run becomes `rejected` (its error says why and who);
   * nothing downstream fires and no result is recorded.
   * @param input `{reason}`; see {@link rejectInputSchema}.
   * @throws {AppError} APPROVAL_NOT_FOUND, VALIDATION_FAILED, APPROVAL_DECIDED
   */
  reject(id: number, input: unknown, by: Decider): ApprovalView {
    const parsed = rejectInputSchema.safeParse(input ?? {});
    if (!parsed.success) throw validationError(parsed.error);
    const a = this.pending(id);
    this.end(a, 'rejected', by, parsed.data.reason, `rejected by ${by}: ${parsed.data.reason}`);
    this.decided(a, 'rejected', by, `⊘ ${this.botName(a)}: run #${a.runId} rejected by ${by} — ${parsed.data.reason}`, 'warn');
    return this.get(id);
  }

  /**
   * Rejects, as expired, every pending draft whose `expires_at` has passed (the timer and the start
   * call this).
   * @returns how many expired.
   */
  expireDue(): number {
    const now = this.now();
    const due = this.deps.db.select().from(approvals).where(and(eq(approvals.status, 'pending'), lte(approvals.expiresAt, now))).orderBy(asc(approvals.id)).all();
    let n = 0;
    for (const a of due) {
      try {
        const limit = formatSeconds(Math.round((a.expiresAt - a.createdAt) / 1000));
        this.end(a, 'expired', 'timeout', `not decided within ${limit}`, `expired: not decided within ${limit}`);
        this.decided(a, 'expired', 'timeout', `⊘ ${this.botName(a)}: run #${a.runId}'s draft expired (not decided within ${limit})`, 'warn');
        n++;
      } catch (err) {
        if (!(err instanceof AppError && err.code === 'APPROVAL_DECIDED')) this.deps.log.error({ err, approvalId: a.id }, 'could not expire a draft');
      }
    }
    return n;
  }

  /** Ends a pending approval and its run as rejected (by a person, or expired). */
  private end(a: ApprovalRow, status: 'rejected' | 'expired', by: Decider, reason: string, runError: string): void {
    const now = this.now();
    this.deps.db.transaction(() => {
      this.claim(a, { status, reason, decidedBy: by, decidedAt: now });
      this.logs.append(a.runId, a.botId, 'system', runError);
      this.logs.release(a.runId);
      const run = transitionRun(this.deps, a.runId, ['awaiting_approval'], 'rejected', { error: runError, finishedAt: now }, { newResults: 0 });
      if (!run) throw new AppError('APPROVAL_DECIDED', `Run #${a.runId} no longer waits for approval.`);
    });
  }

  /** The one conditional update that decides: whoever moves it out of `pending` first wins. */
  private claim(a: ApprovalRow, set: Partial<typeof approvals.$inferInsert>): void {
    const r = this.deps.db
      .update(approvals)
      .set(set)
      .where(and(eq(approvals.id, a.id), eq(approvals.status, 'pending')))
      .run();
    if (r.changes !== 1) throw this.alreadyDecided(this.row(a.id));
  }

  /** A pending approval; one past its expiry is expired now. @throws {AppError} APPROVAL_NOT_FOUND, APPROVAL_DECIDED */
  private pending(id: number): ApprovalRow {
    const a = this.row(id);
    if (a.status !== 'pending') throw this.alreadyDecided(a);
    if (a.expiresAt <= this.now()) {
      this.expireDue();
      throw this.alreadyDecided(this.row(id));
    }
    return a;
  }

  private alreadyDecided(a: ApprovalRow): AppError {
    const who = a.decidedBy && a.decidedBy !== 'timeout' ? ` by ${a.decidedBy}` : '';
    const when = a.decidedAt ? ` at ${new Date(a.decidedAt).toISOString()}` : '';
    return new AppError('APPROVAL_DECIDED', `Approval #${a.id} was already decided: ${a.status}${who}${when}.`, { status: a.status, decided_by: a.decidedBy });
  }

  private decided(a: ApprovalRow, status: 'approved' | 'rejected' | 'expired', by: Decider, message: string, level: 'success' | 'warn'): void {
    this.deps.bus.emit('approval.decided', { approvalId: a.id, runId: a.runId, botId: a.botId, status, decidedBy: by });
    this.deps.bus.emit('notice', { botId: a.botId, runId: a.runId, kind: `approval.${status}`, message, level });
    this.arm();
  }

  /** Arms the timer for the next pending expiry (at most {@link MAX_TIMER_MS} ahead; it re-arms then). */
  private arm(): void {
    if (this.offs.length === 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const next = this.deps.db.select({ at: sql<number | null>`min(${approvals.expiresAt})` }).from(approvals).where(eq(approvals.status, 'pending')).get()?.at;
    if (next == null) return;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.expireDue();
        this.arm();
      },
      Math.min(Math.max(0, next - this.now()), MAX_TIMER_MS),
    );
    this.timer.unref();
  }

  private row(id: number): ApprovalRow {
    const row = Number.isSafeInteger(id) ? this.deps.db.select().from(approvals).where(eq(approvals.id, id)).get() : undefined;
    if (!row) throw new AppError('APPROVAL_NOT_FOUND', `No approval with id ${id}.`);
    return row;
  }

  private botName(a: ApprovalRow): string {
    const b = eventBot(this.deps.db, a.botId);
    return `${b.emoji} ${b.name}`;
  }

  private views(rows: ApprovalRow[]): ApprovalView[] {
    if (rows.length === 0) return [];
    const runRows = new Map(this.deps.db.select().from(runs).where(inArray(runs.id, rows.map((r) => r.runId))).all().map((r) => [r.id, r]));
    const prIds = [...new Set([...runRows.values()].flatMap((r) => (r.pipelineRunId == null ? [] : [r.pipelineRunId])))];
    const prs = new Map(
      prIds.length
        ? this.deps.db
            .select({ id: pipelineRuns.id, pipelineId: pipelineRuns.pipelineId, steps: pipelineRuns.steps, name: pipelines.name })
            .from(pipelineRuns)
            .innerJoin(pipelines, eq(pipelines.id, pipelineRuns.pipelineId))
            .where(inArray(pipelineRuns.id, prIds))
            .all()
            .map((p) => [p.id, p])
        : [],
    );
    return rows.map((a) => {
      const run = runRows.get(a.runId)!;
      const pr = run.pipelineRunId != null ? prs.get(run.pipelineRunId) : undefined;
      return {
        ...a,
        status: a.status as ApprovalStatus,
        bot: eventBot(this.deps.db, a.botId),
        run,
        pipeline: pr ? { id: pr.pipelineId, name: pr.name, pipelineRunId: pr.id, step: (run.pipelineStep ?? 0) + 1, totalSteps: pr.steps.length } : null,
      };
    });
  }
}

/** Approvals of the bots of `ownerId`. */
function ownedBy(ownerId: number) {
  return sql`${approvals.botId} in (select id from bots where owner_id = ${ownerId})`;
}

/** `24 h`, `90 min`, `45 s`. */
export function formatSeconds(s: number): string {
  if (s % 3600 === 0) return `${s / 3600} h`;
  if (s >= 60 && s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}
