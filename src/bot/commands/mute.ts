import { AppError } from '../../engine/errors.ts';
import { parseMuteDuration } from '../../engine/subscriptions.ts';
import { botLabel } from '../format.ts';
import { bold, code, say } from '../message.ts';
import type { Command } from './types.ts';

/** `90 min`, `2 h`, `1 d 12 h`: a mute's length in words. */
function span(ms: number): string {
  const m = Math.round(ms / 60_000);
  if (m < 120 && m % 60 !== 0) return `${m} min`;
  const h = Math.round(m / 60);
  if (h % 24 === 0) return `${h / 24} d`;
  return h < 48 ? `${h} h` : `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** `/mute <bot> <30m|2h|1d|off>`: this chat's subscription to the bot posts nothing for a while. */
export const muteCommand: Command = {
  name: 'mute',
  description: 'Mute a bot’s runs in this chat for a while: 30m, 2h, 1d, or off',
  params: [
    { name: 'bot', kind: 'bot', required: true, description: 'Which bot' },
    { name: 'duration', kind: 'word', required: true, description: 'For how long: 30m, 2h, 1d, 1w, or off to unmute' },
  ],
  async run(ctx, args) {
    const bot = await ctx.bot(args.bot);
    if (!args.duration) throw new AppError('VALIDATION_FAILED', `For how long: 30m, 2h, 1d, or off? Usage: ${ctx.usage('mute')}`);
    const ms = parseMuteDuration(args.duration);
    const { platform, chatId } = ctx.caller;
    const sub = await ctx.engine.subscriptions.mute(bot.id, platform, chatId, ms > 0 ? Date.now() + ms : null);
    if (!sub) throw new AppError('VALIDATION_FAILED', `This chat is not subscribed to ${bot.name}, so there is nothing to mute. Subscribe with /subscribe ${bot.name}.`);
    if (ms === 0) return say('🔔 ', bold(botLabel(bot)), ' is no longer muted here.');
    return say('🔕 ', bold(botLabel(bot)), ` is muted here for ${span(ms)}; runs started here still report back. Unmute with `, code(`/mute ${bot.name} off`), '.');
  },
};
