import { Composer, type Context } from 'grammy';
import type { Logger } from 'pino';
import type { Place } from '../chat-sender.ts';
import type { CommandCore } from '../core.ts';
import type { RunDelivery } from '../run-delivery.ts';
import { callerOf } from './caller.ts';
import type { TelegramSender } from './sender.ts';

/**
 * Inline keyboard presses (https://core.telegram.org/bots/api#callbackquery): the button's
 * `callback_data` is an action for the core. Every query is answered (the toast; a failure as an
 * alert), then the answer replaces the message that carried the button, is posted as a new one in
 * the same topic, or is only the toast (⏹ Stop on a run card, whose card then shows the outcome).
 * The action has happened by the time the query is answered, so a failed answer (the query is too
 * old, say) is only logged: the outcome is still shown.
 */
export function buttons(core: CommandCore, sender: TelegramSender, delivery: RunDelivery, log: Logger): Composer<Context> {
  const composer = new Composer();
  composer.on('callback_query:data', async (ctx) => {
    const caller = callerOf(ctx)!;
    const result = await core.handleAction(caller, ctx.callbackQuery.data);
    const failed = result.message?.error === true;
    try {
      await ctx.answerCallbackQuery(result.toast ? { text: result.toast, ...(failed && result.mode === 'none' ? { show_alert: true } : {}) } : {});
    } catch (err) {
      log.warn({ err, chatId: caller.chatId, data: ctx.callbackQuery.data }, 'could not answer a Telegram button press; posting its outcome anyway');
    }
    if (!result.message || result.mode === 'none') return;
    const carrier = ctx.callbackQuery.message;
    // In a group the answer replies to the command the pressed message answered, so a question it
    // asks (force_reply, selective) goes to that person only.
    const command = !caller.private && carrier && 'reply_to_message' in carrier ? carrier.reply_to_message?.message_id : undefined;
    const place: Place = { chatId: caller.chatId, ...(caller.threadId ? { threadId: caller.threadId } : {}), ...(command ? { replyTo: command } : {}) };
    if (result.mode === 'replace' && carrier) {
      try {
        await sender.posted(place, carrier.message_id).edit(result.message);
      } catch (err) {
        log.error({ err, chatId: caller.chatId }, 'could not redraw the message of a pressed button');
      }
      return;
    }
    await delivery.answer(caller.chatId, result.message, (m) => sender.post(place, m), place);
  });
  // A press on a message without data (e.g. a game) still needs an answer to stop the spinner.
  composer.on('callback_query', (ctx) => ctx.answerCallbackQuery());
  return composer;
}
