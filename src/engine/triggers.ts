import { and, desc, eq, inArray, ne, or } from 'drizzle-orm';
import type { Logger } from 'pino';
import { z } from 'zod';
import { validationError, type BotService } from './bots.ts';
import type { Db } from './db/database.ts';
import { bots, pipelines, triggers, type BotRow, type TriggerRow } from './db/schema.ts';
import { assertAccess, readScope, type Caller } from './access.ts';
import { AppError } from './errors.ts';
import type { EngineEvents, EventBus } from './event-bus.ts';
import type { PipelineService } from './pipelines.ts';
import type { Runner } from './runner/runner.ts';

/**
 * When a trigger fires: its source bot's run `completed`, `failed`, or produced at least one new
 * `result` (a run with new results fires both `completed` and `result` triggers).
 */
export const TRIGGER_EVENTS = ['completed', 'failed', 'result'] as const;

/** One of {@link TRIGGER_EVENTS}. */
export type TriggerEvent = (typeof TRIGGER_EVENTS)[number];

/** A chained run this many hops from its origin may still start; one more hop is refused. */
export const MAX_CHAIN_DEPTH = 10;

/** A bot named by id, or by name (case-insensitive). */
export const botRefSchema = z.union([
  z.number().int().positive(),
  z.string().trim().min(1, 'a bot name or id is required').max(64),
]);

/** A bot reference: its id or its name. */
export type BotRef = z.infer<typeof botRefSchema>;

/**
 * Finds the bot a {@link BotRef} names: a number is an id; a string is a name (case-insensitive),
 * else, when all digits, an id. With `ownerId`, only that user's bots are found (another's is
 * BOT_NOT_FOUND, as if it did not exist).
 * @throws {AppError} BOT_NOT_FOUND
 */
export async function resolveBotRef(botService: BotService, ref: BotRef, ownerId?: number): Promise<BotRow> {
  const owned = (bot: BotRow) => {
    if (ownerId !== undefined && bot.ownerId !== ownerId) throw new AppError('BOT_NOT_FOUND', `No bot with id ${bot.id}.`);
    return bot;
  };
  if (typeof ref === 'number') return owned(await botService.get(ref));
  const byName = await botService.findByName(ref, ownerId);
  if (byName) return byName;
  if (/^\d{1,15}$/.test(ref)) return owned(await botService.get(Number(ref)));
  throw new AppError('BOT_NOT_FOUND', `No bot named "${ref}".`);
}

/**
 * Input accepted when creating a trigger (`enabled` defaults to true): its target is a bot
 * (`target_bot`) or a pipeline (`target_pipeline`, by id or name), one of the two.
 */
export const triggerInputSchema = z
  .object({
    source_bot: botRefSchema,
    event: z.enum(TRIGGER_EVENTS, { error: `event must be one of ${TRIGGER_EVENTS.join(', ')}` }),
    target_bot: botRefSchema.optional(),
    target_pipeline: botRefSchema.optional(),
    enabled: z.boolean().optional(),
  })
  .refine((v) => (v.target_bot === undefined) !== (v.target_pipeline === undefined), { message: 'give target_bot or target_pipeline (one of the two)', path: ['target_bot'] });

/** Input accepted when updating a trigger: any subset of the create fields. */
export const triggerPatchSchema = z.object({
  source_bot: botRefSchema.optional(),
  event: z.enum(TRIGGER_EVENTS, { error: `event must be one of ${TRIGGER_EVENTS.join(', ')}` }).optional(),
  target_bot: botRefSchema.optional(),
  target_pipeline: botRefSchema.optional(),
  enabled: z.boolean().optional(),
});

/** Input accepted by {@link TriggerService.unlink}: without `event`, every event matches. */
export const unlinkInputSchema = z.object({ source_bot: botRefSchema, event: z.enum(TRIGGER_EVENTS).optional(), target_bot: botRefSchema });

export type TriggerInput = z.input<typeof triggerInputSchema>;
export type TriggerPatch = z.input<typeof triggerPatchSchema>;

