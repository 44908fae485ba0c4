import { and, asc, count, desc, eq, inArray, lte, min, ne, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import { z } from 'zod';
import { validationError } from './bots.ts';
import { rowsChanged, transaction, type Db } from './db/database.ts';
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
  /** Expiry checks and timer arming, one after another. */
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly deps: ApprovalDeps) {
    this.now = deps.now ?? Date.now;
    this.logs = new RunLogStore(deps.db, deps.bus, this.now);
  }

  /**
   * Expires drafts whose time ran out while the process was down, then listens: a new draft arms
   * the expiry timer and is announced in the activity feed; a run that ends otherwise while it
   * waits (cancelled, its bot deleted) closes its approval as `cancelled`. Idempotent.
   */
  async start(): Promise<void> {
    if (this.offs.length > 0) return;
    this.offs.push(
      this.deps.bus.on('run.awaiting_approval', async (e) => {
        const a = await this.byRun(e.runId);
        const where = e.run.pipelineRunId != null ? ` (pipeline step ${(e.run.pipelineStep ?? 0) + 1})` : '';
        this.deps.bus.emit('notice', {
          botId: e.botId,
          runId: e.runId,
          kind: 'approval.requested',
          message: `‖ ${e.bot.emoji} ${e.bot.name}: run #${e.runId}'s draft waits for approval${where}${a ? ` — approval #${a.id}` : ''}`,
          level: 'warn',
        });
        await this.arm();
      }),
      // A draft held on another process of a cluster: this one's timer covers it too (expiry is one conditional update).
      this.deps.bus.on('run.awaiting_approval', () => this.arm(), { remote: true }),
      this.deps.bus.on('run.finished', async (e) => {
        if (e.status === 'completed' || e.status === 'rejected') return;
        const [r] = await this.deps.db
          .update(approvals)
          .set({ status: 'cancelled', decidedAt: this.now(), reason: e.error ?? e.status })
          .where(and(eq(approvals.runId, e.runId), eq(approvals.status, 'pending')))
          .returning();
        if (r) this.deps.bus.emit('approval.decided', { approvalId: r.id, runId: r.runId, botId: r.botId, status: 'cancelled', decidedBy: null });
      }),
    );
    const expired = await this.expireDue();
    if (expired > 0) this.deps.log.info({ expired }, 'drafts that expired while the process was down were rejected');
    await this.arm();
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
  async list(filter: { status?: ApprovalStatus | 'decided'; botId?: number; limit?: number; ownerId?: number } = {}): Promise<ApprovalView[]> {
    const conds = [];
    if (filter.ownerId !== undefined) conds.push(ownedBy(filter.ownerId));
    if (filter.status === 'decided') conds.push(ne(approvals.status, 'pending'));
    else if (filter.status) conds.push(eq(approvals.status, filter.status));
    if (filter.botId !== undefined) conds.push(eq(approvals.botId, filter.botId));
    const rows = await this.deps.db
      .select()
      .from(approvals)
      .where(conds.length ? and(...conds) : undefined)
      .orderBy(desc(approvals.id))
      .limit(Math.min(Math.max(filter.limit ?? 100, 1), 500));
    return await this.views(rows);
  }

  /** How many drafts wait for a decision (the dashboard's bell); with `ownerId`, on that user's bots only. */
  async pendingCount(ownerId?: number): Promise<number> {
    const pending = eq(approvals.status, 'pending');
    const [row] = await this.deps.db.select({ n: count() }).from(approvals).where(ownerId === undefined ? pending : and(pending, ownedBy(ownerId)));
    return row?.n ?? 0;
  }

  /** @throws {AppError} APPROVAL_NOT_FOUND */
  async get(id: number): Promise<ApprovalView> {
    return (await this.views([await this.row(id)]))[0]!;
  }

  /** The approval of a run, if it required one. */
  async byRun(runId: number): Promise<ApprovalRow | undefined> {
    const [row] = await this.deps.db.select().from(approvals).where(eq(approvals.runId, runId)).limit(1);
    return row;
  }

  /**
   * Approves a draft: the run becomes `completed` with `text` (the person's edit) or else the draft
   * as its output; the results it held are recorded, and a plain answer (a run that used no tool)
   * is recorded as its one result, the approved text. What fires on a completed run fires then.
   * @param input `{text?}`; see {@link approveInputSchema}.
   * @throws {AppError} APPROVAL_NOT_FOUND, VALIDATION_FAILED, APPROVAL_DECIDED (already decided,
   *   expired meanwhile, or its run no longer waits)
   */
  async approve(id: number, input: unknown, by: Decider): Promise<ApprovalView> {
    const parsed = approveInputSchema.safeParse(input);
    if (!parsed.success) throw validationError(parsed.error);
    const a = await this.pending(id);
    const text = parsed.data?.text ?? a.draft;
    const edited = text !== a.draft;
    const now = this.now();
    let newResults = 0;
    const won = await transaction(this.deps.db, async (tx) => {
      if (!(await this.claim(tx, a, { status: 'approved', finalText: text, edited, decidedBy: by, decidedAt: now }))) return false;
      for (const item of a.heldResults) if ((await this.deps.results.record(a.botId, a.runId, item)).isNew) newResults++;
      if (a.answerIsResult && text.trim() && (await this.deps.results.record(a.botId, a.runId, outputAsResult(text))).isNew) newResults++;
      const found = a.heldResults.length + (a.answerIsResult && text.trim() ? 1 : 0);
      await this.logs.append(a.runId, a.botId, 'system', `approved by ${by}${edited ? ' (edited)' : ''}${found ? ` · ${found} result${found === 1 ? '' : 's'} found, ${newResults} new` : ''}`);
      await this.logs.release(a.runId);
      const run = await transitionRun({ ...this.deps, db: tx }, a.runId, ['awaiting_approval'], 'completed', { output: text, finishedAt: now }, { newResults });
      if (!run) throw new AppError('APPROVAL_DECIDED', `Run #${a.runId} no longer waits for approval.`);
      return true;
    });
    if (!won) throw this.alreadyDecided(await this.row(a.id));
    await this.decided(a, 'approved', by, `✓ ${await this.botName(a)}: run #${a.runId} approved by ${by}${edited ? ' (edited)' : ''}`, 'success');
    return await this.get(id);
  }

  /**
   * Rejects a draft with a reason: the run becomes `rejected` (its error says why and who);
   * nothing downstream fires and no result is recorded.
   * @param input `{reason}`; see {@link rejectInputSchema}.
   * @throws {AppError} APPROVAL_NOT_FOUND, VALIDATION_FAILED, APPROVAL_DECIDED
   */
  async reject(id: number, input: unknown, by: Decider): Promise<ApprovalView> {
    const parsed = rejectInputSchema.safeParse(input ?? {});
    if (!parsed.success) throw validationError(parsed.error);
    const a = await this.pending(id);
    await this.end(a, 'rejected', by, parsed.data.reason, `rejected by ${by}: ${parsed.data.reason}`);
    await this.decided(a, 'rejected', by, `⊘ ${await this.botName(a)}: run #${a.runId} rejected by ${by} — ${parsed.data.reason}`, 'warn');
    return await this.get(id);
  }

  /**
   * Rejects, as expired, every pending draft whose `expires_at` has passed (the timer and the start
   * call this).
   * @returns how many expired.
   */
  async expireDue(): Promise<number> {
    const now = this.now();
    const due = await this.deps.db.select().from(approvals).where(and(eq(approvals.status, 'pending'), lte(approvals.expiresAt, now))).orderBy(asc(approvals.id));
    let n = 0;
    for (const a of due) {
      try {
        const limit = formatSeconds(Math.round((a.expiresAt - a.createdAt) / 1000));
        await this.end(a, 'expired', 'timeout', `not decided within ${limit}`, `expired: not decided within ${limit}`);
        await this.decided(a, 'expired', 'timeout', `⊘ ${await this.botName(a)}: run #${a.runId}'s draft expired (not decided within ${limit})`, 'warn');
        n++;
      } catch (err) {
        if (!(err instanceof AppError && err.code === 'APPROVAL_DECIDED')) this.deps.log.error({ err, approvalId: a.id }, 'could not expire a draft');
      }
    }
    return n;
  }

  /** Ends a pending approval and its run as rejected (by a person, or expired). */
  private async end(a: ApprovalRow, status: 'rejected' | 'expired', by: Decider, reason: string, runError: string): Promise<void> {
    const now = this.now();
    const won = await transaction(this.deps.db, async (tx) => {
      if (!(await this.claim(tx, a, { status, reason, decidedBy: by, decidedAt: now }))) return false;
      await this.logs.append(a.runId, a.botId, 'system', runError);
      await this.logs.release(a.runId);
      const run = await transitionRun({ ...this.deps, db: tx }, a.runId, ['awaiting_approval'], 'rejected', { error: runError, finishedAt: now }, { newResults: 0 });
      if (!run) throw new AppError('APPROVAL_DECIDED', `Run #${a.runId} no longer waits for approval.`);
      return true;
    });
    if (!won) throw this.alreadyDecided(await this.row(a.id));
  }

  /**
   * The one conditional update that decides: whoever moves it out of `pending` first wins.
   * @returns false when another decision came first; the caller's transaction then ends without a
   *   rollback (it wrote nothing), so statements of other flows that joined it on SQLite stay.
   */
  private async claim(tx: Db, a: ApprovalRow, set: Partial<typeof approvals.$inferInsert>): Promise<boolean> {
    const r = await tx
      .update(approvals)
      .set(set)
      .where(and(eq(approvals.id, a.id), eq(approvals.status, 'pending')));
    return rowsChanged(r) === 1;
  }

  /** A pending approval; one past its expiry is expired now. @throws {AppError} APPROVAL_NOT_FOUND, APPROVAL_DECIDED */
  private async pending(id: number): Promise<ApprovalRow> {
    const a = await this.row(id);
    if (a.status !== 'pending') throw this.alreadyDecided(a);
    if (a.expiresAt <= this.now()) {
      await this.expireDue();
      throw this.alreadyDecided(await this.row(id));
    }
    return a;
  }

  private alreadyDecided(a: ApprovalRow): AppError {
    const who = a.decidedBy && a.decidedBy !== 'timeout' ? ` by ${a.decidedBy}` : '';
    const when = a.decidedAt ? ` at ${new Date(a.decidedAt).toISOString()}` : '';
    return new AppError('APPROVAL_DECIDED', `Approval #${a.id} was already decided: ${a.status}${who}${when}.`, { status: a.status, decided_by: a.decidedBy });
  }

  private async decided(a: ApprovalRow, status: 'approved' | 'rejected' | 'expired', by: Decider, message: string, level: 'success' | 'warn'): Promise<void> {
    this.deps.bus.emit('approval.decided', { approvalId: a.id, runId: a.runId, botId: a.botId, status, decidedBy: by });
    this.deps.bus.emit('notice', { botId: a.botId, runId: a.runId, kind: `approval.${status}`, message, level });
    await this.arm();
  }

  /**
   * Arms the timer for the next pending expiry (at most {@link MAX_TIMER_MS} ahead; it re-arms then).
   * Calls take turns, so the timer left armed is the one for the latest state.
   */
  private arm(): Promise<void> {
    const out = this.chain.then(() => this.armNow());
    this.chain = out.catch((err: unknown) => this.deps.log.error({ err }, 'could not arm the approval expiry timer'));
    return out;
  }

  private async armNow(): Promise<void> {
    if (this.offs.length === 0) return;
    const [row] = await this.deps.db.select({ at: min(approvals.expiresAt) }).from(approvals).where(eq(approvals.status, 'pending'));
    if (this.offs.length === 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const next = row?.at;
    if (next == null) return;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        void this.expireDue()
          .then(() => this.arm())
          .catch((err: unknown) => this.deps.log.error({ err }, 'could not expire drafts'));
      },
      Math.min(Math.max(0, next - this.now()), MAX_TIMER_MS),
    );
    this.timer.unref();
  }

  private async row(id: number, db: Db = this.deps.db): Promise<ApprovalRow> {
    const [row] = Number.isSafeInteger(id) ? await db.select().from(approvals).where(eq(approvals.id, id)) : [];
    if (!row) throw new AppError('APPROVAL_NOT_FOUND', `No approval with id ${id}.`);
    return row;
  }

  private async botName(a: ApprovalRow): Promise<string> {
    const b = await eventBot(this.deps.db, a.botId);
    return `${b.emoji} ${b.name}`;
  }

  private async views(rows: ApprovalRow[]): Promise<ApprovalView[]> {
    if (rows.length === 0) return [];
    const runRows = new Map((await this.deps.db.select().from(runs).where(inArray(runs.id, rows.map((r) => r.runId)))).map((r) => [r.id, r]));
    const prIds = [...new Set([...runRows.values()].flatMap((r) => (r.pipelineRunId == null ? [] : [r.pipelineRunId])))];
    const prs = new Map(
      prIds.length
        ? (
            await this.deps.db
              .select({ id: pipelineRuns.id, pipelineId: pipelineRuns.pipelineId, steps: pipelineRuns.steps, name: pipelines.name })
              .from(pipelineRuns)
              .innerJoin(pipelines, eq(pipelines.id, pipelineRuns.pipelineId))
              .where(inArray(pipelineRuns.id, prIds))
          ).map((p) => [p.id, p])
        : [],
    );
    const out: ApprovalView[] = [];
    for (const a of rows) {
      const run = runRows.get(a.runId)!;
      const pr = run.pipelineRunId != null ? prs.get(run.pipelineRunId) : undefined;
      out.push({
        ...a,
        status: a.status as ApprovalStatus,
        bot: await eventBot(this.deps.db, a.botId),
        run,
        pipeline: pr ? { id: pr.pipelineId, name: pr.name, pipelineRunId: pr.id, step: (run.pipelineStep ?? 0) + 1, totalSteps: pr.steps.length } : null,
      });
    }
    return out;
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
