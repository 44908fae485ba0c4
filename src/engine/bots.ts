import { MAX_RETRIES } from './runner/retry-policy.ts';
import fs from 'node:fs';
import path from 'node:path';
import { and, count, desc, eq, inArray, sql } from 'drizzle-orm';
import { alias } from 'drizzle-orm/sqlite-core';
import { FIRST_ADMIN_ID } from './access.ts';
import { z } from 'zod';
import { sqliteClient, transaction, type Db } from './db/database.ts';
import type { Database as SqliteDatabase } from 'better-sqlite3';
import { removeBotSecrets } from './bot-secrets.ts';
import { botState, type BotState, type BotStateFacts, type BotStateKind } from './bot-status.ts';
import { bots, results, runs, triggers, type BotRow } from './db/schema.ts';
import { AppError } from './errors.ts';
import type { EventBot, EventBus } from './event-bus.ts';
import { parseModel, type ProviderName } from './providers/models.ts';
import { notifySchema } from './notify/index.ts';
import { parseScheduleSpec } from './schedule-spec.ts';
import { ACTIVE_RUN_STATUSES, type RunStatus } from './run-status.ts';
import { nextRunAt } from './scheduler.ts';

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
  /** What a person reads about it (see {@link BotState}); `status` is its kind. */
  state: BotState;
  status: BotStateKind;
  lastRunId: number | null;
  lastRunAt: number | null;
  lastRunStatus: RunStatus | null;
  resultCount: number;
  runCount: number;
  /** When its schedule fires next (epoch ms); null when unscheduled, paused or unreadable. */
  nextRunAt: number | null;
}

/** A request for one page of the bot grid: name search, state filter, 1-based page. */
export interface BotPageQuery {
  /** Part of the name, any case. */
  q?: string;
  status?: BotStateKind | null;
  page?: number;
  /** Bots per page, 1..200 (default {@link BOTS_PER_PAGE}). */
  perPage?: number;
  /** Only the bots of this owner (`users.id`; see `readScope` in access.ts); undefined: every owner's. */
  ownerId?: number;
}

/** One page of the bot grid. */
export interface BotPage {
  bots: BotSummary[];
  /** Bots that match the search and filter. */
  total: number;
  /** The page shown (1-based, clamped to 1..pages) and how many there are (at least 1). */
  page: number;
  pages: number;
  perPage: number;
}

