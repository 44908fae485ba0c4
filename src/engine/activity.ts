import { desc, sql } from 'drizzle-orm';
import type { Db } from './db/database.ts';
import { events, type EventRow } from './db/schema.ts';
import type { ActivityLevel, EngineEvents, EventBus } from './event-bus.ts';
import { firstLine } from './runner/finalizer.ts';
import { RUN_STATUS_TABLE } from './run-status.ts';

export type { ActivityLevel } from './event-bus.ts';

/**
 * The activity feed: what happened across all bots, newest first. It is written by one subscriber
 * of the bus (runs queued, retried and finished; `notice` events of the other services), never by
 * the services themselves.
 */
export class ActivityLog {
  private offs: (() => void)[] = [];

  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
  ) {}

  /** Subscribes to the bus. Idempotent. */
  start(): void {
    if (this.offs.length > 0) return;
    this.offs.push(
      this.bus.on('run.queued', (e) => {
        if (e.run.attempt > 1) return; // `run.retrying` said it
        return this.record({ botId: e.botId, runId: e.runId, kind: 'run.queued', message: `${e.bot.emoji} ${e.bot.name}: run #${e.runId} started (${e.trigger})` });
      }),
      this.bus.on('run.retrying', (e) =>
        this.record({
          botId: e.botId,
          runId: e.runId,
          kind: 'run.retrying',
          message: `${e.bot.emoji} ${e.bot.name}: run #${e.runId} attempt ${e.attempt} of ${e.maxAttempts} failed — ${e.reason}; trying again in ${Math.round(e.delayMs / 1000)} s`,
          level: 'warn',
        }),
      ),
      this.bus.on('run.finished', (e) => this.onFinished(e)),
      this.bus.on('notice', (e) => this.record(e)),
    );
  }

  /** Unsubscribes. */
  stop(): void {
    for (const off of this.offs.splice(0)) off();
  }

  /** The newest `limit` entries (1..200), newest first; with `ownerId`, only those about that user's bots. */
  async list(limit = 20, ownerId?: number): Promise<EventRow[]> {
    const q = this.db.select().from(events);
    // An operator's feed: events about their bots (notices about no bot are for admins and viewers).
    return await (ownerId === undefined ? q : q.where(sql`${events.botId} in (select id from bots where owner_id = ${ownerId})`))
      .orderBy(desc(events.id))
      .limit(Math.min(Math.max(limit, 1), 200));
  }

  private async onFinished(e: EngineEvents['run.finished']): Promise<void> {
    const facts = RUN_STATUS_TABLE[e.status];
    const detail = e.status === 'completed' ? firstLine(e.output ?? '') : (e.error ?? e.status);
    await this.record({
      botId: e.botId,
      runId: e.runId,
      kind: `run.${e.status}`,
      message: `${e.bot.emoji} ${e.bot.name}: run #${e.runId} ${e.status}${detail ? ` — ${detail}` : ''}`,
      level: facts.level,
    });
  }

  /** Appends one entry and announces it on the bus as `activity`. */
  private async record(entry: { botId?: number | null; runId?: number | null; kind: string; message: string; level?: ActivityLevel }): Promise<EventRow> {
    const [row] = await this.db
      .insert(events)
      .values({ botId: entry.botId ?? null, runId: entry.runId ?? null, kind: entry.kind, message: entry.message, level: entry.level ?? 'info', createdAt: Date.now() })
      .returning();
    this.bus.emit('activity', { id: row!.id, botId: row!.botId, runId: row!.runId, kind: row!.kind, message: row!.message, level: row!.level });
    return row!;
  }
}
