import { AppError } from '../../engine/errors.ts';
import { botLabel, describeSchedule, scheduleSpans } from '../format.ts';
import { bold, say } from '../message.ts';
import type { Command } from './types.ts';

/** `/schedule <bot> <every 30m | every 2h | cron | off>`: sets or clears a bot's schedule. */
export const scheduleCommand: Command = {
  name: 'schedule',
  writes: true,
  description: 'Set a schedule: every 30m, every 2h, a cron expression, or off',
  params: [
    { name: 'bot', kind: 'bot', required: true, description: 'Which bot' },
    { name: 'spec', kind: 'text', required: true, description: 'every 30m | every 2h | a cron expression like 0 8 * * * | off' },
  ],
  async run(ctx, args) {
    const bot = await ctx.bot(args.bot);
    if (!args.spec) {
      throw new AppError('VALIDATION_FAILED', `${bot.name} runs on schedule: ${describeSchedule(bot.schedule)}. To change it: ${ctx.usage('schedule')}`);
    }
    const updated = await ctx.engine.bots.update(bot.id, { schedule: args.spec });
    if (!updated.schedule) return say('⏰ ', bold(botLabel(updated)), ' has no schedule now; it runs only when started.');
    return say('⏰ ', bold(botLabel(updated)), ' runs ', ...scheduleSpans(updated.schedule), updated.paused ? ' — but it is paused; /resume it.' : '.');
  },
};