/** Cards on one page of the dashboard's grid. */
export const BOTS_PER_PAGE = 48;

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
    /** `ownProviders`: the providers a bot has its own key for (its secrets), allowed for it although the server has no key. */
    private readonly opts: { dataDir: string; providers: ProviderName[]; ownProviders?: (botId: number) => ProviderName[] },
  ) {}

  /** All bots, oldest first; with `ownerId`, only that user's (see `readScope` in access.ts). */
  async list(ownerId?: number): Promise<BotRow[]> {
    const q = this.db.select().from(bots);
    return (ownerId === undefined ? q : q.where(eq(bots.ownerId, ownerId))).orderBy(bots.id);
  }

  /** All bots (with `ownerId`, that user's) with state, last run and counts (grouped queries, whatever the number of bots). */
  async listSummaries(ownerId?: number): Promise<BotSummary[]> {
    return this.summaries(await this.list(ownerId));
  }

  /**
   * One page of bots (oldest first) matching a name search and a state, with their summaries. Only
   * the page's bots are summarized (runs and results counted); a state filter decides the states
   * of all matching bots from four small queries (active runs by the status index, connections,
   * each bot's newest run by one index seek, the bots), so the cost grows with the page and the
   * fleet's size in bots, not with its runs and results.
   */
  async listPage(query: BotPageQuery = {}): Promise<BotPage> {
    const perPage = Math.min(Math.max(Math.trunc(query.perPage ?? BOTS_PER_PAGE), 1), 200);
    const needle = query.q ? nameKey(query.q) : '';
    // null takes every owner's bots.
    const owner = query.ownerId ?? null;
    const reads = this.reads;
    if (!needle && !query.status) {
      // The whole fleet (or one owner's), oldest first: one page by the primary key.
      const total = await reads.count(owner);
      const pages = Math.max(1, Math.ceil(total / perPage));
      const page = Math.min(Math.max(Math.trunc(query.page ?? 1) || 1, 1), pages);
      const ids = await reads.pageIds(owner, perPage, (page - 1) * perPage);
      return { bots: await this.summaries(await this.rows(ids)), total, page, pages, perPage };
    }
    let light = await reads.light(owner);
    if (needle) light = light.filter((b) => b.nameKey.includes(needle));
    if (query.status) {
      const facts = await this.stateFacts(light, { detail: false });
      light = light.filter((b) => botState(facts(b)).kind === query.status);
    }
    const pages = Math.max(1, Math.ceil(light.length / perPage));
    const page = Math.min(Math.max(Math.trunc(query.page ?? 1) || 1, 1), pages);
    const ids = light.slice((page - 1) * perPage, page * perPage).map((b) => b.id);
    return { bots: await this.summaries(await this.rows(ids)), total: light.length, page, pages, perPage };
  }

  /** The bots with these ids (unknown ids are left out), oldest first. */
  async rows(ids: number[]): Promise<BotRow[]> {
    if (ids.length === 0) return [];
    if (!sqliteClient(this.db)) return this.db.select().from(bots).where(inArray(bots.id, ids)).orderBy(bots.id);
    // SQLite: one prepared statement whatever the number of ids (they are passed as a JSON array).
    this.byIds ??= this.db
      .select()
      .from(bots)
      .where(sql`${bots.id} in (select value from json_each(${sql.placeholder('ids')}))`)
      .orderBy(bots.id)
      .prepare();
    return this.byIds.all({ ids: JSON.stringify(ids) });
  }

  private byIds: { all(values: { ids: string }): BotRow[] } | undefined;

  /** Summaries of the bots with these ids (unknown ids are left out), oldest first. */
  async summarizeIds(ids: number[]): Promise<BotSummary[]> {
    return this.summaries(await this.rows(ids));
  }

  /** @throws {AppError} BOT_NOT_FOUND */
  async get(id: number): Promise<BotRow> {
    const [row] = Number.isSafeInteger(id) ? await this.db.select().from(bots).where(eq(bots.id, id)) : [];
    if (!row) throw new AppError('BOT_NOT_FOUND', `No bot with id ${id}.`);
    return row;
  }

  /**
   * Finds a bot by name, case-insensitively; undefined when none. Names are unique per owner: with
   * `ownerId` only that user's bots are looked at; without it, the oldest bot of that name.
   */
  async findByName(name: string, ownerId?: number): Promise<BotRow | undefined> {
    const key = eq(bots.nameKey, nameKey(name));
    const [row] = await this.db
      .select()
      .from(bots)
      .where(ownerId === undefined ? key : and(key, eq(bots.ownerId, ownerId)))
      .orderBy(bots.id)
      .limit(1);
    return row;
  }

  /** The bot with its state, last run and counts. */
  async summarize(bot: BotRow): Promise<BotSummary> {
    return (await this.summaries([bot]))[0]!;
  }

  /**
   * Tells the service where a queued run stands in the runner's queue (1-based, null when not
   * waiting for a slot), for the `queued` state. The engine wires it to the runner.
   */
  useQueuePositions(position: (runId: number) => number | null | Promise<number | null>): void {
    this.queuePosition = position;
  }

  private queuePosition: (runId: number) => number | null | Promise<number | null> = () => null;

  /** Summaries of `rows`: their states plus run and result counts (grouped queries over these bots). */
  private async summaries(rows: BotRow[]): Promise<BotSummary[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((b) => b.id);
    const facts = await this.stateFacts(rows, { detail: true });
    const runCounts = new Map((await this.reads.runCounts(ids)).map((r) => [r.botId, r.n]));
    const resultCounts = new Map((await this.reads.resultCounts(ids)).map((r) => [r.botId, r.n]));
    return rows.map((b) => {
      const next = nextRunAt(b);
      const f = facts(b, () => next);
      const state = botState(f);
      const last = f.lastRun;
      return {
        ...b,
        state,
        status: state.kind,
        lastRunId: last?.id ?? null,
        lastRunAt: last ? (last.startedAt ?? last.createdAt) : null,
        lastRunStatus: last?.status ?? null,
        resultCount: resultCounts.get(b.id) ?? 0,
        runCount: runCounts.get(b.id) ?? 0,
        nextRunAt: next,
      };
    });
  }

  /**
   * The facts {@link botState} decides from, for each of `list` (all bots, or a few), from four
   * queries: the active runs (few, by the status index), the enabled connections, the bots they
   * come from, and each bot's newest run (one index seek per bot). `detail` adds queue positions;
   * without it a schedule's next occurrence is not computed (the state's kind does not need it).
   */
  private async stateFacts(
    list: { id: number; paused: boolean; schedule: string | null }[],
    opts: { detail: boolean },
  ): Promise<(bot: { id: number; paused: boolean; schedule: string | null }, next?: () => number | null) => BotStateFacts & { lastRun: LastRun | null }> {
    const reads = this.reads;
    const running = new Map<number, { id: number; startedAt: number | null }>();
    const queued = new Map<number, number>();
    for (const r of await reads.active()) {
      if (r.status === 'running') running.set(r.botId, { id: r.id, startedAt: r.startedAt }); // newest wins
      else if (!queued.has(r.botId)) queued.set(r.botId, r.id); // oldest wins
    }
    // Incoming connections whose source is busy: this bot is likely next.
    const waiting = new Map<number, number>();
    if (running.size + queued.size > 0) {
      for (const l of await reads.links()) {
        if ((running.has(l.source) || queued.has(l.source)) && !waiting.has(l.target)) waiting.set(l.target, l.source);
      }
    }
    const sources = new Map<number, EventBot>();
    if (waiting.size > 0) {
      for (const b of await reads.names([...new Set(waiting.values())])) sources.set(b.id, b);
    }
    // Each bot's newest run: one seek in runs_bot_idx per bot (a grouped max() would scan them all).
    const lastRows = await reads.lastRuns(list.length > 200 ? null : list.map((b) => b.id));
    const lastRuns = new Map(lastRows.map((r) => [r.botId, r]));
    // Queue positions of the listed bots' queued runs (asked of the runner before deciding).
    const positions = new Map<number, number | null>();
    if (opts.detail) {
      for (const b of list) {
        const q = queued.get(b.id);
        if (q !== undefined) positions.set(q, await this.queuePosition(q));
      }
    }
    return (bot, next = () => (opts.detail ? nextRunAt(bot) : null)) => {
      const q = queued.get(bot.id);
      const src = waiting.get(bot.id);
      return {
        paused: bot.paused,
        schedule: bot.schedule,
        running: running.get(bot.id) ?? null,
        queued: q === undefined ? null : { id: q, position: positions.get(q) ?? null },
        waitingOn: src === undefined ? null : (sources.get(src) ?? null),
        lastRun: lastRuns.get(bot.id) ?? null,
        nextRunAt: next,
      };
    };
  }

  /**
   * The hot read paths of summaries: on better-sqlite3 raw statements prepared once (the
   * dashboard's measured fast path; ids are passed as a JSON array), elsewhere the same queries
   * with drizzle's query builder. Both give the same shapes.
   */
  private get reads(): SummaryReads {
    const sqlite = sqliteClient(this.db);
    this.summaryReads ??= sqlite ? sqliteSummaryReads(sqlite) : portableSummaryReads(this.db);
    return this.summaryReads;
  }

  private summaryReads: SummaryReads | undefined;

  /**
   * Creates a bot and its docs folder `DATA_DIR/bots/<id>/`.
   * @param ownerId the user it belongs to (`users.id`; default the first admin). Callers check
   *   that this user may create bots (`assertMayCreate` in access.ts).
   * @throws {AppError} VALIDATION_FAILED (bad field, unknown or unconfigured model, bad schedule),
   *   BOT_NAME_TAKEN (the owner has a bot of that name, any case).
   */
  async create(input: unknown, ownerId: number = FIRST_ADMIN_ID): Promise<BotRow> {
    const parsed = botInputSchema.safeParse(input);
    if (!parsed.success) throw validationError(parsed.error);
    const v = parsed.data;
    const model = this.checkModel(v.model ?? 'echo');
    const schedule = this.checkSchedule(v.schedule);
    await this.checkNameFree(v.name, ownerId);
    const now = Date.now();
    const row = await transaction(this.db, async (tx) => {
      const [inserted] = await tx
        .insert(bots)
        .values({
          name: v.name,
          nameKey: nameKey(v.name),
          ownerId,
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
        .returning();
      const docsPath = path.join(this.opts.dataDir, 'bots', String(inserted!.id));
      fs.mkdirSync(docsPath, { recursive: true });
      const [withDocs] = await tx.update(bots).set({ docsPath }).where(eq(bots.id, inserted!.id)).returning();
      return withDocs!;
    });
    this.bus.emit('bot.changed', { botId: row.id, change: 'created' });
    return row;
  }

  /**
   * Updates the given fields of a bot.
   * @throws {AppError} BOT_NOT_FOUND, VALIDATION_FAILED, BOT_NAME_TAKEN
   */
  async update(id: number, patch: unknown): Promise<BotRow> {
    const bot = await this.get(id);
    const parsed = botPatchSchema.safeParse(patch);
    if (!parsed.success) throw validationError(parsed.error);
    const v = parsed.data;
    const set: Partial<typeof bots.$inferInsert> = { updatedAt: Date.now() };
    if (v.name !== undefined && v.name !== bot.name) {
      if (nameKey(v.name) !== bot.nameKey) await this.checkNameFree(v.name, bot.ownerId);
      set.name = v.name;
      set.nameKey = nameKey(v.name);
    }
    if (v.emoji !== undefined) set.emoji = v.emoji || '🤖';
    if (v.description !== undefined) set.description = v.description;
    if (v.prompt !== undefined) set.prompt = v.prompt;
    if (v.model !== undefined) set.model = this.checkModel(v.model, id);
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
    const [row] = await this.db.update(bots).set(set).where(eq(bots.id, id)).returning();
    this.bus.emit('bot.changed', { botId: id, change: 'updated' });
    return row!;
  }

  /**
   * Deletes a bot, its runs, results, triggers, docs folder and secrets. The caller cancels its
   * active runs first (see `Engine.deleteBot`).
   * @throws {AppError} BOT_NOT_FOUND
   */
  async delete(id: number): Promise<void> {
    const bot = await this.get(id);
    // Secrets first: a folder that cannot be removed keeps the bot, never orphans its secrets.
    removeBotSecrets(this.opts.dataDir, id);
    await this.db.delete(bots).where(eq(bots.id, id));
    fs.rmSync(bot.docsPath, { recursive: true, force: true });
    this.bus.emit('bot.changed', { botId: id, change: 'deleted' });
  }

  /** @throws {AppError} BOT_NAME_TAKEN when `ownerId` has a bot of that name (names are unique per owner). */
  private async checkNameFree(name: string, ownerId: number): Promise<void> {
    const other = await this.findByName(name, ownerId);
    if (other) throw new AppError('BOT_NAME_TAKEN', `A bot named "${other.name}" already exists (names are case-insensitive).`);
  }

  private checkModel(model: string, botId?: number): string {
    const ref = parseModel(model);
    if (!ref) {
      throw new AppError('VALIDATION_FAILED', `model "${model}" is not known: use "echo", "openai:<model>" or "anthropic:<model>".`, {
        fields: [{ field: 'model', message: 'unknown model' }],
      });
    }
    if (!this.opts.providers.includes(ref.provider) && !(botId !== undefined && this.opts.ownProviders?.(botId).includes(ref.provider))) {
      const variable = ref.provider === 'openai' ? 'OPENAI_API_KEY' : 'ANTHROPIC_API_KEY';
      throw new AppError('VALIDATION_FAILED', `model "${model}" needs the ${ref.provider} provider, which is not configured (set ${variable}, or give the bot its own ${variable} secret).`, {
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

/** A bot as a page of the grid is chosen from. */
interface LightBot {
  id: number;
  nameKey: string;
  paused: boolean;
  schedule: string | null;
}

/** A bot's newest run, as its summary shows it. */
interface LastRun {
  id: number;
  status: RunStatus;
  error: string | null;
  createdAt: number;
  startedAt: number | null;
}

/** The reads behind bot summaries and the grid's pages; `owner` null means every owner's bots. */
interface SummaryReads {
  light(owner: number | null): Promise<LightBot[]>;
  count(owner: number | null): Promise<number>;
  pageIds(owner: number | null, limit: number, offset: number): Promise<number[]>;
  /** The active runs (queued, running, …), oldest first. */
  active(): Promise<{ id: number; botId: number; status: RunStatus; startedAt: number | null }[]>;
  /** The enabled connections, oldest first. */
  links(): Promise<{ source: number; target: number }[]>;
  names(ids: number[]): Promise<EventBot[]>;
  /** Each bot's newest run (of these bots; null: of every bot). */
  lastRuns(ids: number[] | null): Promise<(LastRun & { botId: number })[]>;
  runCounts(ids: number[]): Promise<{ botId: number; n: number }[]>;
  resultCounts(ids: number[]): Promise<{ botId: number; n: number }[]>;
}

/** {@link SummaryReads} as raw better-sqlite3 statements, prepared once (SQLite-only SQL: json_each, `enabled = 1`). */
function sqliteSummaryReads(c: SqliteDatabase): SummaryReads {
  const inIds = 'in (select value from json_each(?))';
  const last = `select b.id as botId, r.id, r.status, r.error, r.created_at as createdAt, r.started_at as startedAt
    from bots b join runs r on r.id = (select id from runs where bot_id = b.id order by id desc limit 1)`;
  // An owner filter: (owner, owner) with null for every owner's bots.
  const light = c.prepare('select id, name_key as nameKey, paused, schedule from bots where (owner_id = ? or ? is null) order by id');
  const countBots = c.prepare('select count(*) as n from bots where (owner_id = ? or ? is null)');
  const pageIds = c.prepare('select id from bots where (owner_id = ? or ? is null) order by id limit ? offset ?');
  const active = c.prepare(`select id, bot_id as botId, status, started_at as startedAt from runs where status ${inIds} order by id`);
  const links = c.prepare('select source_bot_id as source, target_bot_id as target from triggers where enabled = 1 order by id');
  const names = c.prepare(`select id, name, emoji from bots where id ${inIds}`);
  const lastAll = c.prepare(last);
  const lastSome = c.prepare(`${last} where b.id ${inIds}`);
  const runCounts = c.prepare(`select bot_id as botId, count(*) as n from runs where bot_id ${inIds} group by bot_id`);
  const resultCounts = c.prepare(`select bot_id as botId, count(*) as n from results where bot_id ${inIds} group by bot_id`);
  const activeStatuses = JSON.stringify(ACTIVE_RUN_STATUSES);
  return {
    light: async (owner) => (light.all(owner, owner) as LightBot[]).map((b) => ({ ...b, paused: Boolean(b.paused) })),
    count: async (owner) => (countBots.get(owner, owner) as { n: number }).n,
    pageIds: async (owner, limit, offset) => (pageIds.all(owner, owner, limit, offset) as { id: number }[]).map((r) => r.id),
    active: async () => active.all(activeStatuses) as Awaited<ReturnType<SummaryReads['active']>>,
    links: async () => links.all() as { source: number; target: number }[],
    names: async (ids) => names.all(JSON.stringify(ids)) as EventBot[],
    lastRuns: async (ids) => (ids === null ? lastAll.all() : lastSome.all(JSON.stringify(ids))) as (LastRun & { botId: number })[],
    runCounts: async (ids) => runCounts.all(JSON.stringify(ids)) as { botId: number; n: number }[],
    resultCounts: async (ids) => resultCounts.all(JSON.stringify(ids)) as { botId: number; n: number }[],
  };
}

/** {@link SummaryReads} with drizzle's query builder: the same queries on any driver. */
function portableSummaryReads(db: Db): SummaryReads {
  const ofOwner = (owner: number | null) => (owner === null ? undefined : eq(bots.ownerId, owner));
  const lastRuns = (ids: number[] | null) => {
    const newest = alias(runs, 'newest');
    const newestId = db.select({ id: newest.id }).from(newest).where(eq(newest.botId, bots.id)).orderBy(desc(newest.id)).limit(1);
    return db
      .select({ botId: bots.id, id: runs.id, status: runs.status, error: runs.error, createdAt: runs.createdAt, startedAt: runs.startedAt })
      .from(bots)
      .innerJoin(runs, eq(runs.id, sql`(${newestId})`))
      .where(ids === null ? undefined : inArray(bots.id, ids));
  };
  return {
    light: async (owner) => db.select({ id: bots.id, nameKey: bots.nameKey, paused: bots.paused, schedule: bots.schedule }).from(bots).where(ofOwner(owner)).orderBy(bots.id),
    count: async (owner) => (await db.select({ n: count() }).from(bots).where(ofOwner(owner)))[0]?.n ?? 0,
    pageIds: async (owner, limit, offset) => (await db.select({ id: bots.id }).from(bots).where(ofOwner(owner)).orderBy(bots.id).limit(limit).offset(offset)).map((r) => r.id),
    active: async () =>
      db.select({ id: runs.id, botId: runs.botId, status: runs.status, startedAt: runs.startedAt }).from(runs).where(inArray(runs.status, ACTIVE_RUN_STATUSES)).orderBy(runs.id),
    links: async () =>
      (await db.select({ source: triggers.sourceBotId, target: triggers.targetBotId }).from(triggers).where(eq(triggers.enabled, true)).orderBy(triggers.id)) as {
        source: number;
        target: number;
      }[],
    names: async (ids) => db.select({ id: bots.id, name: bots.name, emoji: bots.emoji }).from(bots).where(inArray(bots.id, ids)),
    lastRuns: async (ids) => lastRuns(ids),
    runCounts: async (ids) => db.select({ botId: runs.botId, n: count() }).from(runs).where(inArray(runs.botId, ids)).groupBy(runs.botId),
    resultCounts: async (ids) => db.select({ botId: results.botId, n: count() }).from(results).where(inArray(results.botId, ids)).groupBy(results.botId),
  };
}

/** The case-insensitive key of a bot or pipeline name. */
export function nameKey(name: string): string {
  return name.trim().normalize('NFC').toLowerCase();
}
