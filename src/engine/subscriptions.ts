import { and, asc, eq } from 'drizzle-orm';
import type { Db } from './db/database.ts';
import { bots, subscriptions, type SubscriptionRow } from './db/schema.ts';
import { AppError } from './errors.ts';

/** A chat platform whose chats can subscribe to a bot. */
export type ChatPlatform = SubscriptionRow['platform'];

/**
 * Which chats (a Telegram chat id, a Discord channel id) receive every run of a bot. A row goes
 * with its bot: deleting the bot deletes its subscriptions (foreign key cascade).
 */
export class SubscriptionService {
  constructor(private readonly db: Db) {}

  /**
   * Subscribes a chat to a bot; subscribing twice is harmless.
   * @returns the subscription and whether it is new.
   * @throws {AppError} BOT_NOT_FOUND
   */
  subscribe(botId: number, platform: ChatPlatform, chatId: string): { subscription: SubscriptionRow; created: boolean } {
    if (!this.db.select({ id: bots.id }).from(bots).where(eq(bots.id, botId)).get()) {
      throw new AppError('BOT_NOT_FOUND', `No bot with id ${botId}.`);
    }
    const existing = this.find(botId, platform, chatId);
    if (existing) return { subscription: existing, created: false };
    const row = this.db
      .insert(subscriptions)
      .values({ botId, platform, chatId, createdAt: Date.now() })
      .onConflictDoNothing()
      .returning()
      .get();
    // A concurrent insert won the unique index: theirs is as good as ours.
    return row ? { subscription: row, created: true } : { subscription: this.find(botId, platform, chatId)!, created: false };
  }

  /** Removes a chat's subscription to a bot. @returns whether there was one. */
  unsubscribe(botId: number, platform: ChatPlatform, chatId: string): boolean {
    const gone = this.db
      .delete(subscriptions)
      .where(and(eq(subscriptions.botId, botId), eq(subscriptions.platform, platform), eq(subscriptions.chatId, chatId)))
      .returning({ id: subscriptions.id })
      .all();
    return gone.length > 0;
  }

  /** The chats subscribed to a bot (only those of `platform` when given), oldest first. */
  listForBot(botId: number, platform?: ChatPlatform): SubscriptionRow[] {
    const where = platform
      ? and(eq(subscriptions.botId, botId), eq(subscriptions.platform, platform))
      : eq(subscriptions.botId, botId);
    return this.db.select().from(subscriptions).where(where).orderBy(asc(subscriptions.id)).all();
  }

  /** The bots a chat is subscribed to, as subscriptions, oldest first. */
  listForChat(platform: ChatPlatform, chatId: string): SubscriptionRow[] {
    return this.db
      .select()
      .from(subscriptions)
      .where(and(eq(subscriptions.platform, platform), eq(subscriptions.chatId, chatId)))
      .orderBy(asc(subscriptions.id))
      .all();
  }

  /** `true` when the chat is subscribed to the bot. */
  isSubscribed(botId: number, platform: ChatPlatform, chatId: string): boolean {
    return this.find(botId, platform, chatId) !== undefined;
  }

  private find(botId: number, platform: ChatPlatform, chatId: string): SubscriptionRow | undefined {
    return this.db
      .select()
      .from(subscriptions)
      .where(and(eq(subscriptions.botId, botId), eq(subscriptions.platform, platform), eq(subscriptions.chatId, chatId)))
      .get();
  }
}
