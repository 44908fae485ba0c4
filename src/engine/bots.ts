import { MAX_RETRIES } from './runner/retry-policy.ts';
import fs from 'node:fs';
import path from 'node:path';
import { eq, inArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from './db/database.ts';
import { bots, runs, type BotRow } from './db/schema.ts';
import { AppError } from './errors.ts';
import type { EventBus } from './event-bus.ts';
import { parseModel, type ProviderName } from './providers/models.ts';
import { notifySchema } from './notify/index.ts';
import { parseScheduleSpec } from './schedule-spec.ts';
import type { RunStatus } from './run-status.ts';

/** The tools a bot may be given (seed 001's checkboxes). */
export const TOOL_NAMES = ['web_search', 'web_fetch', 'files', 'code'] as const;

/** Input accepted when creating a bot; every field but `name` and `prompt` has a default. */
export const botInputSchema = z.object({
  name: z
    .string({ error: 'name is required' })
    .trim()
    .min(1, 'name is required')
    .max(64, 'name must be at most 64 characters')
    .refine((s) => !/[\u0000-\u001f]/.test(s), 'name must not contain control characters'),
  emoji: z.string().trim().max(16, 'emoji must be at most 16 characters').optional(),
  description: z.string().max(2000, 'description must be at most 2000 characters').optional(),
  prompt: z.string({ error: 'prompt is required' }).trim().min(1, 'prompt is required').max(50_000, 'prompt must be at most 50000 characters'),
  model: z.string().trim().min(1).max(200).optional(),
  tools: z.array(z.enum(TOOL_NAMES)).max(TOOL_NAMES.length).optional(),
  schedule: z.string().max(200).nullable().optional(),
  notify: notifySchema.optional(),
  paused: z.boolean().optional(),
  max_steps: z.number().int().min(1).max(50).optional(),
  /** A failed or interrupted run is tried again this many times (0..5), with exponential backoff. */
  retries: z.number().int().min(0).max(MAX_RETRIES).optional(),
  /** A completed run waits for a person's approval before its results count and anything downstream fires. */
  requires_approval: z.boolean({ error: 'requires_approval must be true or false' }).optional(),
  /** Seconds a draft may wait for a decision before it is rejected as expired (1 s .. 30 days; default 24 h). */
  approval_timeout_s: z.number().int().min(1, 'approval_timeout_s must be at least 1').max(30 * 86_400, 'approval_timeout_s must be at most 2592000 (30 days)').optional(),
});

/** Input accepted when updating a bot: any subset of the create fields. */
export const botPatchSchema = botInputSchema.partial();

export type BotInput = z.input<typeof botInputSchema>;
export type BotPatch = z.input<typeof botPatchSchema>;

/** A bot with the figures the dashboard and chat show beside it. */
export interface BotSummary extends BotRow {
  status: 'running' | 'queued' | 'paused' | 'idle';
  lastRunAt: number | null;
  lastRunStatus: RunStatus | null;
  resultCount: number;
  runCount: number;
}

/** Converts zod issues into one {@link AppError} naming each bad field. */
export function validationError(error: z.ZodError): AppError {
  return validationFailed(error.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message })));
}

/**
 * One VALIDATION_FAILED for these bad fields: the message names each ("name is required; tools.0:
 * Invalid option"), `details.fields` lists them.
 */
export function validationFailed(fields: { field: string; message: string }[]): AppError {
  const sentence = fields.map((f) => (f.message.startsWith(String(f.field.split('.')[0])) ? f.message : `${f.field}: ${f.message}`)).join('; ');
  return new AppError('VALIDATION_FAILED', sentence, { fields });
}

