import { botLabel } from '../format.ts';
import { bold, code, say } from '../message.ts';
import type { Command } from './types.ts';

/** `/unsubscribe <bot>`: this chat stops getting the bot's runs (runs started here still report here). */
export const unsubscribeCommand: Command = {
  name: 'unsubscribe',
  description: 'Stop getting a bot’s runs in this chat',
  params: [{ name: 'bot', kind: 'bot', required: true, description: 'Which bot' }],
  async run(ctx, args) {
    const bot = await ctx.bot(args.bot);
    const removed = await ctx.engine.subscriptions.unsubscribe(bot.id, ctx.caller.platform, ctx.caller.chatId);
    return removed
      ? say('🔕 This chat will no longer get the runs of ', bold(botLabel(bot)), '. (Runs started here still report back here.)')
      : say('This chat was not subscribed to ', bold(botLabel(bot)), '. Subscribe with ', code(`/subscribe ${bot.name}`), '.');
  },
};
