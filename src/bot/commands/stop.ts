import { AppError, isAppError } from '../../engine/errors.ts';
import type { BotRow } from '../../engine/db/schema.ts';
import { botLabel } from '../format.ts';
import { bold, say, type Message } from '../message.ts';
import type { Command, CommandContext } from './types.ts';

/** Cancels the bot's active runs; this chat's answer stands for their cancelled outcome here. */
async function stopBot(ctx: CommandContext, bot: BotRow): Promise<Message> {
  const active = await ctx.engine.runner.activeForBot(bot.id);
  if (active.length === 0) return say(bold(botLabel(bot)), ' has no active run.');
  ctx.stopping(active.map((r) => r.id));
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
}

/** `/stop <bot>`: cancels the bot's running (and queued) runs. */
export const stopCommand: Command = {
  name: 'stop',
  writes: true,
  description: 'Cancel a bot’s running run',
  params: [{ name: 'bot', kind: 'bot', required: true, description: 'Which bot' }],
  run: async (ctx, args) => stopBot(ctx, await ctx.bot(args.bot)),
  actions: {
    stop: { mode: 'reply', writes: true, run: async (ctx, id) => ({ message: await stopBot(ctx, await ctx.botById(id)), toast: '⏹ Stopped' }) },
    // ⏹ Stop on a run's live card: that run only; the card itself then shows it cancelled.
    cancel: {
      mode: 'none',
      writes: true,
      async run(ctx, id) {
        const runId = Number(id);
        await ctx.botById(String((await ctx.engine.runner.get(runId)).botId)); // may the account stop it?
        ctx.stopping([runId]);
        try {
          await ctx.engine.runner.cancel(runId, `stopped from ${ctx.caller.platform} by user ${ctx.caller.userId}`);
        } catch (err) {
          if (isAppError(err) && err.code === 'RUN_NOT_ACTIVE') throw new AppError('RUN_NOT_ACTIVE', `Run #${runId} has already ended.`);
          throw err;
        }
        return { toast: '⏹ Stopped' };
      },
    },
  },
};
