import { Composer, type Context } from 'grammy';
import type { CommandCore } from '../core.ts';
import type { RunDelivery } from '../run-delivery.ts';
import { callerOf, isForAnotherBot, placeOf, splitCommand } from './caller.ts';
import type { TelegramSender } from './sender.ts';

/**
 * Slash commands typed in a chat (`/run Scout size 43`, `/run@my_bot Scout` in groups): the text
 * after the command goes to the core, which parses it against the command's params; the answer
 * goes back to the same chat and topic (a reply to the command in groups), a run's answer as its
 * live card. Commands addressed to another bot are left alone.
 */
export function commands(core: CommandCore, sender: TelegramSender, delivery: RunDelivery): Composer<Context> {
  const composer = new Composer();
  composer.on('message:text', async (ctx, next) => {
    const cmd = splitCommand(ctx.message.text);
    if (!cmd) return next();
    if (isForAnotherBot(ctx)) return;
    const caller = callerOf(ctx)!;
    const place = placeOf(ctx, caller);
    const answer = await core.runText(caller, cmd.name, cmd.args);
    await delivery.answer(caller.chatId, answer, (m) => sender.post(place, m), place);
  });
  return composer;
}
