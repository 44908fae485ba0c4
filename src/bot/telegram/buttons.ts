import { Composer, type Context } from 'grammy';
import type { CommandCore } from '../core.ts';
import { callerOf } from './caller.ts';
import type { TelegramSender } from './notifier.ts';

/**
 * Inline keyboard presses (https://core.telegram.org/bots/api#callbackquery): the button's
 * `callback_data` is an action for the core. Every query is answered (the toast), then the outcome
 * is posted as a new message or replaces the message that carried the button (delete confirmation).
 */
export function buttons(core: CommandCore, sender: TelegramSender): Composer<Context> {
  const composer = new Composer();
  composer.on('callback_query:data', async (ctx) => {
    const caller = callerOf(ctx)!;
    const answer = await core.handleAction(caller, ctx.callbackQuery.data);
    await ctx.answerCallbackQuery(answer.toast ? { text: answer.toast } : {});
    const carrier = ctx.callbackQuery.message;
    if (answer.mode === 'replace' && carrier) await sender.replace(caller.chatId, carrier.message_id, answer.message);
    else await sender.send(caller.chatId, answer.message);
  });
  // A press on a message without data (e.g. a game) still needs an answer to stop the spinner.
  composer.on('callback_query', (ctx) => ctx.answerCallbackQuery());
  return composer;
}
