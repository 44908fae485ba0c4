import { and, desc, eq, inArray } from 'drizzle-orm';
import type { Logger } from 'pino';
import { z } from 'zod';
import { nameKey, validationError, type BotService } from './bots.ts';
import type { Db } from './db/database.ts';
import { bots, pipelineRuns, pipelines, runs, type BotRow, type PipelineRow, type PipelineRunRow, type RunRow } from './db/schema.ts';
import { AppError } from './errors.ts';
import type { EventBus } from './event-bus.ts';
import { assertNever, isFinalRunStatus, type FinalRunStatus, type RunStatus } from './run-status.ts';
import type { Runner } from './runner/runner.ts';
import { parseScheduleSpec } from './schedule-spec.ts';
import { botRefSchema, resolveBotRef } from './triggers.ts';

/**
 * Pipeline run lifecycle:
 *
 *   running ──► completed            (the last step completed)
 *      ├──────► failed               (a step failed; later steps never start)
 *      ├──────► cancelled            (cancelled by a person; its current step is cancelled)
 *      └──────► interrupted          (the process stopped while it ran; set at the next start)
 */
export const PIPELINE_RUN_STATUSES = ['running', 'completed', 'failed', 'cancelled', 'interrupted'] as const;

/** The status of a pipeline run; see the diagram above. */
export type PipelineRunStatus = (typeof PIPELINE_RUN_STATUSES)[number];

/** Most steps a pipeline may have. */
export const MAX_PIPELINE_STEPS = 20;

/** Input accepted when creating a pipeline. `steps`: bots by id or name, in order. */
export const pipelineInputSchema = z.object({
  name: z
    .string({ error: 'name is required' })
    .trim()
    .min(1, 'name is required')
    .max(64, 'name must be at most 64 characters')
    .refine((s) => !/[\u0000-\u001f]/.test(s), 'name must not contain control characters'),
  description: z.string().max(2000, 'description must be at most 2000 characters').optional(),
  steps: z
    .array(botRefSchema, { error: 'steps must be a list of bots (ids or names)' })
    .min(1, 'steps needs at least one bot')
    .max(MAX_PIPELINE_STEPS, `steps can have at most ${MAX_PIPELINE_STEPS} bots`),
  schedule: z.string().max(200).nullable().optional(),
});

/** Input accepted when updating a pipeline: any subset of the create fields. */
export const pipelinePatchSchema = pipelineInputSchema.partial();

export type PipelineInput = z.input<typeof pipelineInputSchema>;
export type PipelinePatch = z.input<typeof pipelinePatchSchema>;

/** One step of a pipeline; `name`/`emoji` are null when the bot was deleted since. */
export interface PipelineStepBot {
  index: number;
  botId: number;
  name: string | null;
  emoji: string | null;
}

/** A pipeline with its steps' bots. */
export interface PipelineView extends PipelineRow {
  stepBots: PipelineStepBot[];
}

/** One step of a pipeline run: `pending` until its run is queued. */
export interface PipelineRunStep extends PipelineStepBot {
  runId: number | null;
  status: RunStatus | 'pending';
  durationMs: number | null;
}

/** A pipeline run with its steps and its "k/n" progress (k = completed steps). */
export interface PipelineRunView extends Omit<PipelineRunRow, 'status' | 'steps'> {
  status: PipelineRunStatus;
  pipelineName: string;
  steps: PipelineRunStep[];
  completedSteps: number;
  totalSteps: number;
  /** e.g. "2/3" */
  progress: string;
}

/** How a pipeline run came to be: `manual`, `schedule`, `telegram:<user>`, `discord:<user>`. */
export interface PipelineRunRequest {
  input?: string | null;
  trigger: string;
}

/** The resources pipelines work with. */
export interface PipelineDeps {
  db: Db;
  bus: EventBus;
  runner: Runner;
  bots: BotService;
  log: Logger;
}

/**
 * Pipelines (seed 002): ordered steps of bots, step i's output is step i+1's input. A pipeline run
 * queues one step's run at a time (trigger `pipeline:<id>`, linked by `runs.pipeline_run_id` and
 * `pipeline_step`) and moves on when it hears that run's `run.finished`; a step that does not
 * complete ends the pipeline run.
 */
export class PipelineService {
  private off: (() => void) | null = null;
  private readonly changeListeners = new Set<(pipelineId: number) => void>();

  constructor(private readonly deps: PipelineDeps) {}

