import { and, desc, eq, inArray } from 'drizzle-orm';
import type { Logger } from 'pino';
import { z } from 'zod';
import { nameKey, validationError, type BotService } from './bots.ts';
import { rowsChanged, type Db } from './db/database.ts';
import { bots, pipelineRuns, pipelines, runs, triggers, type BotRow, type PipelineRow, type PipelineRunRow, type RunRow, type StoredPipelineStep } from './db/schema.ts';
import { checkDocName, type DocsStore } from './docs.ts';
import { AppError } from './errors.ts';
import { FIRST_ADMIN_ID } from './access.ts';
import type { EventBus } from './event-bus.ts';
import { assertNever, isFinalRunStatus, type FinalRunStatus, type RunStatus } from './run-status.ts';
import type { ResultService } from './results.ts';
import { firstLine } from './runner/finalizer.ts';
import type { Runner } from './runner/runner.ts';
import { parseScheduleSpec } from './schedule-spec.ts';
import { botRefSchema, resolveBotRef } from './triggers.ts';

/**
 * Pipeline run lifecycle:
 *
 *   running ──► completed            (the last step completed)
 *      ├──────► failed               (a step failed; later steps never start)
 *      ├──────► rejected             (a person rejected a step's draft, or it expired)
 *      ├──────► cancelled            (cancelled by a person; its current step is cancelled)
 *      └──────► interrupted          (the process stopped while it ran; set at the next start)
 *
 * While a step's draft waits for approval the pipeline run stays `running` (its step shows
 * `awaiting_approval`); approving the draft moves it on with the approved text.
 */
export const PIPELINE_RUN_STATUSES = ['running', 'completed', 'failed', 'rejected', 'cancelled', 'interrupted'] as const;

/** The status of a pipeline run; see the diagram above. */
export type PipelineRunStatus = (typeof PIPELINE_RUN_STATUSES)[number];

/** Most steps a pipeline may have. */
export const MAX_PIPELINE_STEPS = 20;

/**
 * Where a step's input comes from (seed 002's `input_source`): the previous step's output (for
 * the first step: the pipeline run's input), the pipeline run's input, fixed text, or a file of
 * the step bot's documents.
 */
export const INPUT_SOURCES = ['previous', 'pipeline_input', 'text', 'doc'] as const;
/**
 * Where a step's output goes besides being the next step's `previous` (seed 002's
 * `output_target`): `next` only there; `results` also among its bot's results (even when the run
 * worked with tools, whose closing summary is otherwise no result); `doc` also into a file of its
 * bot's documents (written whole, replacing it).
 */
export const OUTPUT_TARGETS = ['next', 'results', 'doc'] as const;

export type InputSource = (typeof INPUT_SOURCES)[number];
export type OutputTarget = (typeof OUTPUT_TARGETS)[number];

/** One step of a pipeline as stored and as the API shows it (snake_case, like seed 002). */
export interface PipelineStep {
  bot_id: number;
  input_source: InputSource;
  /** The input when `input_source` is `text`. */
  input_text: string | null;
  /** The document (name in the step bot's folder) read as input when `input_source` is `doc`. */
  input_doc: string | null;
  output_target: OutputTarget;
  /** The document written when `output_target` is `doc`. */
  output_doc: string | null;
  /** The step's draft waits for a person's approval before the pipeline goes on (also when its bot does not require it). */
  requires_approval: boolean;
}

const docNameSchema = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .refine((n) => {
    try {
      checkDocName(n);
      return true;
    } catch {
      return false;
    }
  }, 'must be a document name such as brief.md or notes/brief.md');

/**
 * One step as accepted: a bot (id or name) alone, or `{bot_id, input_source?, input_text?,
 * input_doc?, output_target?, output_doc?, requires_approval?}`. Keys the API adds when it shows a
 * step (`index`, `name`, `emoji`, `broken`) are ignored, so a step read back can be sent again.
 */
