import { Composer, type Context } from 'grammy';
import type { CommandCore } from '../core.ts';
import { excerpt, messageText } from '../message.ts';
import { callerOf, isForAnotherBot, placeOf, splitCommand } from './caller.ts';
import type { TelegramSender } from './sender.ts';

/**
 * The gate, in front of everything else: an update from a user who may not command (not linked
 * by pairing, not on `TELEGRAM_ALLOWED_USERS`; see `CommandCore.accountOf`) goes no further. The
 * user gets one refusal carrying their pairing code (at most one per
 * `cooldownMs`, so a stranger cannot make the bot spam a group); a button press is answered with the
 * refusal as an alert (https://core.telegram.org/bots/api#answercallbackquery). Group chatter that is
 * not a command, and commands addressed to another bot (`/run@other_bot`), are ignored silently.
 */
export function allowList(core: CommandCore, sender: TelegramSender, cooldownMs: number): Composer<Context> {
  const lastRefusal = new Map<string, number>();
  const composer = new Composer();
  composer.use(async (ctx, next) => {
    const caller = callerOf(ctx);
    if (!caller) return; // channel posts, polls and the like: nothing to command
    if (isForAnotherBot(ctx)) return; // not ours to answer, nor to refuse
    if (await core.isAllowed(caller)) return next();
    if (ctx.callbackQuery) {
      // An alert holds at most 200 characters (https://core.telegram.org/bots/api#answercallbackquery).
      await ctx.answerCallbackQuery({ text: excerpt(messageText(await core.refusal(caller)), 200), show_alert: true });
      return;
    }
    const text = ctx.message?.text ?? '';
    const isCommand = splitCommand(text) !== null;
    if (!isCommand && ctx.chat?.type !== 'private') return;
    const now = Date.now();
    if (now - (lastRefusal.get(caller.userId) ?? 0) < cooldownMs) return;
    lastRefusal.set(caller.userId, now);
    if (lastRefusal.size > 10_000) lastRefusal.delete(lastRefusal.keys().next().value!);
    await sender.post(placeOf(ctx, caller), await core.refusal(caller)).catch(() => {}); // retried and logged by the sender
  });
  return composer;
}
