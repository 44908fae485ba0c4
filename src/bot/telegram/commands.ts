import { Composer, type Context } from 'grammy';
import type { CommandCore } from '../core.ts';
import { answerLatch } from '../notifier.ts';
import { callerOf, isForAnotherBot, splitCommand } from './caller.ts';
import type { TelegramSender } from './notifier.ts';

/**
 * Slash commands typed in a chat (`/run Scout size 43`, `/run@my_bot Scout` in groups): the text
 * after the command goes to the core, which parses it against the command's params. Commands
 * addressed to another bot are left alone.
 */
export function commands(core: CommandCore, sender: TelegramSender): Composer<Context> {
  const composer = new Composer();
  composer.on('message:text', async (ctx, next) => {
    const cmd = splitCommand(ctx.message.text);
    if (!cmd) return next();
    if (isForAnotherBot(ctx)) return;
    const { answered, release } = answerLatch();
    const caller = { ...callerOf(ctx)!, answered };
    try {
      await sender.send(caller.chatId, await core.runText(caller, cmd.name, cmd.args));
    } finally {
      release();
    }
  });
  return composer;
}
