import { Composer, type Context } from 'grammy';
import type { CommandCore } from '../core.ts';
import { code, say } from '../message.ts';
import type { RunDelivery } from '../run-delivery.ts';
import { callerOf, placeOf } from './caller.ts';
import type { TelegramSender } from './sender.ts';

/**
 * Plain text that is not a command: the next answer of a guided flow (/newbot's questions). In a
 * private chat anything else gets a pointer to /help; in groups it is ignored.
 */
export function flow(core: CommandCore, sender: TelegramSender, delivery: RunDelivery): Composer<Context> {
  const composer = new Composer();
  composer.on('message:text', async (ctx) => {
    const caller = callerOf(ctx)!;
    const place = placeOf(ctx, caller);
    const reply = (await core.continueFlow(caller, ctx.message.text)) ?? (caller.private ? say('Send ', code('/help'), ' to see what I can do.') : null);
    if (reply) await delivery.answer(caller.chatId, reply, (m) => sender.post(place, m), place);
  });
  return composer;
}