export const pipelineStepSchema = z.union([
  botRefSchema.transform((ref) => ({ bot_id: ref })),
  z
    .object({
      bot_id: botRefSchema,
      input_source: z.enum(INPUT_SOURCES, { error: `input_source must be one of ${INPUT_SOURCES.join(', ')}` }).optional(),
      input_text: z.string().max(100_000, 'input_text must be at most 100000 characters').nullable().optional(),
      input_doc: docNameSchema.nullable().optional(),
      output_target: z.enum(OUTPUT_TARGETS, { error: `output_target must be one of ${OUTPUT_TARGETS.join(', ')}` }).optional(),
      output_doc: docNameSchema.nullable().optional(),
      requires_approval: z.boolean().optional(),
    })
    .superRefine((v, ctx) => {
      if (v.input_source === 'text' && !v.input_text?.trim()) ctx.addIssue({ code: 'custom', path: ['input_text'], message: 'input_text is required when input_source is text' });
      if (v.input_source === 'doc' && !v.input_doc) ctx.addIssue({ code: 'custom', path: ['input_doc'], message: 'input_doc is required when input_source is doc' });
      if (v.output_target === 'doc' && !v.output_doc) ctx.addIssue({ code: 'custom', path: ['output_doc'], message: 'output_doc is required when output_target is doc' });
    }),
]);

/** Input accepted when creating a pipeline. `steps`: bots by id or name, or step objects, in order. */
export const pipelineInputSchema = z.object({
  name: z
    .string({ error: 'name is required' })
    .trim()
    .min(1, 'name is required')
    .max(64, 'name must be at most 64 characters')
    .refine((s) => !/[\u0000-\u001f]/.test(s), 'name must not contain control characters'),
  description: z.string().max(2000, 'description must be at most 2000 characters').optional(),
  steps: z
    .array(pipelineStepSchema, { error: 'steps must be a list of steps ({"bot_id": …}) or bots (ids or names)' })
    .min(1, 'steps needs at least one bot')
    .max(MAX_PIPELINE_STEPS, `steps can have at most ${MAX_PIPELINE_STEPS} bots`),
  schedule: z.string().max(200).nullable().optional(),
});

/** Input accepted when updating a pipeline: any subset of the create fields. */
export const pipelinePatchSchema = pipelineInputSchema.partial();

export type PipelineInput = z.input<typeof pipelineInputSchema>;
export type PipelinePatch = z.input<typeof pipelinePatchSchema>;

/**
 * One step of a pipeline with its bot; `name`/`emoji` are null and `broken` true when the bot was
 * deleted since (the pipeline cannot run until the step is fixed).
 */
export interface PipelineStepBot {
  index: number;
  botId: number;
  name: string | null;
  emoji: string | null;
  broken: boolean;
  step: PipelineStep;
}

/** A pipeline with its steps (normalized) and their bots. */
export interface PipelineView extends Omit<PipelineRow, 'steps'> {
  steps: PipelineStep[];
  stepBots: PipelineStepBot[];
  /** Some step's bot was deleted: running refuses with PIPELINE_BROKEN. */
  broken: boolean;
}

/** One step of a pipeline run: `pending` until its run is queued. */
export interface PipelineRunStep extends PipelineStepBot {
  runId: number | null;
  status: RunStatus | 'pending';
  durationMs: number | null;
  /** The step run's output (for a step awaiting approval: its draft). */
  output: string | null;
  error: string | null;
}

/** A pipeline run with its steps and its "k/n" progress (k = completed steps). */
export interface PipelineRunView extends Omit<PipelineRunRow, 'status' | 'steps'> {
  status: PipelineRunStatus;
  /** A step's draft waits for a person (the run is `running`). */
  awaitingApproval: boolean;
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
  /** Reads a step's input document and writes its output document. */
  docs: DocsStore;
  /** Records a step's output among its bot's results (`output_target: results`). */
  results: ResultService;
}