  /**
   * Picks up pipeline runs a previous process left running: one whose current step's run is still
   * queued or running goes on when that run ends (the run queue is durable); one whose step ended
   * while the process was going down advances now; one without a step run is `interrupted`. Then
   * listens to finished runs. Idempotent.
   */
  start(): void {
    if (this.off) return;
    this.off = this.deps.bus.on('run.finished', (e) => this.advance(e.run));
    const open = this.deps.db.select().from(pipelineRuns).where(eq(pipelineRuns.status, 'running')).all();
    for (const pr of open) {
      const step = this.stepRuns(pr.id).filter((r) => r.pipelineStep === pr.currentStep).at(-1);
      if (step && !isFinalRunStatus(step.status)) continue;
      if (step) {
        this.advance(step);
        continue;
      }
      if (this.finishRun(pr, 'interrupted', { error: 'the process stopped while this pipeline ran' })) {
        this.deps.bus.emit('notice', { kind: 'pipeline.interrupted', message: `🧩 ${this.nameOf(pr.pipelineId)}: pipeline run #${pr.id} was interrupted by a restart`, level: 'warn' });
      }
    }
  }

  /** Stops listening; steps finishing afterwards do not advance their pipeline. */
  stop(): void {
    this.off?.();
    this.off = null;
  }