/** Bot create/read/update/delete, with validation and one docs folder per bot. */
export class BotService {
  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly opts: { dataDir: string; providers: ProviderName[] },
  ) {}

  /** All bots, oldest first. */
  list(): BotRow[] {
    return this.db.select().from(bots).orderBy(bots.id).all();
  }

  /** All bots with status, last run and counts (three queries, whatever the number of bots). */
  listSummaries(): BotSummary[] {
    const figures = this.figures(null);
    return this.list().map((b) => withFigures(b, figures.get(b.id)));
  }

  /** @throws {AppError} BOT_NOT_FOUND */
  get(id: number): BotRow {
    const row = Number.isSafeInteger(id) ? this.db.select().from(bots).where(eq(bots.id, id)).get() : undefined;
    if (!row) throw new AppError('BOT_NOT_FOUND', `No bot with id ${id}.`);
    return row;
  }

  /** Finds a bot by name, case-insensitively; undefined when none. */
  findByName(name: string): BotRow | undefined {
    return this.db.select().from(bots).where(eq(bots.nameKey, nameKey(name))).get();
  }

  /** The bot with its status, last run and counts. */
  summarize(bot: BotRow): BotSummary {
    return withFigures(bot, this.figures(bot.id).get(bot.id));
  }

  /** Run and result figures per bot, for one bot or (`null`) all: grouped queries, not one per bot. */
  private figures(botId: number | null): Map<number, BotFigures> {
    const only = botId === null ? sql`1 = 1` : sql`bot_id = ${botId}`;
    const out = new Map<number, BotFigures>();
    const get = (id: number) => {
      let f = out.get(id);
      if (!f) out.set(id, (f = { runCount: 0, running: 0, queued: 0, resultCount: 0, last: null }));
      return f;
    };
    const runRows = this.db.all<{ bot_id: number; n: number; running: number; queued: number; last_id: number }>(
      sql`select bot_id, count(*) as n, sum(status = 'running') as running, sum(status = 'queued') as queued, max(id) as last_id
          from runs where ${only} group by bot_id`,
    );
    const lastIds = runRows.map((r) => r.last_id);
    const lastRuns = lastIds.length
      ? this.db.select({ id: runs.id, botId: runs.botId, status: runs.status, createdAt: runs.createdAt, startedAt: runs.startedAt }).from(runs).where(inArray(runs.id, lastIds)).all()
      : [];
    for (const r of runRows) Object.assign(get(r.bot_id), { runCount: r.n, running: r.running, queued: r.queued });
    for (const r of lastRuns) get(r.botId).last = r;
    const resultRows = this.db.all<{ bot_id: number; n: number }>(sql`select bot_id, count(*) as n from results where ${only} group by bot_id`);
    for (const r of resultRows) get(r.bot_id).resultCount = r.n;
    return out;
  }

  /**
   * Creates a bot and its docs folder `DATA_DIR/bots/<id>/`.
   * @throws {AppError} VALIDATION_FAILED (bad field, unknown or unconfigured model, bad schedule),
   *   BOT_NAME_TAKEN (same name, any case).
   */
  create(input: unknown): BotRow {
    const parsed = botInputSchema.safeParse(input);
    if (!parsed.success) throw validationError(parsed.error);
    const v = parsed.data;
    const model = this.checkModel(v.model ?? 'echo');
    const schedule = this.checkSchedule(v.schedule);
    this.checkNameFree(v.name);
    const now = Date.now();
    const row = this.db.transaction((tx) => {
      const inserted = tx
        .insert(bots)
        .values({
          name: v.name,
          nameKey: nameKey(v.name),
          emoji: v.emoji || '🤖',
          description: v.description ?? '',
          prompt: v.prompt,
          model,
          tools: v.tools ?? [],
          schedule,
          docsPath: '',
          notify: v.notify ?? {},
          paused: v.paused ?? false,
          maxSteps: v.max_steps ?? 8,
          retries: v.retries ?? 0,
          requiresApproval: v.requires_approval ?? false,
          approvalTimeoutS: v.approval_timeout_s ?? 86_400,
          createdAt: now,
          updatedAt: now,
        })
        .returning()
        .get();
      const docsPath = path.join(this.opts.dataDir, 'bots', String(inserted.id));
      fs.mkdirSync(docsPath, { recursive: true });
      return tx.update(bots).set({ docsPath }).where(eq(bots.id, inserted.id)).returning().get();
    });
    this.bus.emit('bot.changed', { botId: row.id, change: 'created' });
    return row;
  }

  /**
   * Updates the given fields of a bot.
   * @throws {AppError} BOT_NOT_FOUND, VALIDATION_FAILED, BOT_NAME_TAKEN
   */
  update(id: number, patch: unknown): BotRow {
    const bot = this.get(id);
    const parsed = botPatchSchema.safeParse(patch);
    if (!parsed.success) throw validationError(parsed.error);
    const v = parsed.data;
    const set: Partial<typeof bots.$inferInsert> = { updatedAt: Date.now() };
    if (v.name !== undefined && v.name !== bot.name) {
      if (nameKey(v.name) !== bot.nameKey) this.checkNameFree(v.name);
      set.name = v.name;
      set.nameKey = nameKey(v.name);
    }
    if (v.emoji !== undefined) set.emoji = v.emoji || '🤖';
    if (v.description !== undefined) set.description = v.description;
    if (v.prompt !== undefined) set.prompt = v.prompt;
    if (v.model !== undefined) set.model = this.checkModel(v.model);
    if (v.tools !== undefined) set.tools = v.tools;
    if (v.schedule !== undefined) {
      set.schedule = this.checkSchedule(v.schedule);
      if (set.schedule !== bot.schedule) set.scheduleClaimedAt = null;
    }
    if (v.notify !== undefined) set.notify = keepWebhookSecret(v.notify, bot.notify);
    if (v.paused !== undefined) set.paused = v.paused;
    if (v.max_steps !== undefined) set.maxSteps = v.max_steps;
    if (v.retries !== undefined) set.retries = v.retries;
    if (v.requires_approval !== undefined) set.requiresApproval = v.requires_approval;
    if (v.approval_timeout_s !== undefined) set.approvalTimeoutS = v.approval_timeout_s;
    const row = this.db.update(bots).set(set).where(eq(bots.id, id)).returning().get();
    this.bus.emit('bot.changed', { botId: id, change: 'updated' });
    return row;
  }

  /**
   * Deletes a bot, its runs, results, triggers and docs folder. The caller cancels its active runs
   * first (see `Engine.deleteBot`).
   * @throws {AppError} BOT_NOT_FOUND
   */
  delete(id: number): void {
    const bot = this.get(id);
    this.db.delete(bots).where(eq(bots.id, id)).run();
    fs.rmSync(bot.docsPath, { recursive: true, force: true });
    this.bus.emit('bot.changed', { botId: id, change: 'deleted' });
  }

  private checkNameFree(name: string): void {
    const other = this.findByName(name);
    if (other) throw new AppError('BOT_NAME_TAKEN', `A bot named "${other.name}" already exists (names are case-insensitive).`);
  }

  private checkModel(model: string): string {
    const ref = parseModel(model);
    if (!ref) {
      throw new AppError('VALIDATION_FAILED', `model "${model}" is not known: use "echo", "openai:<model>" or "anthropic:<model>".`, {
        fields: [{ field: 'model', message: 'unknown model' }],
      });
    }
    if (!this.opts.providers.includes(ref.provider)) {
      const variable = ref.provider === 'openai' ? 'OPENAI_API_KEY' : 'ANTHROPIC_API_KEY';
      throw new AppError('VALIDATION_FAILED', `model "${model}" needs the ${ref.provider} provider, which is not configured (set ${variable}).`, {
        fields: [{ field: 'model', message: 'provider not configured' }],
      });
    }
    return model.trim();
  }

  private checkSchedule(spec: string | null | undefined): string | null {
    try {
      return parseScheduleSpec(spec);
    } catch (err) {
      throw new AppError('VALIDATION_FAILED', (err as Error).message, { fields: [{ field: 'schedule', message: (err as Error).message }] });
    }
  }
}