/**
 * Pipelines (seed 002): ordered steps `{bot_id, input_source, output_target, …}`; by default step
 * i's output is step i+1's input. A pipeline run queues one step's run at a time (trigger
 * `pipeline:<id>`, linked by `runs.pipeline_run_id` and `pipeline_step`) and moves on when it
 * hears that run's `run.finished`; a step that does not complete ends the pipeline run. A step
 * awaiting approval holds the pipeline until a person decides (its `run.finished` comes then).
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
  async start(): Promise<void> {
    if (this.off) return;
    this.off = this.deps.bus.on('run.finished', (e) => this.advance(e.run));
    const open = await this.deps.db.select().from(pipelineRuns).where(eq(pipelineRuns.status, 'running'));
    for (const pr of open) {
      const step = (await this.stepRuns(pr.id)).filter((r) => r.pipelineStep === pr.currentStep).at(-1);
      if (step && !isFinalRunStatus(step.status)) continue;
      if (step) {
        await this.advance(step);
        continue;
      }
      if (await this.finishRun(pr, 'interrupted', { error: 'the process stopped while this pipeline ran' })) {
        this.deps.bus.emit('notice', { kind: 'pipeline.interrupted', message: `🧩 ${await this.nameOf(pr.pipelineId)}: pipeline run #${pr.id} was interrupted by a restart`, level: 'warn' });
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

  /** All pipelines, oldest first; with `ownerId`, only that user's (see `readScope` in access.ts). */
  async list(ownerId?: number): Promise<PipelineView[]> {
    const q = this.deps.db.select().from(pipelines);
    const rows = await (ownerId === undefined ? q : q.where(eq(pipelines.ownerId, ownerId))).orderBy(pipelines.id);
    const out: PipelineView[] = [];
    for (const p of rows) out.push(await this.view(p));
    return out;
  }

  /** @throws {AppError} PIPELINE_NOT_FOUND */
  async get(id: number): Promise<PipelineView> {
    return await this.view(await this.row(id));
  }

  /**
   * Finds a pipeline by name, case-insensitively; undefined when none. Names are unique per owner:
   * with `ownerId` only that user's are looked at, without it the oldest of that name.
   */
  async findByName(name: string, ownerId?: number): Promise<PipelineView | undefined> {
    const key = eq(pipelines.nameKey, nameKey(name));
    const [row] = await this.deps.db
      .select()
      .from(pipelines)
      .where(ownerId === undefined ? key : and(key, eq(pipelines.ownerId, ownerId)))
      .orderBy(pipelines.id)
      .limit(1);
    return row && (await this.view(row));
  }

  /**
   * Creates a pipeline.
   * @param input `{name, description?, steps: (bot id | bot name | step object)[], schedule?}`;
   *   see {@link pipelineStepSchema}.
   * @param ownerId the user it belongs to (default the first admin); every step's bot must be
   *   theirs (another user's bot is BOT_NOT_FOUND). Callers check the user may create.
   * @throws {AppError} VALIDATION_FAILED (bad field or schedule), BOT_NOT_FOUND (a step),
   *   PIPELINE_NAME_TAKEN
   */
  async create(input: unknown, ownerId: number = FIRST_ADMIN_ID): Promise<PipelineView> {
    const parsed = pipelineInputSchema.safeParse(input);
    if (!parsed.success) throw validationError(parsed.error);
    const v = parsed.data;
    const steps = await this.resolveSteps(v.steps, ownerId);
    const schedule = checkSchedule(v.schedule);
    await this.checkNameFree(v.name, ownerId);
    const now = Date.now();
    const [row] = await this.deps.db
      .insert(pipelines)
      .values({ name: v.name, nameKey: nameKey(v.name), ownerId, description: v.description ?? '', steps, schedule, createdAt: now, updatedAt: now })
      .returning();
    const view = await this.view(row!);
    this.deps.bus.emit('notice', { kind: 'pipeline.created', message: `🧩 ${row!.name} was created (${stepNames(view).join(' → ')})` });
    this.changed(row!.id);
    return view;
  }

  /**
   * Changes a pipeline; a running pipeline run keeps the steps it started with.
   * @throws {AppError} PIPELINE_NOT_FOUND, VALIDATION_FAILED, BOT_NOT_FOUND, PIPELINE_NAME_TAKEN
   */
  async update(id: number, patch: unknown): Promise<PipelineView> {
    const row = await this.row(id);
    const parsed = pipelinePatchSchema.safeParse(patch);
    if (!parsed.success) throw validationError(parsed.error);
    const v = parsed.data;
    const set: Partial<typeof pipelines.$inferInsert> = { updatedAt: Date.now() };
    if (v.name !== undefined && v.name !== row.name) {
      if (nameKey(v.name) !== row.nameKey) await this.checkNameFree(v.name, row.ownerId);
      set.name = v.name;
      set.nameKey = nameKey(v.name);
    }
    if (v.description !== undefined) set.description = v.description;
    if (v.steps !== undefined) set.steps = await this.resolveSteps(v.steps, row.ownerId);
    if (v.schedule !== undefined) {
      set.schedule = checkSchedule(v.schedule);
      if (set.schedule !== row.schedule) set.scheduleClaimedAt = null;
    }
    const [updated] = await this.deps.db.update(pipelines).set(set).where(eq(pipelines.id, id)).returning();
    this.changed(id);
    return await this.view(updated!);
  }

  /**
   * Cancels the pipeline's running run (and its current step), then deletes it with its runs and
   * the connections that start it.
   * @throws {AppError} PIPELINE_NOT_FOUND
   */
  async delete(id: number): Promise<void> {
    const row = await this.row(id);
    const active = await this.activeRun(id);
    if (active) await this.cancelRun(active.id, 'the pipeline was deleted').catch(() => {});
    // Explicit: the migration that added triggers.target_pipeline_id could not declare its cascade.
    await this.deps.db.delete(triggers).where(eq(triggers.targetPipelineId, id));
    await this.deps.db.delete(pipelines).where(eq(pipelines.id, id));
    this.deps.bus.emit('notice', { kind: 'pipeline.deleted', message: `🧩 ${row.name} was deleted` });
    this.changed(id);
  }

  /**
   * Starts a pipeline run: queues step 1 with its input (by default the run's `input`). Several
   * runs of one pipeline may go at once when started by hand; the scheduler skips while one is
   * running.
   * @throws {AppError} PIPELINE_NOT_FOUND, PIPELINE_BROKEN (a step's bot was deleted: fix the step
   *   first), DOC_NOT_FOUND (step 1 reads a document that is missing; the pipeline run is recorded
   *   as failed)
   */
  async run(id: number, req: PipelineRunRequest): Promise<PipelineRunView> {
    const p = await this.row(id);
    const steps = normalizeSteps(p.steps);
    const first = await this.stepBot(p, steps, 0);
    for (let i = 1; i < steps.length; i++) await this.stepBot(p, steps, i);
    const now = Date.now();
    const [pr] = await this.deps.db
      .insert(pipelineRuns)
      .values({ pipelineId: id, trigger: req.trigger, status: 'running', input: req.input ?? null, currentStep: 0, steps, createdAt: now, startedAt: now })
      .returning();
    this.deps.bus.emit('notice', { kind: 'pipeline.started', message: `🧩 ${p.name}: pipeline run #${pr!.id} started (${req.trigger}) — 0/${steps.length}` });
    try {
      await this.startStep(p, pr!, 0, first, req.input ?? null);
    } catch (err) {
      await this.fail(p, pr!, `step 1/${steps.length} could not start: ${(err as Error).message}`);
      throw err;
    }
    return await this.getRun(pr!.id);
  }

  /** The pipeline's runs, newest first (at most `limit`, 1..200). @throws {AppError} PIPELINE_NOT_FOUND */
  async listRuns(pipelineId: number, limit = 20): Promise<PipelineRunView[]> {
    const p = await this.row(pipelineId);
    const rows = await this.deps.db
      .select()
      .from(pipelineRuns)
      .where(eq(pipelineRuns.pipelineId, pipelineId))
      .orderBy(desc(pipelineRuns.id))
      .limit(Math.min(Math.max(limit, 1), 200));
    const out: PipelineRunView[] = [];
    for (const pr of rows) out.push(await this.runView(p, pr));
    return out;
  }

  /** @throws {AppError} PIPELINE_RUN_NOT_FOUND */
  async getRun(pipelineRunId: number): Promise<PipelineRunView> {
    const pr = await this.runRow(pipelineRunId);
    return await this.runView(await this.row(pr.pipelineId), pr);
  }

  /** The pipeline's run still going, if any. */
  async activeRun(pipelineId: number): Promise<PipelineRunRow | undefined> {
    const [row] = await this.deps.db
      .select()
      .from(pipelineRuns)
      .where(and(eq(pipelineRuns.pipelineId, pipelineId), eq(pipelineRuns.status, 'running')))
      .orderBy(desc(pipelineRuns.id))
      .limit(1);
    return row;
  }

  /**
   * Cancels a running pipeline run and its current step's run; no later step starts.
   * @throws {AppError} PIPELINE_RUN_NOT_FOUND, PIPELINE_RUN_NOT_ACTIVE (it already ended)
   */
  async cancelRun(pipelineRunId: number, reason = 'cancelled'): Promise<PipelineRunView> {
    const pr = await this.runRow(pipelineRunId);
    const marked = await this.finishRun(pr, 'cancelled', { error: reason });
    if (!marked) throw new AppError('PIPELINE_RUN_NOT_ACTIVE', `Pipeline run #${pr.id} already ended (${pr.status}).`);
    const step = (await this.stepRuns(pr.id)).find((r) => r.pipelineStep === pr.currentStep && !isFinalRunStatus(r.status));
    if (step) await this.deps.runner.cancel(step.id, reason).catch((err) => this.deps.log.warn({ err, runId: step.id }, 'could not cancel a pipeline step'));
    this.deps.bus.emit('notice', { kind: 'pipeline.cancelled', message: `🧩 ${await this.nameOf(pr.pipelineId)}: pipeline run #${pr.id} cancelled at step ${pr.currentStep + 1}`, level: 'warn' });
    return await this.getRun(pr.id);
  }

  /** Moves a pipeline run on after its current step's run ended (`run` is that run's final row). */
  private async advance(run: RunRow): Promise<void> {
    if (run.pipelineRunId == null || run.pipelineStep == null || !isFinalRunStatus(run.status)) return;
    const e = { status: run.status as FinalRunStatus, output: run.output, error: run.error };
    const [pr] = await this.deps.db.select().from(pipelineRuns).where(eq(pipelineRuns.id, run.pipelineRunId));
    if (!pr || pr.status !== 'running' || pr.currentStep !== run.pipelineStep) return;
    const [p] = await this.deps.db.select().from(pipelines).where(eq(pipelines.id, pr.pipelineId));
    if (!p) return;
    // A run keeps the steps it started with even if the pipeline was edited since.
    const steps = this.stepsOf(p, pr);
    const n = steps.length;
    const step = run.pipelineStep;
    const where = `step ${step + 1}/${n}`;
    const botName = await this.botLabel(run.botId);
    switch (e.status) {
      case 'completed': {
        this.deps.bus.emit('notice', { runId: run.id, botId: run.botId, kind: 'pipeline.step', message: `🧩 ${p.name} ${where}: ${botName} completed`, level: 'success' });
        try {
          await this.deliverOutput(steps[step], run);
        } catch (err) {
          await this.fail(p, pr, `${where} (${botName}) could not store its output: ${(err as Error).message}`);
          return;
        }
        if (step + 1 >= n) {
          if (await this.finishRun(pr, 'completed', { output: e.output })) {
            this.deps.bus.emit('notice', { kind: 'pipeline.completed', message: `🧩 ${p.name}: pipeline run #${pr.id} completed (${n}/${n})`, level: 'success' });
          }
          return;
        }
        const advanced = await this.deps.db
          .update(pipelineRuns)
          .set({ currentStep: step + 1 })
          .where(and(eq(pipelineRuns.id, pr.id), eq(pipelineRuns.status, 'running'), eq(pipelineRuns.currentStep, step)));
        if (rowsChanged(advanced) !== 1) return;
        this.deps.bus.emit('pipeline.changed', { pipelineId: p.id, pipelineRunId: pr.id });
        try {
          await this.startStep(p, { ...pr, currentStep: step + 1 }, step + 1, await this.stepBot(p, steps, step + 1), e.output);
        } catch (err) {
          await this.fail(p, pr, `step ${step + 2}/${n} could not start: ${(err as Error).message}`);
        }
        return;
      }
      case 'failed':
      case 'cancelled':
      case 'interrupted':
      case 'rejected': {
        const detail = e.error ?? e.status;
        this.deps.bus.emit('notice', { runId: run.id, botId: run.botId, kind: 'pipeline.step', message: `🧩 ${p.name} ${where}: ${botName} ${e.status} — ${detail}`, level: 'error' });
        const status = e.status;
        if (await this.finishRun(pr, status, { error: `${where} (${botName}) ${e.status}: ${detail}` })) {
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

  /**
   * Queues step `step` of `pr` with its input: `previous` (the step before's output; for step 1
   * the run's input), the run's input, the step's text, or its document.
   * @throws {AppError} DOC_NOT_FOUND, DOC_INVALID_NAME (input document), QUEUE_FULL, SHUTTING_DOWN
   */
  private async startStep(p: PipelineRow, pr: PipelineRunRow, step: number, bot: BotRow, previous: string | null): Promise<void> {
    const s = this.stepsOf(p, pr)[step]!;
    let input: string | null;
    switch (s.input_source) {
      case 'previous':
        input = previous;
        break;
      case 'pipeline_input':
        input = pr.input;
        break;
      case 'text':
        input = s.input_text;
        break;
      case 'doc':
        try {
          input = this.deps.docs.read(bot.docsPath, s.input_doc ?? '').toString('utf8');
        } catch (err) {
          if (err instanceof AppError && err.code === 'DOC_NOT_FOUND') {
            throw new AppError('DOC_NOT_FOUND', `${bot.name} has no document "${s.input_doc}" to read as its input; upload it on the bot's page or change the step.`);
          }
          throw err;
        }
        break;
      default:
        assertNever(s.input_source);
    }
    const run = await this.deps.runner.enqueue(bot, {
      input,
      trigger: `pipeline:${p.id}`,
      pipelineRunId: pr.id,
      pipelineStep: step,
      ...(s.requires_approval ? { requiresApproval: true } : {}),
    });
    this.deps.bus.emit('pipeline.changed', { pipelineId: p.id, pipelineRunId: pr.id });
    this.deps.bus.emit('notice', {
      botId: bot.id,
      runId: run.id,
      kind: 'pipeline.step',
      message: `🧩 ${p.name} step ${step + 1}/${this.stepsOf(p, pr).length}: ${bot.emoji} ${bot.name} run #${run.id} started`,
    });
  }

  /** Where a completed step's output goes besides the next step: its bot's results or a document. */
  private async deliverOutput(step: PipelineStep | undefined, run: RunRow): Promise<void> {
    const output = run.output ?? '';
    if (!step || !output.trim()) return;
    const target = step.output_target;
    switch (target) {
      case 'next':
        return;
      case 'results':
        await this.deps.results.record(run.botId, run.id, { title: firstLine(output) || 'Output', content: output });
        return;
      case 'doc': {
        const [bot] = await this.deps.db.select().from(bots).where(eq(bots.id, run.botId));
        if (bot && step.output_doc) this.deps.docs.write(bot.docsPath, step.output_doc, output);
        return;
      }
      default:
        assertNever(target);
    }
  }

  private async fail(p: PipelineRow, pr: PipelineRunRow, error: string): Promise<void> {
    if (await this.finishRun(pr, 'failed', { error })) {
      this.deps.bus.emit('notice', { kind: 'pipeline.failed', message: `🧩 ${p.name}: pipeline run #${pr.id} failed — ${error}`, level: 'error' });
    }
  }

  /** Ends a running pipeline run; false when it had already ended (exactly one caller wins). */
  private async finishRun(pr: PipelineRunRow, status: Exclude<PipelineRunStatus, 'running'>, fields: { output?: string | null; error?: string }): Promise<boolean> {
    const r = await this.deps.db
      .update(pipelineRuns)
      .set({ status, finishedAt: Date.now(), output: fields.output ?? null, error: fields.error ?? null })
      .where(and(eq(pipelineRuns.id, pr.id), eq(pipelineRuns.status, 'running')));
    const won = rowsChanged(r) === 1;
    if (won) this.deps.bus.emit('pipeline.changed', { pipelineId: pr.pipelineId, pipelineRunId: pr.id });
    return won;
  }

  private async runView(p: PipelineRow, pr: PipelineRunRow): Promise<PipelineRunView> {
    const stepRuns = await this.stepRuns(pr.id);
    const planned = this.stepsOf(p, pr);
    const total = planned.length;
    const steps: PipelineRunStep[] = [];
    for (let i = 0; i < total; i++) {
      const r = stepRuns.filter((s) => s.pipelineStep === i).at(-1);
      const step = planned[i]!;
      const botId = r?.botId ?? step.bot_id;
      const [b] = await this.deps.db.select({ name: bots.name, emoji: bots.emoji }).from(bots).where(eq(bots.id, botId));
      steps.push({
        index: i,
        botId,
        name: b?.name ?? null,
        emoji: b?.emoji ?? null,
        broken: !b,
        step,
        runId: r?.id ?? null,
        status: r?.status ?? 'pending',
        durationMs: r?.durationMs ?? null,
        output: r?.output ?? null,
        error: r?.error ?? null,
      });
    }
    const completedSteps = steps.filter((s) => s.status === 'completed').length;
    const awaitingApproval = pr.status === 'running' && steps.some((s) => s.status === 'awaiting_approval');
    return { ...pr, status: pr.status as PipelineRunStatus, awaitingApproval, pipelineName: p.name, steps, completedSteps, totalSteps: total, progress: `${completedSteps}/${total}` };
  }

  /** The steps a run follows: those it started with (the pipeline's own for runs stored before runs kept them). */
  private stepsOf(p: PipelineRow, pr: PipelineRunRow): PipelineStep[] {
    return normalizeSteps(pr.steps.length > 0 ? pr.steps : p.steps);
  }

  /** Steps as accepted, with their bots (all of `ownerId`) resolved to ids. @throws {AppError} BOT_NOT_FOUND */
  private async resolveSteps(input: z.output<typeof pipelineStepSchema>[], ownerId: number): Promise<PipelineStep[]> {
    const out: PipelineStep[] = [];
    for (const raw of input) {
      const s = raw as Partial<PipelineStep> & { bot_id: number | string };
      out.push(normalizeStep({ ...s, bot_id: (await resolveBotRef(this.deps.bots, s.bot_id, ownerId)).id } as StoredPipelineStep));
    }
    return out;
  }

  private async stepRuns(pipelineRunId: number): Promise<RunRow[]> {
    return await this.deps.db.select().from(runs).where(eq(runs.pipelineRunId, pipelineRunId)).orderBy(runs.id);
  }

  private async view(p: PipelineRow): Promise<PipelineView> {
    const steps = normalizeSteps(p.steps);
    const ids = [...new Set(steps.map((s) => s.bot_id))];
    const byId = new Map(
      ids.length ? (await this.deps.db.select({ id: bots.id, name: bots.name, emoji: bots.emoji }).from(bots).where(inArray(bots.id, ids))).map((b) => [b.id, b]) : [],
    );
    const stepBots = steps.map((step, index) => {
      const b = byId.get(step.bot_id);
      return { index, botId: step.bot_id, name: b?.name ?? null, emoji: b?.emoji ?? null, broken: !b, step };
    });
    return { ...p, steps, stepBots, broken: stepBots.some((s) => s.broken) };
  }

  /** @throws {AppError} PIPELINE_BROKEN when the step's bot no longer exists */
  private async stepBot(p: PipelineRow, steps: PipelineStep[], step: number): Promise<BotRow> {
    const id = steps[step]!.bot_id;
    const [bot] = await this.deps.db.select().from(bots).where(eq(bots.id, id));
    if (!bot) {
      throw new AppError('PIPELINE_BROKEN', `Step ${step + 1} of ${p.name} uses bot #${id}, which was deleted: pick another bot for that step or remove it, then run the pipeline again.`, {
        step: step + 1,
        bot_id: id,
      });
    }
    return bot;
  }

  private async row(id: number): Promise<PipelineRow> {
    const [row] = Number.isSafeInteger(id) ? await this.deps.db.select().from(pipelines).where(eq(pipelines.id, id)) : [];
    if (!row) throw new AppError('PIPELINE_NOT_FOUND', `No pipeline with id ${id}.`);
    return row;
  }

  private async runRow(id: number): Promise<PipelineRunRow> {
    const [row] = Number.isSafeInteger(id) ? await this.deps.db.select().from(pipelineRuns).where(eq(pipelineRuns.id, id)) : [];
    if (!row) throw new AppError('PIPELINE_RUN_NOT_FOUND', `No pipeline run with id ${id}.`);
    return row;
  }

  private async checkNameFree(name: string, ownerId: number): Promise<void> {
    const other = await this.findByName(name, ownerId);
    if (other) throw new AppError('PIPELINE_NAME_TAKEN', `A pipeline named "${other.name}" already exists (names are case-insensitive).`);
  }

  private async nameOf(pipelineId: number): Promise<string> {
    const [row] = await this.deps.db.select({ name: pipelines.name }).from(pipelines).where(eq(pipelines.id, pipelineId));
    return row?.name ?? `pipeline #${pipelineId}`;
  }

  private async botLabel(botId: number): Promise<string> {
    const [b] = await this.deps.db.select({ name: bots.name, emoji: bots.emoji }).from(bots).where(eq(bots.id, botId));
    return b ? `${b.emoji} ${b.name}` : `bot #${botId}`;
  }

  private changed(id: number): void {
    // For the live views and the other processes' schedulers (a pipeline's own change: no run).
    this.deps.bus.emit('pipeline.changed', { pipelineId: id, pipelineRunId: null });
    for (const l of this.changeListeners) {
      try {
        l(id);
      } catch (err) {
        this.deps.log.error({ err, pipelineId: id }, 'pipeline change listener failed');
      }
    }
  }
}

/** The names of a pipeline's step bots (`#<id>` for a deleted one), in order. */
function stepNames(view: PipelineView): string[] {
  return view.stepBots.map((s) => s.name ?? `#${s.botId}`);
}

/** A stored step in its full shape; a bare bot id (rows from before steps were objects) gets the defaults. */
export function normalizeStep(s: StoredPipelineStep): PipelineStep {
  const o = typeof s === 'number' ? { bot_id: s } : s;
  const input_source = o.input_source ?? 'previous';
  const output_target = o.output_target ?? 'next';
  return {
    bot_id: o.bot_id,
    input_source,
    input_text: input_source === 'text' ? (o.input_text ?? '') : null,
    input_doc: input_source === 'doc' ? (o.input_doc ?? null) : null,
    output_target,
    output_doc: output_target === 'doc' ? (o.output_doc ?? null) : null,
    requires_approval: o.requires_approval ?? false,
  };
}

/** {@link normalizeStep} over a list. */
export function normalizeSteps(steps: readonly StoredPipelineStep[]): PipelineStep[] {
  return steps.map(normalizeStep);
}

function checkSchedule(spec: string | null | undefined): string | null {
  try {
    return parseScheduleSpec(spec);
  } catch (err) {
    throw new AppError('VALIDATION_FAILED', (err as Error).message, { fields: [{ field: 'schedule', message: (err as Error).message }] });
  }
}