/** A trigger with both ends' names, as lists and chat replies show it. */
export interface TriggerView extends TriggerRow {
  event: TriggerEvent;
  source: Pick<BotRow, 'id' | 'name' | 'emoji'>;
  /** The bot it starts, or (`targetKind` `pipeline`) the pipeline it runs: then `id` is the pipeline's. */
  target: Pick<BotRow, 'id' | 'name' | 'emoji'>;
  targetKind: 'bot' | 'pipeline';
  /** e.g. `Dev-Bot —completed→ Test-Bot`, `eBay-Scout —result→ pipeline Blog` */
  label: string;
}

/** The resources the trigger chain works with. */
export interface TriggerDeps {
  db: Db;
  bus: EventBus;
  runner: Runner;
  bots: BotService;
  log: Logger;
  /** Runs a pipeline a trigger targets. */
  pipelines: Pick<PipelineService, 'run' | 'get' | 'findByName'>;
}

/**
 * The pipeline a reference names: an id, or a name (case-insensitive); with `ownerId`, only that
 * user's. @throws {AppError} PIPELINE_NOT_FOUND
 */
async function resolvePipelineRef(p: TriggerDeps['pipelines'], ref: BotRef, ownerId?: number): Promise<{ id: number; name: string }> {
  const owned = (pipeline: { id: number; name: string; ownerId: number }) => {
    if (ownerId !== undefined && pipeline.ownerId !== ownerId) throw new AppError('PIPELINE_NOT_FOUND', `No pipeline with id ${pipeline.id}.`);
    return pipeline;
  };
  if (typeof ref === 'number') return owned(await p.get(ref));
  const byName = await p.findByName(ref, ownerId);
  if (byName) return byName;
  if (/^\d{1,15}$/.test(ref)) return owned(await p.get(Number(ref)));
  throw new AppError('PIPELINE_NOT_FOUND', `No pipeline named "${ref}".`);
}

/**
 * Triggers (seed 000/001): "when bot A's run completed | failed | produced a new result, start bot
 * B with A's output (for `failed`: A's error) as input". A trigger that would close a loop is
 * refused when created or changed (`TRIGGER_CYCLE`); at run time a chain deeper than
 * {@link MAX_CHAIN_DEPTH} hops stops with an activity event. It hears `run.finished` once per run.
 */
export class TriggerService {
  private off: (() => void) | null = null;
  /** Runs already handled, so a repeated `run.finished` can never fire twice. */
  private readonly handled = new Set<number>();

  constructor(private readonly deps: TriggerDeps) {}

  /** Starts listening to finished runs. Idempotent: one subscription, however often called. */
  start(): void {
    if (this.off) return;
    this.off = this.deps.bus.on('run.finished', (e) => this.onRunFinished(e));
  }

  /** Stops listening; runs finishing afterwards fire nothing. */
  stop(): void {
    this.off?.();
    this.off = null;
  }

  /**
   * All triggers, newest first; with `botId`, only those where the bot is source or target; with
   * `ownerId`, only those from that user's bots (a connection belongs to its source bot's owner).
   */
  async list(filter: { botId?: number; ownerId?: number } = {}): Promise<TriggerView[]> {
    const conds = [];
    if (filter.botId !== undefined) conds.push(or(eq(triggers.sourceBotId, filter.botId), eq(triggers.targetBotId, filter.botId)));
    if (filter.ownerId !== undefined) conds.push(inArray(triggers.sourceBotId, this.deps.db.select({ id: bots.id }).from(bots).where(eq(bots.ownerId, filter.ownerId))));
    const rows = await this.deps.db
      .select()
      .from(triggers)
      .where(conds.length ? and(...conds) : undefined)
      .orderBy(desc(triggers.id));
    return await this.views(rows);
  }

  /** @throws {AppError} TRIGGER_NOT_FOUND */
  async get(id: number): Promise<TriggerView> {
    return (await this.views([await this.row(id)]))[0]!;
  }

