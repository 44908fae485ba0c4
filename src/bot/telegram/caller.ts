import type { Context } from 'grammy';
import type { Caller } from '../core.ts';

/** Who sent an update and in which chat, for the command core; null for updates without a sender or chat. */
export function callerOf(ctx: Context): Caller | null {
  const from = ctx.from;
  const chat = ctx.chat ?? ctx.callbackQuery?.message?.chat;
  if (!from || !chat) return null;
  return { platform: 'telegram', userId: String(from.id), chatId: String(chat.id) };
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