/**
 * The API never shows a webhook's secret, so a client that reads a bot and sends its `notify` back
 * sends it without one: keep the stored secret when the webhook URL is unchanged.
 */
function keepWebhookSecret(next: Record<string, unknown>, prev: Record<string, unknown>): Record<string, unknown> {
  const nw = next.webhook as { url?: string; secret?: string; has_secret?: unknown } | undefined;
  const pw = prev.webhook as { url?: string; secret?: string } | undefined;
  if (!nw) return next;
  const { has_secret: _shown, ...webhook } = nw;
  if (webhook.secret === undefined && pw?.secret && pw.url === webhook.url) webhook.secret = pw.secret;
  return { ...next, webhook };
}

interface BotFigures {
  runCount: number;
  running: number;
  queued: number;
  resultCount: number;
  last: { status: RunStatus; createdAt: number; startedAt: number | null } | null;
}

/** A bot with its figures: status (running > queued > paused > idle), last run, counts. */
function withFigures(bot: BotRow, f: BotFigures | undefined): BotSummary {
  const status = f?.running ? 'running' : f?.queued ? 'queued' : bot.paused ? 'paused' : 'idle';
  return {
    ...bot,
    status,
    lastRunAt: f?.last ? (f.last.startedAt ?? f.last.createdAt) : null,
    lastRunStatus: f?.last?.status ?? null,
    resultCount: f?.resultCount ?? 0,
    runCount: f?.runCount ?? 0,
  };
}

/** The case-insensitive key of a bot or pipeline name. */
export function nameKey(name: string): string {
  return name.trim().normalize('NFC').toLowerCase();
}