  /**
   * Links a bot to another bot, or to a pipeline ("when eBay-Scout finds a result, run Blog").
   * @param input `{source_bot, event, target_bot | target_pipeline, enabled?}`; by id or name.
   *   Both ends belong to one owner: a target of another user than the source's owner is not found.
   * @param caller who asks (a page or API call); they must be allowed to change the source bot.
   *   Without one (the engine, chat) only the one-owner rule applies.
   * @throws {AppError} VALIDATION_FAILED, BOT_NOT_FOUND, PIPELINE_NOT_FOUND, FORBIDDEN_ROLE, TRIGGER_EXISTS (same
   *   source, event and target), TRIGGER_CYCLE (the target bot already leads back to the source,
   *   or source = target). A pipeline target closes no loop: its steps fire no connections.
   */
  async create(input: unknown, caller?: Caller): Promise<TriggerView> {
    const parsed = triggerInputSchema.safeParse(input);
    if (!parsed.success) throw validationError(parsed.error);
    const v = parsed.data;
    const source = await this.source(v.source_bot, caller);
    let targetBotId: number | null = null;
    let targetPipelineId: number | null = null;
    if (v.target_pipeline !== undefined) {
      const p = await resolvePipelineRef(this.deps.pipelines, v.target_pipeline, source.ownerId);
      await this.checkPipelineLink(source, v.event, p);
      targetPipelineId = p.id;
    } else {
      const target = await resolveBotRef(this.deps.bots, v.target_bot!, source.ownerId);
      await this.checkLink(source, v.event, target);
      targetBotId = target.id;
    }
    const [row] = await this.deps.db
      .insert(triggers)
      .values({ sourceBotId: source.id, event: v.event, targetBotId, targetPipelineId, targetAction: 'start', enabled: v.enabled ?? true, createdAt: Date.now() })
      .returning();
    const view = await this.get(row!.id);
    this.announce(row!, 'created');
    this.deps.bus.emit('notice', { botId: source.id, kind: 'trigger.created', message: `🔗 ${view.label} linked` });
    return view;
  }

  /**
   * Changes a trigger (re-checking for loops when its bots change).
   * Like {@link create}, both ends stay with one owner, and a `caller` must be allowed to change it.
   * @throws {AppError} TRIGGER_NOT_FOUND, VALIDATION_FAILED, BOT_NOT_FOUND, FORBIDDEN_ROLE, TRIGGER_EXISTS, TRIGGER_CYCLE
   */
  async update(id: number, patch: unknown, caller?: Caller): Promise<TriggerView> {
    const row = await this.row(id, caller, 'write');
    const parsed = triggerPatchSchema.safeParse(patch);
    if (!parsed.success) throw validationError(parsed.error);
    const v = parsed.data;
    if (v.target_bot !== undefined && v.target_pipeline !== undefined) {
      throw new AppError('VALIDATION_FAILED', 'give target_bot or target_pipeline (one of the two)', { fields: [{ field: 'target_bot', message: 'one of target_bot, target_pipeline' }] });
    }
    const source = v.source_bot !== undefined ? await this.source(v.source_bot, caller) : await this.deps.bots.get(row.sourceBotId);
    const event = v.event ?? row.event;
    const toPipeline = v.target_pipeline !== undefined || (v.target_bot === undefined && row.targetPipelineId !== null);
    let targetBotId: number | null = null;
    let targetPipelineId: number | null = null;
    if (toPipeline) {
      const p = await resolvePipelineRef(this.deps.pipelines, v.target_pipeline ?? row.targetPipelineId!, source.ownerId);
      if (source.id !== row.sourceBotId || p.id !== row.targetPipelineId || event !== row.event) await this.checkPipelineLink(source, event, p, id);
      targetPipelineId = p.id;
    } else {
      const target = await resolveBotRef(this.deps.bots, v.target_bot ?? row.targetBotId!, source.ownerId);
      if (source.id !== row.sourceBotId || target.id !== row.targetBotId || event !== row.event) await this.checkLink(source, event, target, id);
      targetBotId = target.id;
    }
    await this.deps.db
      .update(triggers)
      .set({ sourceBotId: source.id, targetBotId, targetPipelineId, event, ...(v.enabled !== undefined && { enabled: v.enabled }) })
      .where(eq(triggers.id, id));
    const view = await this.get(id);
    // Both ends: a bot that stops being a target stops "waiting on" its old source.
    if (row.sourceBotId !== source.id || row.targetBotId !== targetBotId || row.targetPipelineId !== targetPipelineId) this.announce(row, 'updated');
    this.announce({ id, sourceBotId: source.id, targetBotId, targetPipelineId }, 'updated');
    if (v.enabled !== undefined && v.enabled !== row.enabled) {
      this.deps.bus.emit('notice', { botId: source.id, kind: 'trigger.updated', message: `🔗 ${view.label} ${v.enabled ? 'enabled' : 'disabled'}` });
    }
    return view;
  }

