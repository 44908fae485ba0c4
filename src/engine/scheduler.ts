import cron, { type ScheduledTask } from 'node-cron';
import { and, eq, isNotNull, isNull, lt, or } from 'drizzle-orm';
import type { Logger } from 'pino';
import { rowsChanged, type Db } from './db/database.ts';
import { bots, pipelines } from './db/schema.ts';
import type { EventBus } from './event-bus.ts';
import type { PipelineService } from './pipelines.ts';
import type { Runner } from './runner/runner.ts';
import { countOccurrences, floorSecond, isOccurrence, MISSED_COUNT_CAP } from './schedule-time.ts';

// The pure time arithmetic (next occurrence, missed count) lives in schedule-time.ts; importers of
// these names from here keep working.
export { countOccurrences, floorSecond, isOccurrence, MISSED_COUNT_CAP, nextOccurrence, nextRunAt } from './schedule-time.ts';

// ─── The scheduler: node-cron tasks plus an atomic claim per occurrence ──────────────────────────

/** What the scheduler starts: a bot's run or a pipeline's run. */
export type ScheduleKind = 'bot' | 'pipeline';

interface Target {
  kind: ScheduleKind;
  id: number;
  /** e.g. "🛒 eBay-Scout" or "🧩 Blog" */
  label: string;
  schedule: string | null;
  active: boolean;
  claimedAt: number | null;
  updatedAt: number;
  botId: number | null;
}

/** The resources the scheduler works with. */
export interface SchedulerDeps {
  db: Db;
  bus: EventBus;
  runner: Runner;
  pipelines: PipelineService;
  log: Logger;
}

/**
 * Fires bot and pipeline schedules (node-cron, the process's time zone), each occurrence at most
 * once, even across restarts or with two processes on one data dir: an occurrence is claimed with
 * one conditional UPDATE of `schedule_claimed_at` (the occurrence's second, in ms), and only the
 * claimer starts a run. An occurrence is skipped (with an activity event) while the bot's previous
 * run is queued or running, or the pipeline's previous run is still going; paused bots have no
 * task. Occurrences missed while the process was down are not replayed: `start()` records how many
 * in one event. Changes apply at once (bus `bot.changed`, `PipelineService.onChange`, and from the other processes of
 * a cluster `bot.changed` and `pipeline.changed` without a run).
 */
