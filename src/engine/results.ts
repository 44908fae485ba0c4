import { createHash } from 'node:crypto';
import { and, desc, eq, isNull, ne, or } from 'drizzle-orm';
import { transaction, type Db } from './db/database.ts';
import { results, type ResultRow } from './db/schema.ts';
import { AppError } from './errors.ts';
import type { EventBus } from './event-bus.ts';

/** Query parameters dropped from a URL before comparing it: they track, they do not identify. */
const TRACKING_PARAMS = /^(utm_.*|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|igshid|yclid|_hsenc|_hsmi|ref_src)$/i;

/**
 * The identity of a URL: scheme and host lower-cased, default port, fragment and tracking
 * parameters (utm_*, fbclid, gclid, …) dropped, remaining parameters sorted.
 * @returns null when `raw` is not an absolute http(s) URL.
 */
export function normalizeUrl(raw: string): string | null {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    return null;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  u.hash = '';
  const kept = [...u.searchParams.entries()].filter(([k]) => !TRACKING_PARAMS.test(k)).sort(([a], [b]) => a.localeCompare(b));
  u.search = new URLSearchParams(kept).toString();
  // URL already lower-cases scheme and host and drops default ports.
  let s = u.toString();
  if (u.pathname === '/' && !u.search) s = s.replace(/\/$/, '');
  return s;
}

/** The dedupe key of an item: `url:<normalized url>`, else `hash:<sha256 of title and content>`. */
export function resultKey(item: { title: string; content?: string | null; url?: string | null }): string {
  const url = item.url ? normalizeUrl(item.url) : null;
  if (url) return `url:${url}`;
  const h = createHash('sha256').update(item.title.trim()).update('\u0000').update((item.content ?? '').trim()).digest('hex');
  return `hash:${h}`;
}

/** One item a run reports. */
export interface ResultInput {
  title: string;
  content?: string | null;
  url?: string | null;
  metadata?: Record<string, unknown>;
}

/** Results: what bots found, each stored once per bot. */
export class ResultService {
  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
  ) {}

  /**
   * Records an item for a bot. An item the bot already reported (same normalized URL, or same
   * title and content) is not stored again.
   * @returns the stored row and whether it was new.
   */
  async record(botId: number, runId: number | null, item: ResultInput): Promise<{ result: ResultRow; isNew: boolean }> {
    const key = resultKey(item);
    const [existing] = await this.db
      .select()
      .from(results)
      .where(and(eq(results.botId, botId), eq(results.dedupeKey, key)))
      .limit(1);
    if (existing) return { result: existing, isNew: false };
    const row = await transaction(this.db, async (tx) => {
      // "New" means found by the bot's latest run that found anything: a run's first new item
      // retires the earlier runs' items from the new list.
      if (runId !== null) {
        await tx
          .update(results)
          .set({ isNew: false })
          .where(and(eq(results.botId, botId), eq(results.isNew, true), or(isNull(results.runId), ne(results.runId, runId))));
      }
      const [inserted] = await tx
        .insert(results)
        .values({
          botId,
          runId,
          title: item.title.slice(0, 300),
          content: item.content ?? '',
          url: item.url ?? null,
          metadata: item.metadata ?? {},
          isNew: true,
          dedupeKey: key,
          createdAt: Date.now(),
        })
        .returning();
      return inserted!;
    });
    this.bus.emit('result.created', { resultId: row.id, botId, runId, isNew: true });
    return { result: row, isNew: true };
  }

  /** `true` when the bot already has this item (same normalized URL, or same title and content). */
  async isKnown(botId: number, item: ResultInput): Promise<boolean> {
    const [row] = await this.db.select({ id: results.id }).from(results).where(and(eq(results.botId, botId), eq(results.dedupeKey, resultKey(item)))).limit(1);
    return row !== undefined;
  }

  /** A bot's results, newest first; `onlyNew` keeps those its latest finding run found. */
  async list(botId: number, opts: { limit?: number; onlyNew?: boolean } = {}): Promise<ResultRow[]> {
    const where = opts.onlyNew ? and(eq(results.botId, botId), eq(results.isNew, true)) : eq(results.botId, botId);
    return this.db
      .select()
      .from(results)
      .where(where)
      .orderBy(desc(results.id))
      .limit(Math.min(opts.limit ?? 50, 500));
  }

  /** @throws {AppError} RESULT_NOT_FOUND */
  async get(id: number): Promise<ResultRow> {
    const [row] = await this.db.select().from(results).where(eq(results.id, id));
    if (!row) throw new AppError('RESULT_NOT_FOUND', `No result with id ${id}.`);
    return row;
  }

  /** Pins or unpins a result. @throws {AppError} RESULT_NOT_FOUND */
  async setPinned(id: number, pinned: boolean): Promise<ResultRow> {
    await this.get(id);
    const [row] = await this.db.update(results).set({ pinned }).where(eq(results.id, id)).returning();
    return row!;
  }
}
