import { desc } from 'drizzle-orm';
import type { Db } from './db/database.ts';
import { events, type EventRow } from './db/schema.ts';
import type { EventBus } from './event-bus.ts';

/** Severity of an activity entry, shown as its icon in the feed. */
export type ActivityLevel = 'info' | 'success' | 'warn' | 'error';

/** The activity feed: what happened across all bots, newest first. */
export class ActivityLog {
  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
  ) {}

  /** Appends one entry and announces it on the bus as `activity`. */
  record(entry: { botId?: number | null; runId?: number | null; kind: string; message: string; level?: ActivityLevel }): EventRow {
    const row = this.db
      .insert(events)
      .values({
        botId: entry.botId ?? null,
        runId: entry.runId ?? null,
        kind: entry.kind,
        message: entry.message,
        level: entry.level ?? 'info',
        createdAt: Date.now(),
      })
      .returning()
      .get();
    this.bus.emit('activity', { id: row.id, botId: row.botId, runId: row.runId, kind: row.kind, message: row.message, level: row.level });
    return row;
  }

  /** The newest `limit` entries (1..200), newest first. */
  list(limit = 20): EventRow[] {
    return this.db.select().from(events).orderBy(desc(events.id)).limit(Math.min(Math.max(limit, 1), 200)).all();
  }
}