export class Scheduler {
  private readonly tasks = new Map<string, { expression: string; task: ScheduledTask }>();
  private offs: (() => void)[] = [];
  private started = false;
  /** Syncs and firings, one after another (a task is armed from a row read in the same turn). */
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly deps: SchedulerDeps) {}

  /** Accounts for occurrences missed while down, then schedules every bot and pipeline. Idempotent. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (const b of await this.deps.db.select({ id: bots.id }).from(bots).where(isNotNull(bots.schedule))) await this.sync('bot', b.id, true);
    for (const p of await this.deps.db.select({ id: pipelines.id }).from(pipelines).where(isNotNull(pipelines.schedule))) await this.sync('pipeline', p.id, true);
    // Remote too: a bot or pipeline changed through another process of a cluster re-arms its task here.
    this.offs.push(this.deps.bus.on('bot.changed', ({ botId }) => this.inTurn(() => this.sync('bot', botId, false)), { remote: true }));
    this.offs.push(this.deps.pipelines.onChange((id) => void this.inTurn(() => this.sync('pipeline', id, false))));
    this.offs.push(this.deps.bus.on('pipeline.changed', ({ pipelineId, pipelineRunId }) => (pipelineRunId === null ? this.inTurn(() => this.sync('pipeline', pipelineId, false)) : undefined), { remote: true }));
  }

  /** Stops every task and listener; nothing fires afterwards. Resolves once a sync or firing under way is done. */
  async stop(): Promise<void> {
    for (const off of this.offs.splice(0)) off();
    this.started = false;
    await this.chain;
    for (const { task } of this.tasks.values()) void task.destroy();
    this.tasks.clear();
  }

  /** Runs `fn` after the syncs and firings before it; its failure is logged. */
  private inTurn(fn: () => Promise<void>): Promise<void> {
    const out = this.chain.then(fn).catch((err: unknown) => this.deps.log.error({ err }, 'scheduler: could not sync or fire a schedule'));
    this.chain = out;
    return out;
  }

  /** Brings one bot's or pipeline's task in line with its row (created, changed, paused, deleted). */
  private async sync(kind: ScheduleKind, id: number, atStart: boolean): Promise<void> {
    if (!this.started) return;
    const key = `${kind}:${id}`;
    const target = await this.load(kind, id);
    if (!this.started) return;
    const want = target?.active ? target.schedule : null;
    const have = this.tasks.get(key);
    if (have && have.expression === want) return;
    if (have) {
      void have.task.destroy();
      this.tasks.delete(key);
    }
    if (!target || !want) return;
    try {
      await this.arm(key, target, want, atStart);
    } catch (err) {
      this.deps.log.error({ err, kind, id, schedule: want }, 'could not arm a schedule');
      this.deps.bus.emit('notice', { botId: target.botId, kind: 'schedule.error', message: `${target.label}: schedule "${want}" could not be armed`, level: 'error' });
    }
  }

  private async arm(key: string, target: Target, expression: string, atStart: boolean): Promise<void> {
    const second = floorSecond(Date.now());
    if (atStart) {
      const baseline = target.claimedAt ?? target.updatedAt;
      const missed = countOccurrences(expression, baseline, second);
      if (missed > 0) {
        const n = missed >= MISSED_COUNT_CAP ? `${MISSED_COUNT_CAP} or more` : String(missed);
        this.deps.bus.emit('notice', {
          botId: target.botId,
          kind: 'schedule.missed',
          message: `${target.label}: ${n} scheduled run${missed === 1 ? ' was' : 's were'} missed while the process was down (not replayed)`,
          level: 'warn',
        });
      }
    }
    // Everything before this second is accounted for, so a later start does not count it again.
    await this.raiseWatermark(target.kind, target.id, second - 1);
    // node-cron fires from the next second on; the current one, when it is an occurrence, is
    // tried here. The claim makes that safe when a previous process already fired it.
    if (atStart && isOccurrence(expression, second)) await this.fire(target.kind, target.id, second);
    const task = cron.schedule(expression, (ctx) => void this.inTurn(() => this.fire(target.kind, target.id, floorSecond(ctx.date.getTime()))), {
      name: `openorchestrator-${key}`,
      missedExecutionTolerance: 30_000,
    });
    task.on('execution:missed', (ctx) => void this.inTurn(() => this.missed(target.kind, target.id, floorSecond(ctx.date.getTime()))));
    this.tasks.set(key, { expression, task });
  }

  /** One occurrence: claim it, then start a run unless the previous one is still going. */
  private async fire(kind: ScheduleKind, id: number, occurrence: number): Promise<void> {
    try {
      const target = await this.load(kind, id);
      if (!target?.active || !target.schedule) return;
      if (!(await this.claim(kind, id, occurrence))) {
        this.deps.log.debug({ kind, id, occurrence }, 'schedule occurrence already claimed');
        return;
      }
      const at = new Date(occurrence).toLocaleTimeString('en-GB');
      if (kind === 'bot') {
        const [bot] = await this.deps.db.select().from(bots).where(eq(bots.id, id));
        const active = await this.deps.runner.activeForBot(id);
        if (active.length > 0) {
          this.skipped(target, at, `run #${active[0]!.id} is still ${active[0]!.status}`);
          return;
        }
        const run = await this.deps.runner.enqueue(bot!, { trigger: 'schedule', occurrence });
        this.deps.bus.emit('notice', { botId: id, runId: run.id, kind: 'schedule.fired', message: `⏰ ${target.label}: scheduled run #${run.id} started (occurrence ${at})` });
      } else {
        const active = await this.deps.pipelines.activeRun(id);
        if (active) {
          this.skipped(target, at, `pipeline run #${active.id} is still running`);
          return;
        }
        const pr = await this.deps.pipelines.run(id, { trigger: 'schedule' });
        this.deps.bus.emit('notice', { kind: 'schedule.fired', message: `⏰ ${target.label}: scheduled pipeline run #${pr.id} started (occurrence ${at})` });
      }
    } catch (err) {
      this.deps.log.error({ err, kind, id, occurrence }, 'scheduled occurrence failed');
      const target = await this.safeLoad(kind, id);
      this.deps.bus.emit('notice', {
        botId: target?.botId ?? null,
        kind: 'schedule.error',
        message: `${target?.label ?? `${kind} #${id}`}: scheduled run could not start — ${(err as Error).message}`,
        level: 'error',
      });
    }
  }

  /** node-cron saw an occurrence too late (a stalled event loop): account for it, do not run it. */
  private async missed(kind: ScheduleKind, id: number, occurrence: number): Promise<void> {
    const target = await this.safeLoad(kind, id);
    if (!target?.active || !(await this.claim(kind, id, occurrence))) return;
    this.deps.log.warn({ kind, id, occurrence }, 'schedule occurrence missed (event loop was busy)');
    this.deps.bus.emit('notice', {
      botId: target.botId,
      kind: 'schedule.missed',
      message: `${target.label}: the ${new Date(occurrence).toLocaleTimeString('en-GB')} occurrence was missed (the process was busy)`,
      level: 'warn',
    });
  }

  private skipped(target: Target, at: string, why: string): void {
    this.deps.bus.emit('notice', { botId: target.botId, kind: 'schedule.skipped', message: `⏭ ${target.label}: scheduled run at ${at} skipped — ${why}`, level: 'warn' });
  }

  /**
   * Claims one occurrence. Atomic in SQLite: of any number of callers (this process after a
   * restart, a second process), exactly one sees a changed row.
   */
  private async claim(kind: ScheduleKind, id: number, occurrence: number): Promise<boolean> {
    const t = kind === 'bot' ? bots : pipelines;
    const r = await this.deps.db
      .update(t)
      .set({ scheduleClaimedAt: occurrence })
      .where(and(eq(t.id, id), or(isNull(t.scheduleClaimedAt), lt(t.scheduleClaimedAt, occurrence))));
    return rowsChanged(r) === 1;
  }

  private async raiseWatermark(kind: ScheduleKind, id: number, ms: number): Promise<void> {
    await this.claim(kind, id, ms);
  }

  private async load(kind: ScheduleKind, id: number): Promise<Target | undefined> {
    if (kind === 'bot') {
      const [b] = await this.deps.db.select().from(bots).where(eq(bots.id, id));
      return b && { kind, id, label: `${b.emoji} ${b.name}`, schedule: b.schedule, active: !b.paused, claimedAt: b.scheduleClaimedAt, updatedAt: b.updatedAt, botId: b.id };
    }
    const [p] = await this.deps.db.select().from(pipelines).where(eq(pipelines.id, id));
    return p && { kind, id, label: `🧩 ${p.name}`, schedule: p.schedule, active: true, claimedAt: p.scheduleClaimedAt, updatedAt: p.updatedAt, botId: null };
  }

  private async safeLoad(kind: ScheduleKind, id: number): Promise<Target | undefined> {
    try {
      return await this.load(kind, id);
    } catch {
      return undefined;
    }
  }
}