  /** Calls `listener(pipelineId)` after a pipeline is created, changed or deleted; returns the unsubscribe. */
  onChange(listener: (pipelineId: number) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** All pipelines, oldest first. */
  list(): PipelineView[] {
    return this.deps.db.select().from(pipelines).orderBy(pipelines.id).all().map((p) => this.view(p));
  }

  /** @throws {AppError} PIPELINE_NOT_FOUND */
  get(id: number): PipelineView {
    return this.view(this.row(id));
  }

  /** Finds a pipeline by name, case-insensitively; undefined when none. */
  findByName(name: string): PipelineView | undefined {
    const row = this.deps.db.select().from(pipelines).where(eq(pipelines.nameKey, nameKey(name))).get();
    return row && this.view(row);
  }

  /**
   * Creates a pipeline.
   * @param input `{name, description?, steps: (bot id | bot name)[], schedule?}`
   * @throws {AppError} VALIDATION_FAILED (bad field or schedule), BOT_NOT_FOUND (a step),
   *   PIPELINE_NAME_TAKEN
   */
  create(input: unknown): PipelineView {
    const parsed = pipelineInputSchema.safeParse(input);
    if (!parsed.success) throw validationError(parsed.error);
    const v = parsed.data;
    const steps = v.steps.map((ref) => resolveBotRef(this.deps.bots, ref).id);
    const schedule = checkSchedule(v.schedule);
    this.checkNameFree(v.name);
    const now = Date.now();
    const row = this.deps.db
      .insert(pipelines)
      .values({ name: v.name, nameKey: nameKey(v.name), description: v.description ?? '', steps, schedule, createdAt: now, updatedAt: now })
      .returning()
      .get();
    this.deps.bus.emit('notice', { kind: 'pipeline.created', message: `🧩 ${row.name} was created (${this.stepNames(row).join(' → ')})` });
    this.changed(row.id);
    return this.view(row);
  }

  /**
   * Changes a pipeline; a running pipeline run keeps the steps it started with.
   * @throws {AppError} PIPELINE_NOT_FOUND, VALIDATION_FAILED, BOT_NOT_FOUND, PIPELINE_NAME_TAKEN
   */
  update(id: number, patch: unknown): PipelineView {
    const row = this.row(id);
    const parsed = pipelinePatchSchema.safeParse(patch);
    if (!parsed.success) throw validationError(parsed.error);
    const v = parsed.data;
    const set: Partial<typeof pipelines.$inferInsert> = { updatedAt: Date.now() };
    if (v.name !== undefined && v.name !== row.name) {
      if (nameKey(v.name) !== row.nameKey) this.checkNameFree(v.name);
      set.name = v.name;
      set.nameKey = nameKey(v.name);
    }
    if (v.description !== undefined) set.description = v.description;
    if (v.steps !== undefined) set.steps = v.steps.map((ref) => resolveBotRef(this.deps.bots, ref).id);
    if (v.schedule !== undefined) {
      set.schedule = checkSchedule(v.schedule);
      if (set.schedule !== row.schedule) set.scheduleClaimedAt = null;
    }
    const updated = this.deps.db.update(pipelines).set(set).where(eq(pipelines.id, id)).returning().get();
    this.changed(id);
    return this.view(updated);
  }

  /**
   * Cancels the pipeline's running run (and its current step), then deletes it with its runs.
   * @throws {AppError} PIPELINE_NOT_FOUND
   */
  async delete(id: number): Promise<void> {
    const row = this.row(id);
    const active = this.activeRun(id);
    if (active) await this.cancelRun(active.id, 'the pipeline was deleted').catch(() => {});
    this.deps.db.delete(pipelines).where(eq(pipelines.id, id)).run();
    this.deps.bus.emit('notice', { kind: 'pipeline.deleted', message: `🧩 ${row.name} was deleted` });
    this.changed(id);
  }

  /**
   * Starts a pipeline run: queues step 1 with `input`. Several runs of one pipeline may go at once
   * when started by hand; the scheduler skips while one is running.
   * @throws {AppError} PIPELINE_NOT_FOUND, BOT_NOT_FOUND (a step's bot was deleted)
   */
  run(id: number, req: PipelineRunRequest): PipelineRunView {
    const p = this.row(id);
    const first = this.stepBot(p, p.steps, 0);
    for (let i = 1; i < p.steps.length; i++) this.stepBot(p, p.steps, i);
    const now = Date.now();
    const pr = this.deps.db
      .insert(pipelineRuns)
      .values({ pipelineId: id, trigger: req.trigger, status: 'running', input: req.input ?? null, currentStep: 0, steps: p.steps, createdAt: now, startedAt: now })
      .returning()
      .get();
    this.deps.bus.emit('notice', { kind: 'pipeline.started', message: `🧩 ${p.name}: pipeline run #${pr.id} started (${req.trigger}) — 0/${p.steps.length}` });
    this.startStep(p, pr, 0, first, req.input ?? null);
    return this.getRun(pr.id);
  }

  /** The pipeline's runs, newest first (at most `limit`, 1..200). @throws {AppError} PIPELINE_NOT_FOUND */
  listRuns(pipelineId: number, limit = 20): PipelineRunView[] {
    const p = this.row(pipelineId);
    return this.deps.db
      .select()
      .from(pipelineRuns)
      .where(eq(pipelineRuns.pipelineId, pipelineId))
      .orderBy(desc(pipelineRuns.id))
      .limit(Math.min(Math.max(limit, 1), 200))
      .all()
      .map((pr) => this.runView(p, pr));
  }

  /** @throws {AppError} PIPELINE_RUN_NOT_FOUND */
  getRun(pipelineRunId: number): PipelineRunView {
    const pr = this.runRow(pipelineRunId);
    return this.runView(this.row(pr.pipelineId), pr);
  }

  /** The pipeline's run still going, if any. */
  activeRun(pipelineId: number): PipelineRunRow | undefined {
    return this.deps.db
      .select()
      .from(pipelineRuns)
      .where(and(eq(pipelineRuns.pipelineId, pipelineId), eq(pipelineRuns.status, 'running')))
      .orderBy(desc(pipelineRuns.id))
      .get();
  }

  /**
   * Cancels a running pipeline run and its current step's run; no later step starts.
   * @throws {AppError} PIPELINE_RUN_NOT_FOUND, PIPELINE_RUN_NOT_ACTIVE (it already ended)
   */
  async cancelRun(pipelineRunId: number, reason = 'cancelled'): Promise<PipelineRunView> {
    const pr = this.runRow(pipelineRunId);
    const marked = this.finishRun(pr, 'cancelled', { error: reason });
    if (!marked) throw new AppError('PIPELINE_RUN_NOT_ACTIVE', `Pipeline run #${pr.id} already ended (${pr.status}).`);
    const step = this.stepRuns(pr.id).find((r) => r.pipelineStep === pr.currentStep && !isFinalRunStatus(r.status));
    if (step) await this.deps.runner.cancel(step.id, reason).catch((err) => this.deps.log.warn({ err, runId: step.id }, 'could not cancel a pipeline step'));
    this.deps.bus.emit('notice', { kind: 'pipeline.cancelled', message: `🧩 ${this.nameOf(pr.pipelineId)}: pipeline run #${pr.id} cancelled at step ${pr.currentStep + 1}`, level: 'warn' });
    return this.getRun(pr.id);
  }

  /** Moves a pipeline run on after its current step's run ended (`run` is that run's final row). */
  private advance(run: RunRow): void {
    if (run.pipelineRunId == null || run.pipelineStep == null || !isFinalRunStatus(run.status)) return;
    const e = { status: run.status as FinalRunStatus, output: run.output, error: run.error };
    const pr = this.deps.db.select().from(pipelineRuns).where(eq(pipelineRuns.id, run.pipelineRunId)).get();
    if (!pr || pr.status !== 'running' || pr.currentStep !== run.pipelineStep) return;
    const p = this.deps.db.select().from(pipelines).where(eq(pipelines.id, pr.pipelineId)).get();
    if (!p) return;
    // A run keeps the steps it started with even if the pipeline was edited since.
    const steps = this.stepsOf(p, pr);
    const n = steps.length;
    const step = run.pipelineStep;
    const where = `step ${step + 1}/${n}`;
    const botName = this.botLabel(run.botId);
    switch (e.status) {
      case 'completed': {
        this.deps.bus.emit('notice', { runId: run.id, botId: run.botId, kind: 'pipeline.step', message: `🧩 ${p.name} ${where}: ${botName} completed`, level: 'success' });
        if (step + 1 >= n) {
          if (this.finishRun(pr, 'completed', { output: e.output })) {
            this.deps.bus.emit('notice', { kind: 'pipeline.completed', message: `🧩 ${p.name}: pipeline run #${pr.id} completed (${n}/${n})`, level: 'success' });
          }
          return;
        }
        const advanced = this.deps.db
          .update(pipelineRuns)
          .set({ currentStep: step + 1 })
          .where(and(eq(pipelineRuns.id, pr.id), eq(pipelineRuns.status, 'running'), eq(pipelineRuns.currentStep, step)))
          .run();
        if (advanced.changes !== 1) return;
        this.deps.bus.emit('pipeline.changed', { pipelineId: p.id, pipelineRunId: pr.id });
        try {
          this.startStep(p, { ...pr, currentStep: step + 1 }, step + 1, this.stepBot(p, steps, step + 1), e.output);
        } catch (err) {
          this.fail(p, pr, `step ${step + 2}/${n} could not start: ${(err as Error).message}`);
        }
        return;
      }
      case 'failed':
      case 'cancelled':
      case 'interrupted': {
        const detail = e.error ?? e.status;
        this.deps.bus.emit('notice', { runId: run.id, botId: run.botId, kind: 'pipeline.step', message: `🧩 ${p.name} ${where}: ${botName} ${e.status} — ${detail}`, level: 'error' });
        const status = e.status;
        if (this.finishRun(pr, status, { error: `${where} (${botName}) ${e.status}: ${detail}` })) {
          this.deps.bus.emit('notice', {
            kind: `pipeline.${status}`,
            message: `🧩 ${p.name}: pipeline run #${pr.id} ${status} at ${where} (${botName}) — later steps did not run`,
            level: status === 'failed' ? 'error' : 'warn',
          });
        }
        return;
      }
      default:
        assertNever(e.status);
    }
  }

  private startStep(p: PipelineRow, pr: PipelineRunRow, step: number, bot: BotRow, input: string | null): void {
    const run = this.deps.runner.enqueue(bot, { input, trigger: `pipeline:${p.id}`, pipelineRunId: pr.id, pipelineStep: step });
    this.deps.bus.emit('pipeline.changed', { pipelineId: p.id, pipelineRunId: pr.id });
    this.deps.bus.emit('notice', {
      botId: bot.id,
      runId: run.id,
      kind: 'pipeline.step',
      message: `🧩 ${p.name} step ${step + 1}/${this.stepsOf(p, pr).length}: ${bot.emoji} ${bot.name} run #${run.id} started`,
    });
  }

  private fail(p: PipelineRow, pr: PipelineRunRow, error: string): void {
    if (this.finishRun(pr, 'failed', { error })) {
      this.deps.bus.emit('notice', { kind: 'pipeline.failed', message: `🧩 ${p.name}: pipeline run #${pr.id} failed — ${error}`, level: 'error' });
    }
  }

  /** Ends a running pipeline run; false when it had already ended (exactly one caller wins). */
  private finishRun(pr: PipelineRunRow, status: Exclude<PipelineRunStatus, 'running'>, fields: { output?: string | null; error?: string }): boolean {
    const r = this.deps.db
      .update(pipelineRuns)
      .set({ status, finishedAt: Date.now(), output: fields.output ?? null, error: fields.error ?? null })
      .where(and(eq(pipelineRuns.id, pr.id), eq(pipelineRuns.status, 'running')))
      .run();
    if (r.changes === 1) this.deps.bus.emit('pipeline.changed', { pipelineId: pr.pipelineId, pipelineRunId: pr.id });
    return r.changes === 1;
  }

  private runView(p: PipelineRow, pr: PipelineRunRow): PipelineRunView {
    const stepRuns = this.stepRuns(pr.id);
    const planned = this.stepsOf(p, pr);
    const total = planned.length;
    const steps: PipelineRunStep[] = [];
    for (let i = 0; i < total; i++) {
      const r = stepRuns.filter((s) => s.pipelineStep === i).at(-1);
      const botId = r?.botId ?? planned[i]!;
      const b = this.deps.db.select({ name: bots.name, emoji: bots.emoji }).from(bots).where(eq(bots.id, botId)).get();
      steps.push({ index: i, botId, name: b?.name ?? null, emoji: b?.emoji ?? null, runId: r?.id ?? null, status: r?.status ?? 'pending', durationMs: r?.durationMs ?? null });
    }
    const completedSteps = steps.filter((s) => s.status === 'completed').length;
    return { ...pr, status: pr.status as PipelineRunStatus, pipelineName: p.name, steps, completedSteps, totalSteps: total, progress: `${completedSteps}/${total}` };
  }

  /** The steps (bot ids) a run follows: those it started with (the pipeline's own for runs stored before runs kept them). */
  private stepsOf(p: PipelineRow, pr: PipelineRunRow): number[] {
    return pr.steps.length > 0 ? pr.steps : p.steps;
  }

  private stepRuns(pipelineRunId: number): RunRow[] {
    return this.deps.db.select().from(runs).where(eq(runs.pipelineRunId, pipelineRunId)).orderBy(runs.id).all();
  }

  private view(p: PipelineRow): PipelineView {
    const ids = [...new Set(p.steps)];
    const byId = new Map(
      ids.length ? this.deps.db.select({ id: bots.id, name: bots.name, emoji: bots.emoji }).from(bots).where(inArray(bots.id, ids)).all().map((b) => [b.id, b]) : [],
    );
    return { ...p, stepBots: p.steps.map((botId, index) => ({ index, botId, name: byId.get(botId)?.name ?? null, emoji: byId.get(botId)?.emoji ?? null })) };
  }

  private stepNames(p: PipelineRow): string[] {
    return this.view(p).stepBots.map((s) => s.name ?? `#${s.botId}`);
  }

  /** @throws {AppError} BOT_NOT_FOUND when the step's bot no longer exists */
  private stepBot(p: PipelineRow, steps: number[], step: number): BotRow {
    const id = steps[step]!;
    const bot = this.deps.db.select().from(bots).where(eq(bots.id, id)).get();
    if (!bot) throw new AppError('BOT_NOT_FOUND', `Step ${step + 1} of ${p.name} uses bot #${id}, which was deleted. Edit the pipeline's steps.`);
    return bot;
  }

  private row(id: number): PipelineRow {
    const row = Number.isSafeInteger(id) ? this.deps.db.select().from(pipelines).where(eq(pipelines.id, id)).get() : undefined;
    if (!row) throw new AppError('PIPELINE_NOT_FOUND', `No pipeline with id ${id}.`);
    return row;
  }

  private runRow(id: number): PipelineRunRow {
    const row = Number.isSafeInteger(id) ? this.deps.db.select().from(pipelineRuns).where(eq(pipelineRuns.id, id)).get() : undefined;
    if (!row) throw new AppError('PIPELINE_RUN_NOT_FOUND', `No pipeline run with id ${id}.`);
    return row;
  }

  private checkNameFree(name: string): void {
    const other = this.findByName(name);
    if (other) throw new AppError('PIPELINE_NAME_TAKEN', `A pipeline named "${other.name}" already exists (names are case-insensitive).`);
  }

  private nameOf(pipelineId: number): string {
    return this.deps.db.select({ name: pipelines.name }).from(pipelines).where(eq(pipelines.id, pipelineId)).get()?.name ?? `pipeline #${pipelineId}`;
  }

  private botLabel(botId: number): string {
    const b = this.deps.db.select({ name: bots.name, emoji: bots.emoji }).from(bots).where(eq(bots.id, botId)).get();
    return b ? `${b.emoji} ${b.name}` : `bot #${botId}`;
  }

  private changed(id: number): void {
    for (const l of this.changeListeners) {
      try {
        l(id);
      } catch (err) {
        this.deps.log.error({ err, pipelineId: id }, 'pipeline change listener failed');
      }
    }
  }
}

function checkSchedule(spec: string | null | undefined): string | null {
  try {
    return parseScheduleSpec(spec);
  } catch (err) {
    throw new AppError('VALIDATION_FAILED', (err as Error).message, { fields: [{ field: 'schedule', message: (err as Error).message }] });
  }
}
