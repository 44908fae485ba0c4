import { Composer, type Context } from 'grammy';
import type { Logger } from 'pino';
import type { CommandCore } from '../core.ts';
import { answerLatch } from '../notifier.ts';
import { callerOf } from './caller.ts';
import type { TelegramSender } from './notifier.ts';

/**
 * Inline keyboard presses (https://core.telegram.org/bots/api#callbackquery): the button's
 * `callback_data` is an action for the core. Every query is answered (the toast), then the outcome
 * is posted as a new message or replaces the message that carried the button (delete confirmation).
 * The action has happened by the time the query is answered, so a failed answer (the query is too
 * old, say) is only logged: the outcome is still posted.
 */
export function buttons(core: CommandCore, sender: TelegramSender, log: Logger): Composer<Context> {
  const composer = new Composer();
  composer.on('callback_query:data', async (ctx) => {
    const { answered, release } = answerLatch();
    const caller = { ...callerOf(ctx)!, answered };
    try {
      const answer = await core.handleAction(caller, ctx.callbackQuery.data);
      try {
        await ctx.answerCallbackQuery(answer.toast ? { text: answer.toast } : {});
      } catch (err) {
        log.warn({ err, chatId: caller.chatId, data: ctx.callbackQuery.data }, 'could not answer a Telegram button press; posting its outcome anyway');
      }
      const carrier = ctx.callbackQuery.message;
      if (answer.mode === 'replace' && carrier) await sender.replace(caller.chatId, carrier.message_id, answer.message);
      else await sender.send(caller.chatId, answer.message);
    } finally {
      release();
    }
  });
  // A press on a message without data (e.g. a game) still needs an answer to stop the spinner.
  composer.on('callback_query', (ctx) => ctx.answerCallbackQuery());
  return composer;
}
