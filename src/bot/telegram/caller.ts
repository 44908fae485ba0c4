import type { Context } from 'grammy';
import type { Caller } from '../commands/types.ts';
import type { Place } from '../chat-sender.ts';

/** Who sent an update and in which chat (and forum topic), for the command core; null for updates without a sender or chat. */
export function callerOf(ctx: Context): Caller | null {
  const from = ctx.from;
  const msg = ctx.message ?? ctx.callbackQuery?.message;
  const chat = ctx.chat ?? msg?.chat;
  if (!from || !chat) return null;
  const threadId = msg && 'is_topic_message' in msg && msg.is_topic_message && msg.message_thread_id ? String(msg.message_thread_id) : undefined;
  const displayName = from.username ? `@${from.username}` : [from.first_name, from.last_name].filter(Boolean).join(' ');
  return { platform: 'telegram', userId: String(from.id), chatId: String(chat.id), private: chat.type === 'private', displayName, ...(threadId ? { threadId } : {}) };
}

/**
 * Where the answer to an update goes: its chat and forum topic; in groups also as a reply to the
 * command (https://core.telegram.org/bots/api#replyparameters), so it is clear whom it answers.
 */
export function placeOf(ctx: Context, caller: Caller): Place {
  const replyTo = !caller.private && ctx.message ? ctx.message.message_id : undefined;
  return { chatId: caller.chatId, ...(caller.threadId ? { threadId: caller.threadId } : {}), ...(replyTo ? { replyTo } : {}) };
}

/** `/run@my_bot Scout x` → `{ name: 'run', target: 'my_bot', args: 'Scout x' }`; null when not a command. */
export function splitCommand(text: string): { name: string; target?: string; args: string } | null {
  const m = /^\/([A-Za-z0-9_]{1,64})(?:@([A-Za-z0-9_]{3,64}))?(?:\s+([\s\S]*))?$/.exec(text.trim());
  if (!m) return null;
  return { name: m[1]!, ...(m[2] ? { target: m[2] } : {}), args: (m[3] ?? '').trim() };
}

/** `true` when the message is a command addressed to another bot (`/run@other_bot` in a group). */
export function isForAnotherBot(ctx: Context): boolean {
  const target = splitCommand(ctx.message?.text ?? '')?.target;
  return target !== undefined && target.toLowerCase() !== ctx.me.username.toLowerCase();
}
