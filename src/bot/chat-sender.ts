/**
 * What the shared chat code needs from a platform to post: a place in a chat, a message posted
 * there that can be edited, and a few platform facts. Telegram and Discord each implement
 * {@link ChatSender}; every call they make is retried (5xx, network) like any other.
 */
import type { ChatPlatform } from '../engine/subscriptions.ts';
import type { Message } from './message.ts';

/** Where a message goes. */
export interface Place {
  /** Telegram chat id / Discord channel id. */
  chatId: string;
  /** A Telegram forum topic (`message_thread_id`). */
  threadId?: string;
  /** The message it answers (Telegram: `reply_parameters`, used in groups). */
  replyTo?: number;
}

/** A message the bot posted, which it can change. */
export interface Posted {
  /**
   * Replaces its text and buttons with `msg`, which must fit in one message (live cards and log
   * tails are sized so). Files of `msg` are sent beside it (Telegram) or attached (Discord).
   */
  edit(msg: Message): Promise<void>;
}

/** Posts to one platform's chats. */
export interface ChatSender {
  readonly platform: ChatPlatform;
  /**
   * Posts `msg` (split into several messages when long; files as documents / attachments).
   * @returns the first message, to edit later.
   * @throws the platform's error once retrying gave up.
   */
  post(place: Place, msg: Message): Promise<Posted>;
  /** Shows "typing…" in the chat for a few seconds (Telegram's `sendChatAction`); absent where there is none. */
  typing?(place: Place): Promise<void>;
  /** `true` when `chatId` is the one-to-one chat of the user `userId` with the bot. */
  isPrivateChatOf(chatId: string, userId: string): Promise<boolean>;
}
