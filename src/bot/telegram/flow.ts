import { Composer, type Context } from 'grammy';
import type { CommandCore } from '../core.ts';
import { code, say } from '../message.ts';
import { callerOf } from './caller.ts';
import type { TelegramSender } from './notifier.ts';

/**
 * Plain text that is not a command: the next answer of the guided /newbot flow. In a private chat
 * anything else gets a pointer to /help; in groups it is ignored.
 */
export function flow(core: CommandCore, sender: TelegramSender): Composer<Context> {
  const composer = new Composer();
  composer.on('message:text', async (ctx) => {
    const caller = callerOf(ctx)!;
    const reply = await core.continueFlow(caller, ctx.message.text);
    if (reply) await sender.send(caller.chatId, reply);
    else if (ctx.chat.type === 'private') await sender.send(caller.chatId, say('Send ', code('/help'), ' to see what I can do.'));
  });
  return composer;
}
