import { and, asc, eq } from 'drizzle-orm';
import type { Db } from './db/database.ts';
import { bots, subscriptions, type RunRow, type SubscriptionRow } from './db/schema.ts';
import { AppError } from './errors.ts';

/** A chat platform whose chats can subscribe to a bot. */
export type ChatPlatform = SubscriptionRow['platform'];

/** Which runs a subscribed chat gets. */
export type SubscriptionPolicy = SubscriptionRow['policy'];

/** Every policy, in the order menus offer them. */
export const SUBSCRIPTION_POLICIES = ['all', 'failures', 'new'] as const satisfies readonly SubscriptionPolicy[];

/** A policy in words, for chat and the dashboard. */
export const POLICY_LABELS: Record<SubscriptionPolicy, string> = {
  all: 'every run',
  failures: 'failures only',
  new: 'new results only',
};

/** Where a subscription posts, and what it wants. */
export interface SubscribeOptions {
  /** Default `all`; an existing subscription keeps its policy unless one is given. */
  policy?: SubscriptionPolicy;
  /** A Telegram forum topic; the latest subscribe call of a chat decides it. */
  threadId?: string | null;
}

/** Longest mute: 365 days. */
export const MAX_MUTE_MS = 365 * 24 * 3600_000;

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3600_000, d: 24 * 3600_000, w: 7 * 24 * 3600_000 };

/**
 * Reads a mute duration as a person types it: `30m`, `2h`, `1d`, `1w` (also `90 min`, `3 hours`,
 * `2 days`), or `off` / `0` for "not muted".
 * @returns milliseconds (0 for off).
 * @throws {AppError} VALIDATION_FAILED with a sentence saying what is wrong (also past {@link MAX_MUTE_MS}).
 */
export function parseMuteDuration(text: string): number {
  const s = text.trim().toLowerCase();
  if (/^(off|0|none|unmute)$/.test(s)) return 0;
  const m = /^(\d{1,6})\s*(m|min|mins|minutes?|h|hr|hrs|hours?|d|days?|w|weeks?)$/.exec(s);
  if (!m) throw new AppError('VALIDATION_FAILED', `"${text.trim()}" is not a duration: use 30m, 2h, 1d, 1w, or off.`);
  const ms = Number(m[1]) * UNIT_MS[m[2]![0]!]!;
  if (ms <= 0) return 0;
  if (ms > MAX_MUTE_MS) throw new AppError('VALIDATION_FAILED', 'A mute lasts at most 365 days.');
  return ms;
}

/**
 * Whether a subscription wants the outcome of `run`, by its policy and mute, at time `now`:
 * `all` every run; `failures` runs that failed or were interrupted (a cancel is a person's own doing);
 * `new` runs that found at least one new result.
 */
export function subscriptionWants(sub: Pick<SubscriptionRow, 'policy' | 'mutedUntil'>, run: Pick<RunRow, 'status'>, newResults: number, now: number): boolean {
  if (sub.mutedUntil != null && sub.mutedUntil > now) return false;
  switch (sub.policy) {
    case 'all':
      return true;
    case 'failures':
      return run.status === 'failed' || run.status === 'interrupted';
    case 'new':
      return newResults > 0;
  }
}

/**
 * Which chats (a Telegram chat id, a Discord channel id) receive a bot's runs, with a policy (all
 * runs, failures only, new results only) and an optional mute. A row goes with its bot: deleting
 * the bot deletes its subscriptions (foreign key cascade).
 */
export class SubscriptionService {
  constructor(private readonly db: Db) {}

  /**
   * Subscribes a chat to a bot, or changes the policy (and topic) of its subscription.
   * @returns the subscription and whether it is new.
   * @throws {AppError} BOT_NOT_FOUND
   */
  async subscribe(botId: number, platform: ChatPlatform, chatId: string, opts: SubscribeOptions = {}): Promise<{ subscription: SubscriptionRow; created: boolean }> {
    const [bot] = await this.db.select({ id: bots.id }).from(bots).where(eq(bots.id, botId));
    if (!bot) {
      throw new AppError('BOT_NOT_FOUND', `No bot with id ${botId}.`);
    }
    const existing = await this.find(botId, platform, chatId);
    if (existing) {
      const set: Partial<typeof subscriptions.$inferInsert> = {};
      if (opts.policy && opts.policy !== existing.policy) set.policy = opts.policy;
      if (opts.threadId !== undefined && opts.threadId !== existing.threadId) set.threadId = opts.threadId;
      if (Object.keys(set).length === 0) return { subscription: existing, created: false };
      const [updated] = await this.db.update(subscriptions).set(set).where(eq(subscriptions.id, existing.id)).returning();
      return { subscription: updated!, created: false };
    }
    const [row] = await this.db
      .insert(subscriptions)
      .values({ botId, platform, chatId, threadId: opts.threadId ?? null, policy: opts.policy ?? 'all', createdAt: Date.now() })
      .onConflictDoNothing()
      .returning();
    // A concurrent insert won the unique index: theirs is as good as ours.
    return row ? { subscription: row, created: true } : { subscription: (await this.find(botId, platform, chatId))!, created: false };
  }

