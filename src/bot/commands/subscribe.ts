import { botLabel } from '../format.ts';
import { bold, code, say } from '../message.ts';
import type { Command } from './types.ts';

/** `/subscribe <bot>`: this chat gets the outcome of every run of the bot. */
export const subscribeCommand: Command = {
  name: 'subscribe',
  description: 'Get every run of a bot in this chat',
  params: [{ name: 'bot', kind: 'bot', required: true, description: 'Which bot' }],
  run(ctx, args) {
    const bot = ctx.bot(args.bot);
    const { created } = ctx.engine.subscriptions.subscribe(bot.id, ctx.caller.platform, ctx.caller.chatId);
    return created
      ? say('🔔 This chat will get every run of ', bold(botLabel(bot)), ', scheduled or triggered.')
      : say('🔔 This chat already gets every run of ', bold(botLabel(bot)), '.');
  },
};

/** `/unsubscribe <bot>`: stops that. */
export const unsubscribeCommand: Command = {
  name: 'unsubscribe',
  description: 'Stop getting a bot’s runs in this chat',
  params: [{ name: 'bot', kind: 'bot', required: true, description: 'Which bot' }],
  run(ctx, args) {
    const bot = ctx.bot(args.bot);
    const removed = ctx.engine.subscriptions.unsubscribe(bot.id, ctx.caller.platform, ctx.caller.chatId);
    return removed
      ? say('🔕 This chat will no longer get the runs of ', bold(botLabel(bot)), '. (Runs started here still report back here.)')
      : say('This chat was not subscribed to ', bold(botLabel(bot)), '. Subscribe with ', code(`/subscribe ${bot.name}`), '.');
  },
};