  /** Emits `trigger.changed` for the connection `t` (its ids as stored). */
  private announce(t: Pick<TriggerRow, 'id' | 'sourceBotId' | 'targetBotId' | 'targetPipelineId'>, change: 'created' | 'updated' | 'deleted'): void {
    this.deps.bus.emit('trigger.changed', { triggerId: t.id, sourceBotId: t.sourceBotId, targetBotId: t.targetBotId, targetPipelineId: t.targetPipelineId, change });
  }

  /** @param caller when given, must be allowed to change the source bot. @throws {AppError} TRIGGER_NOT_FOUND, FORBIDDEN_ROLE */
  async delete(id: number, caller?: Caller): Promise<void> {
    const view = (await this.views([await this.row(id, caller, 'write')]))[0]!;
    await this.deps.db.delete(triggers).where(eq(triggers.id, id));
    this.announce(view, 'deleted');
    this.deps.bus.emit('notice', { botId: view.sourceBotId, kind: 'trigger.deleted', message: `🔗 ${view.label} unlinked` });
  }

  /**
   * Removes the links from one bot to another (chat's `/unlink A completed B`).
   * @param input `{source_bot, event?, target_bot}`; without `event` every event is removed.
   * @returns the removed triggers.
   * @throws {AppError} VALIDATION_FAILED, BOT_NOT_FOUND, TRIGGER_NOT_FOUND (no such link)
   */
  async unlink(input: unknown, caller?: Caller): Promise<TriggerView[]> {
    const parsed = unlinkInputSchema.safeParse(input);
    if (!parsed.success) throw validationError(parsed.error);
    const source = await this.source(parsed.data.source_bot, caller);
    const target = await resolveBotRef(this.deps.bots, parsed.data.target_bot, source.ownerId);
    const found = (await this.list({ botId: source.id })).filter(
      (t) => t.sourceBotId === source.id && t.targetBotId === target.id && (!parsed.data.event || t.event === parsed.data.event),
    );
    if (found.length === 0) {
      throw new AppError('TRIGGER_NOT_FOUND', `${source.name} is not linked to ${target.name}${parsed.data.event ? ` on ${parsed.data.event}` : ''}.`);
    }
    for (const t of found) await this.delete(t.id);
    return found;
  }

  /**
   * One connection as `caller` (when given) may see it, or change it with `write` (it belongs to
   * its source bot's owner). @throws {AppError} TRIGGER_NOT_FOUND, FORBIDDEN_ROLE
   */
  async getFor(caller: Caller, id: number, action: 'read' | 'write' = 'read'): Promise<TriggerView> {
    return (await this.views([await this.row(id, caller, action)]))[0]!;
  }

  private async row(id: number, caller?: Caller, action: 'read' | 'write' = 'read'): Promise<TriggerRow> {
    const [row] = Number.isSafeInteger(id) ? await this.deps.db.select().from(triggers).where(eq(triggers.id, id)) : [];
    const notFound = { code: 'TRIGGER_NOT_FOUND' as const, message: `No trigger with id ${id}.` };
    if (!row) throw new AppError(notFound.code, notFound.message);
    if (caller) assertAccess(caller, (await this.deps.bots.get(row.sourceBotId)).ownerId, action, notFound);
    return row;
  }

  /** The source bot of a new or changed connection: `caller` (when given) must be allowed to change it. */
  private async source(ref: BotRef, caller?: Caller): Promise<BotRow> {
    const bot = await resolveBotRef(this.deps.bots, ref, readScope(caller));
    if (caller) assertAccess(caller, bot.ownerId, 'write', { code: 'BOT_NOT_FOUND', message: `No bot with id ${bot.id}.` });
    return bot;
  }