  /**
   * Mutes a chat's subscription until `until` (ms since the epoch); null unmutes.
   * @returns the subscription, or undefined when the chat is not subscribed.
   */
  async mute(botId: number, platform: ChatPlatform, chatId: string, until: number | null): Promise<SubscriptionRow | undefined> {
    const [row] = await this.db
      .update(subscriptions)
      .set({ mutedUntil: until })
      .where(and(eq(subscriptions.botId, botId), eq(subscriptions.platform, platform), eq(subscriptions.chatId, chatId)))
      .returning();
    return row;
  }

  /**
   * Changes a subscription by its id (the dashboard): policy and/or mute (`mutedUntil` null unmutes).
   * @throws {AppError} SUBSCRIPTION_NOT_FOUND when there is no such subscription of that bot.
   */
  async update(botId: number, id: number, patch: { policy?: SubscriptionPolicy; mutedUntil?: number | null }): Promise<SubscriptionRow> {
    const set: Partial<typeof subscriptions.$inferInsert> = {};
    if (patch.policy) set.policy = patch.policy;
    if (patch.mutedUntil !== undefined) set.mutedUntil = patch.mutedUntil;
    const where = and(eq(subscriptions.id, id), eq(subscriptions.botId, botId));
    const [row] = Object.keys(set).length ? await this.db.update(subscriptions).set(set).where(where).returning() : await this.db.select().from(subscriptions).where(where);
    if (!row) throw new AppError('SUBSCRIPTION_NOT_FOUND', `No subscription #${id} of bot #${botId}.`);
    return row;
  }

  /** Removes a subscription by its id. @returns whether there was one. */
  async remove(botId: number, id: number): Promise<boolean> {
    return (await this.db.delete(subscriptions).where(and(eq(subscriptions.id, id), eq(subscriptions.botId, botId))).returning({ id: subscriptions.id })).length > 0;
  }

  /** Removes a chat's subscription to a bot. @returns whether there was one. */
  async unsubscribe(botId: number, platform: ChatPlatform, chatId: string): Promise<boolean> {
    const gone = await this.db
      .delete(subscriptions)
      .where(and(eq(subscriptions.botId, botId), eq(subscriptions.platform, platform), eq(subscriptions.chatId, chatId)))
      .returning({ id: subscriptions.id });
    return gone.length > 0;
  }

  /** The chats subscribed to a bot (only those of `platform` when given), oldest first. */
  async listForBot(botId: number, platform?: ChatPlatform): Promise<SubscriptionRow[]> {
    const where = platform
      ? and(eq(subscriptions.botId, botId), eq(subscriptions.platform, platform))
      : eq(subscriptions.botId, botId);
    return this.db.select().from(subscriptions).where(where).orderBy(asc(subscriptions.id));
  }

  /** The bots a chat is subscribed to, as subscriptions, oldest first. */
  async listForChat(platform: ChatPlatform, chatId: string): Promise<SubscriptionRow[]> {
    return this.db
      .select()
      .from(subscriptions)
      .where(and(eq(subscriptions.platform, platform), eq(subscriptions.chatId, chatId)))
      .orderBy(asc(subscriptions.id));
  }

  /** `true` when the chat is subscribed to the bot. */
  async isSubscribed(botId: number, platform: ChatPlatform, chatId: string): Promise<boolean> {
    return (await this.find(botId, platform, chatId)) !== undefined;
  }

  /** The chat's subscription to the bot, if any. */
  async find(botId: number, platform: ChatPlatform, chatId: string): Promise<SubscriptionRow | undefined> {
    const [row] = await this.db
      .select()
      .from(subscriptions)
      .where(and(eq(subscriptions.botId, botId), eq(subscriptions.platform, platform), eq(subscriptions.chatId, chatId)))
      .limit(1);
    return row;
  }
}
