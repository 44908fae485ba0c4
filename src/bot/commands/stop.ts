import { isAppError } from '../../engine/errors.ts';
import { botLabel } from '../format.ts';
import { bold, say } from '../message.ts';
import type { Command } from './types.ts';

/** `/stop <bot>`: cancels the bot's running (and queued) runs. */
export const stopCommand: Command = {
  name: 'stop',
  description: 'Cancel a bot’s running run',
  params: [{ name: 'bot', kind: 'bot', required: true, description: 'Which bot' }],
  async run(ctx, args) {
    const bot = ctx.bot(args.bot);
    const active = ctx.engine.runner.activeForBot(bot.id);
    if (active.length === 0) return say(bold(botLabel(bot)), ' has no active run.');
    const stopped: number[] = [];
    for (const r of active) {
      try {
        await ctx.engine.runner.cancel(r.id, `stopped from ${ctx.caller.platform} by user ${ctx.caller.userId}`);
        stopped.push(r.id);
      } catch (err) {
        // It ended while we were stopping it: nothing left to do for that one.
        if (!isAppError(err) || err.code !== 'RUN_NOT_ACTIVE') throw err;
      }
    }
    if (stopped.length === 0) return say(bold(botLabel(bot)), ' has no active run.');
    return say('⏹ Stopped ', bold(botLabel(bot)), `: run ${stopped.map((id) => `#${id}`).join(', ')}.`);
  },
};