  /** @throws {AppError} TRIGGER_EXISTS */
  private async checkPipelineLink(source: BotRow, event: TriggerEvent, p: { id: number; name: string }, ignoreId?: number): Promise<void> {
    const [same] = await this.deps.db
      .select()
      .from(triggers)
      .where(and(eq(triggers.sourceBotId, source.id), eq(triggers.event, event), eq(triggers.targetPipelineId, p.id), ignoreId === undefined ? undefined : ne(triggers.id, ignoreId)))
      .limit(1);
    if (same) throw new AppError('TRIGGER_EXISTS', `${source.name} —${event}→ pipeline ${p.name} already exists (trigger #${same.id}).`);
  }

  /** @throws {AppError} TRIGGER_EXISTS, TRIGGER_CYCLE */
  private async checkLink(source: BotRow, event: TriggerEvent, target: BotRow, ignoreId?: number): Promise<void> {
    // Bot → bot edges only: a pipeline target's steps fire no connections, so it closes no loop.
    const others = (await this.deps.db
      .select()
      .from(triggers)
      .where(ignoreId === undefined ? undefined : ne(triggers.id, ignoreId)))
      .filter((t): t is TriggerRow & { targetBotId: number } => t.targetBotId !== null);
    const same = others.find((t) => t.sourceBotId === source.id && t.targetBotId === target.id && t.event === event);
    if (same) throw new AppError('TRIGGER_EXISTS', `${source.name} —${event}→ ${target.name} already exists (trigger #${same.id}).`);
    const loop = findPath(others, target.id, source.id);
    if (loop) {
      const names = new Map((await this.deps.db.select({ id: bots.id, name: bots.name }).from(bots)).map((b) => [b.id, b.name]));
      const pathNames = [source.id, ...loop].map((id) => names.get(id) ?? `#${id}`);
      throw new AppError(
        'TRIGGER_CYCLE',
        `Linking ${source.name} to ${target.name} would close a loop: ${pathNames.join(' → ')}. Chains must not lead back to where they started.`,
        { cycle: [source.id, ...loop] },
      );
    }
  }

  private async views(rows: TriggerRow[]): Promise<TriggerView[]> {
    if (rows.length === 0) return [];
    const ids = [...new Set(rows.flatMap((r) => [r.sourceBotId, ...(r.targetBotId === null ? [] : [r.targetBotId])]))];
    const byId = new Map(
      (await this.deps.db.select({ id: bots.id, name: bots.name, emoji: bots.emoji }).from(bots).where(inArray(bots.id, ids))).map((b) => [b.id, b]),
    );
    const pipelineIds = [...new Set(rows.flatMap((r) => (r.targetPipelineId === null ? [] : [r.targetPipelineId])))];
    const pipelineNames = new Map(
      pipelineIds.length ? (await this.deps.db.select({ id: pipelines.id, name: pipelines.name }).from(pipelines).where(inArray(pipelines.id, pipelineIds))).map((p) => [p.id, p.name]) : [],
    );
    return rows.map((r) => {
      const source = byId.get(r.sourceBotId) ?? { id: r.sourceBotId, name: `#${r.sourceBotId}`, emoji: '🤖' };
      if (r.targetPipelineId !== null) {
        const target = { id: r.targetPipelineId, name: pipelineNames.get(r.targetPipelineId) ?? `#${r.targetPipelineId}`, emoji: '🧩' };
        return { ...r, event: r.event as TriggerEvent, source, target, targetKind: 'pipeline' as const, label: `${source.name} —${r.event}→ pipeline ${target.name}` };
      }
      const botId = r.targetBotId!;
      const target = byId.get(botId) ?? { id: botId, name: `#${botId}`, emoji: '🤖' };
      return { ...r, event: r.event as TriggerEvent, source, target, targetKind: 'bot' as const, label: `${source.name} —${r.event}→ ${target.name}` };
    });
  }

