import { and, desc, eq, inArray, ne, or } from 'drizzle-orm';
import type { Logger } from 'pino';
import { z } from 'zod';
import { validationError, type BotService } from './bots.ts';
import type { Db } from './db/database.ts';
import { bots, pipelines, triggers, type BotRow, type TriggerRow } from './db/schema.ts';
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
 * else, when all digits, an id.
 * @throws {AppError} BOT_NOT_FOUND
 */
export function resolveBotRef(botService: BotService, ref: BotRef): BotRow {
  if (typeof ref === 'number') return botService.get(ref);
  const byName = botService.findByName(ref);
  if (byName) return byName;
  if (/^\d{1,15}$/.test(ref)) return botService.get(Number(ref));
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

/** The pipeline a reference names: an id, or a name (case-insensitive). @throws {AppError} PIPELINE_NOT_FOUND */
function resolvePipelineRef(p: TriggerDeps['pipelines'], ref: BotRef): { id: number; name: string } {
  if (typeof ref === 'number') return p.get(ref);
  const byName = p.findByName(ref);
  if (byName) return byName;
  if (/^\d{1,15}$/.test(ref)) return p.get(Number(ref));
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

  /** All triggers, newest first; with `botId`, only those where the bot is source or target. */
  list(filter: { botId?: number } = {}): TriggerView[] {
    const q = this.deps.db.select().from(triggers);
    const rows = (
      filter.botId === undefined ? q : q.where(or(eq(triggers.sourceBotId, filter.botId), eq(triggers.targetBotId, filter.botId)))
    )
      .orderBy(desc(triggers.id))
      .all();
    return this.views(rows);
  }

  /** @throws {AppError} TRIGGER_NOT_FOUND */
  get(id: number): TriggerView {
    return this.views([this.row(id)])[0]!;
  }

  /**
   * Links a bot to another bot, or to a pipeline ("when eBay-Scout finds a result, run Blog").
   * @param input `{source_bot, event, target_bot | target_pipeline, enabled?}`; by id or name.
   * @throws {AppError} VALIDATION_FAILED, BOT_NOT_FOUND, PIPELINE_NOT_FOUND, TRIGGER_EXISTS (same
   *   source, event and target), TRIGGER_CYCLE (the target bot already leads back to the source,
   *   or source = target). A pipeline target closes no loop: its steps fire no connections.
   */
  create(input: unknown): TriggerView {
    const parsed = triggerInputSchema.safeParse(input);
    if (!parsed.success) throw validationError(parsed.error);
    const v = parsed.data;
    const source = resolveBotRef(this.deps.bots, v.source_bot);
    let targetBotId: number | null = null;
    let targetPipelineId: number | null = null;
    if (v.target_pipeline !== undefined) {
      const p = resolvePipelineRef(this.deps.pipelines, v.target_pipeline);
      this.checkPipelineLink(source, v.event, p);
      targetPipelineId = p.id;
    } else {
      const target = resolveBotRef(this.deps.bots, v.target_bot!);
      this.checkLink(source, v.event, target);
      targetBotId = target.id;
    }
    const row = this.deps.db
      .insert(triggers)
      .values({ sourceBotId: source.id, event: v.event, targetBotId, targetPipelineId, targetAction: 'start', enabled: v.enabled ?? true, createdAt: Date.now() })
      .returning()
      .get();
    const view = this.get(row.id);
    this.announce(row, 'created');
    this.deps.bus.emit('notice', { botId: source.id, kind: 'trigger.created', message: `🔗 ${view.label} linked` });
    return view;
  }

  /**
   * Changes a trigger (re-checking for loops when its bots change).
   * @throws {AppError} TRIGGER_NOT_FOUND, VALIDATION_FAILED, BOT_NOT_FOUND, TRIGGER_EXISTS, TRIGGER_CYCLE
   */
  update(id: number, patch: unknown): TriggerView {
    const row = this.row(id);
    const parsed = triggerPatchSchema.safeParse(patch);
    if (!parsed.success) throw validationError(parsed.error);
    const v = parsed.data;
    if (v.target_bot !== undefined && v.target_pipeline !== undefined) {
      throw new AppError('VALIDATION_FAILED', 'give target_bot or target_pipeline (one of the two)', { fields: [{ field: 'target_bot', message: 'one of target_bot, target_pipeline' }] });
    }
    const source = v.source_bot !== undefined ? resolveBotRef(this.deps.bots, v.source_bot) : this.deps.bots.get(row.sourceBotId);
    const event = v.event ?? row.event;
    const toPipeline = v.target_pipeline !== undefined || (v.target_bot === undefined && row.targetPipelineId !== null);
    let targetBotId: number | null = null;
    let targetPipelineId: number | null = null;
    if (toPipeline) {
      const p = v.target_pipeline !== undefined ? resolvePipelineRef(this.deps.pipelines, v.target_pipeline) : this.deps.pipelines.get(row.targetPipelineId!);
      if (source.id !== row.sourceBotId || p.id !== row.targetPipelineId || event !== row.event) this.checkPipelineLink(source, event, p, id);
      targetPipelineId = p.id;
    } else {
      const target = v.target_bot !== undefined ? resolveBotRef(this.deps.bots, v.target_bot) : this.deps.bots.get(row.targetBotId!);
      if (source.id !== row.sourceBotId || target.id !== row.targetBotId || event !== row.event) this.checkLink(source, event, target, id);
      targetBotId = target.id;
    }
    this.deps.db
      .update(triggers)
      .set({ sourceBotId: source.id, targetBotId, targetPipelineId, event, ...(v.enabled !== undefined && { enabled: v.enabled }) })
      .where(eq(triggers.id, id))
      .run();
    const view = this.get(id);
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

  /** @throws {AppError} TRIGGER_NOT_FOUND */
  delete(id: number): void {
    const view = this.get(id);
    this.deps.db.delete(triggers).where(eq(triggers.id, id)).run();
    this.announce(view, 'deleted');
    this.deps.bus.emit('notice', { botId: view.sourceBotId, kind: 'trigger.deleted', message: `🔗 ${view.label} unlinked` });
  }

  /**
   * Removes the links from one bot to another (chat's `/unlink A completed B`).
   * @param input `{source_bot, event?, target_bot}`; without `event` every event is removed.
   * @returns the removed triggers.
   * @throws {AppError} VALIDATION_FAILED, BOT_NOT_FOUND, TRIGGER_NOT_FOUND (no such link)
   */
  unlink(input: unknown): TriggerView[] {
    const parsed = unlinkInputSchema.safeParse(input);
    if (!parsed.success) throw validationError(parsed.error);
    const source = resolveBotRef(this.deps.bots, parsed.data.source_bot);
    const target = resolveBotRef(this.deps.bots, parsed.data.target_bot);
    const found = this.list({ botId: source.id }).filter(
      (t) => t.sourceBotId === source.id && t.targetBotId === target.id && (!parsed.data.event || t.event === parsed.data.event),
    );
    if (found.length === 0) {
      throw new AppError('TRIGGER_NOT_FOUND', `${source.name} is not linked to ${target.name}${parsed.data.event ? ` on ${parsed.data.event}` : ''}.`);
    }
    for (const t of found) this.delete(t.id);
    return found;
  }

  private row(id: number): TriggerRow {
    const row = Number.isSafeInteger(id) ? this.deps.db.select().from(triggers).where(eq(triggers.id, id)).get() : undefined;
    if (!row) throw new AppError('TRIGGER_NOT_FOUND', `No trigger with id ${id}.`);
    return row;
  }

  /** @throws {AppError} TRIGGER_EXISTS */
  private checkPipelineLink(source: BotRow, event: TriggerEvent, p: { id: number; name: string }, ignoreId?: number): void {
    const same = this.deps.db
      .select()
      .from(triggers)
      .where(and(eq(triggers.sourceBotId, source.id), eq(triggers.event, event), eq(triggers.targetPipelineId, p.id), ignoreId === undefined ? undefined : ne(triggers.id, ignoreId)))
      .get();
    if (same) throw new AppError('TRIGGER_EXISTS', `${source.name} —${event}→ pipeline ${p.name} already exists (trigger #${same.id}).`);
  }

  /** @throws {AppError} TRIGGER_EXISTS, TRIGGER_CYCLE */
  private checkLink(source: BotRow, event: TriggerEvent, target: BotRow, ignoreId?: number): void {
    // Bot → bot edges only: a pipeline target's steps fire no connections, so it closes no loop.
    const others = this.deps.db
      .select()
      .from(triggers)
      .where(ignoreId === undefined ? undefined : ne(triggers.id, ignoreId))
      .all()
      .filter((t): t is TriggerRow & { targetBotId: number } => t.targetBotId !== null);
    const same = others.find((t) => t.sourceBotId === source.id && t.targetBotId === target.id && t.event === event);
    if (same) throw new AppError('TRIGGER_EXISTS', `${source.name} —${event}→ ${target.name} already exists (trigger #${same.id}).`);
    const loop = findPath(others, target.id, source.id);
    if (loop) {
      const names = new Map(this.deps.db.select({ id: bots.id, name: bots.name }).from(bots).all().map((b) => [b.id, b.name]));
      const pathNames = [source.id, ...loop].map((id) => names.get(id) ?? `#${id}`);
      throw new AppError(
        'TRIGGER_CYCLE',
        `Linking ${source.name} to ${target.name} would close a loop: ${pathNames.join(' → ')}. Chains must not lead back to where they started.`,
        { cycle: [source.id, ...loop] },
      );
    }
  }

  private views(rows: TriggerRow[]): TriggerView[] {
    if (rows.length === 0) return [];
    const ids = [...new Set(rows.flatMap((r) => [r.sourceBotId, ...(r.targetBotId === null ? [] : [r.targetBotId])]))];
    const byId = new Map(
      this.deps.db.select({ id: bots.id, name: bots.name, emoji: bots.emoji }).from(bots).where(inArray(bots.id, ids)).all().map((b) => [b.id, b]),
    );
    const pipelineIds = [...new Set(rows.flatMap((r) => (r.targetPipelineId === null ? [] : [r.targetPipelineId])))];
    const pipelineNames = new Map(
      pipelineIds.length ? this.deps.db.select({ id: pipelines.id, name: pipelines.name }).from(pipelines).where(inArray(pipelines.id, pipelineIds)).all().map((p) => [p.id, p.name]) : [],
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

  private onRunFinished(e: EngineEvents['run.finished']): void {
    if (e.status !== 'completed' && e.status !== 'failed') return;
    // A pipeline is the chain of its steps: a step's run fires none of its bot's connections.
    if (e.run.pipelineRunId != null) return;
    if (this.handled.has(e.runId)) return;
    this.handled.add(e.runId);
    if (this.handled.size > 10_000) this.handled.delete(this.handled.values().next().value!);

    const events: TriggerEvent[] = e.status === 'failed' ? ['failed'] : e.newResults > 0 ? ['completed', 'result'] : ['completed'];
    const fired = this.deps.db
      .select()
      .from(triggers)
      .where(and(eq(triggers.sourceBotId, e.botId), eq(triggers.enabled, true), inArray(triggers.event, events)))
      .orderBy(triggers.id)
      .all();
    if (fired.length === 0) return;
    const run = this.deps.runner.get(e.runId);
    const source = this.deps.db.select().from(bots).where(eq(bots.id, e.botId)).get();
    if (!source) return;
    const depth = run.chainDepth + 1;
    for (const view of this.views(fired)) {
      try {
        if (view.targetPipelineId !== null) {
          const input = e.status === 'failed' ? (e.error ?? run.error ?? '') : (e.output ?? run.output ?? '');
          const pr = this.deps.pipelines.run(view.targetPipelineId, { input, trigger: `trigger:${source.name}` });
          this.deps.bus.emit('notice', { botId: source.id, runId: run.id, kind: 'trigger.fired', message: `🔗 ${view.label}: pipeline run #${pr.id} started from run #${run.id}` });
          continue;
        }
        const target = this.deps.db.select().from(bots).where(eq(bots.id, view.targetBotId!)).get();
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
        const started = this.deps.runner.enqueue(target, { input, trigger: `trigger:${source.name}`, chainDepth: depth, parentRunId: run.id });
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