  private async onRunFinished(e: EngineEvents['run.finished']): Promise<void> {
    if (e.status !== 'completed' && e.status !== 'failed') return;
    // A pipeline is the chain of its steps: a step's run fires none of its bot's connections.
    if (e.run.pipelineRunId != null) return;
    if (this.handled.has(e.runId)) return;
    this.handled.add(e.runId);
    if (this.handled.size > 10_000) this.handled.delete(this.handled.values().next().value!);

    const events: TriggerEvent[] = e.status === 'failed' ? ['failed'] : e.newResults > 0 ? ['completed', 'result'] : ['completed'];
    const fired = await this.deps.db
      .select()
      .from(triggers)
      .where(and(eq(triggers.sourceBotId, e.botId), eq(triggers.enabled, true), inArray(triggers.event, events)))
      .orderBy(triggers.id);
    if (fired.length === 0) return;
    const run = await this.deps.runner.get(e.runId);
    const [source] = await this.deps.db.select().from(bots).where(eq(bots.id, e.botId));
    if (!source) return;
    const depth = run.chainDepth + 1;
    for (const view of await this.views(fired)) {
      try {
        if (view.targetPipelineId !== null) {
          const input = e.status === 'failed' ? (e.error ?? run.error ?? '') : (e.output ?? run.output ?? '');
          const pr = await this.deps.pipelines.run(view.targetPipelineId, { input, trigger: `trigger:${source.name}` });
          this.deps.bus.emit('notice', { botId: source.id, runId: run.id, kind: 'trigger.fired', message: `🔗 ${view.label}: pipeline run #${pr.id} started from run #${run.id}` });
          continue;
        }
        const [target] = await this.deps.db.select().from(bots).where(eq(bots.id, view.targetBotId!));
        if (!target) continue;
        if (depth > MAX_CHAIN_DEPTH) {
          this.deps.bus.emit('notice', {
            botId: target.id,
            runId: run.id,
            kind: 'trigger.stopped',
            message: `⛔ ${view.label}: chain stopped — run #${run.id} is already ${run.chainDepth} hops deep (limit ${MAX_CHAIN_DEPTH})`,
            level: 'error',
          });
          continue;
        }
        if (target.paused) {
          this.deps.bus.emit('notice', { botId: target.id, runId: run.id, kind: 'trigger.skipped', message: `⏭ ${view.label}: ${target.name} is paused, not started`, level: 'warn' });
          continue;
        }
        const input = e.status === 'failed' ? (e.error ?? run.error ?? '') : (e.output ?? run.output ?? '');
        const started = await this.deps.runner.enqueue(target, { input, trigger: `trigger:${source.name}`, chainDepth: depth, parentRunId: run.id });
        this.deps.bus.emit('notice', {
          botId: target.id,
          runId: started.id,
          kind: 'trigger.fired',
          message: `🔗 ${view.label}: run #${started.id} started from run #${run.id}`,
        });
      } catch (err) {
        this.deps.log.error({ err, triggerId: view.id, runId: run.id }, 'trigger could not start its target');
        this.deps.bus.emit('notice', { botId: view.targetBotId ?? view.sourceBotId, runId: run.id, kind: 'trigger.error', message: `${view.label}: could not start — ${(err as Error).message}`, level: 'error' });
      }
    }
  }
}

/**
 * A path of bot ids from `from` to `to` along triggers (inclusive of both), or null. `from === to`
 * is the one-node path.
 */
function findPath(edges: { sourceBotId: number; targetBotId: number }[], from: number, to: number): number[] | null {
  const next = new Map<number, number[]>();
  for (const e of edges) next.set(e.sourceBotId, [...(next.get(e.sourceBotId) ?? []), e.targetBotId]);
  const parent = new Map<number, number | null>([[from, null]]);
  const queue = [from];
  while (queue.length > 0) {
    const node = queue.shift()!;
    if (node === to) {
      const path: number[] = [];
      for (let n: number | null = node; n !== null; n = parent.get(n) ?? null) path.unshift(n);
      return path;
    }
    for (const n of next.get(node) ?? []) {
      if (!parent.has(n)) {
        parent.set(n, node);
        queue.push(n);
      }
    }
  }
  return null;
}
