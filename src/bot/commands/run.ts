import type { BotRow } from '../../engine/db/schema.ts';
import type { Message } from '../message.ts';
import type { Command, CommandContext } from './types.ts';

/**
 * Starts a run of `bot` from this chat. The answer is the run's live card: it says the run
 * started and is edited as the run goes, until it shows the outcome.
 */
export async function startRunFromChat(ctx: CommandContext, bot: BotRow, input: string | null): Promise<Message> {
  const run = await ctx.engine.startRun(bot.id, { input, trigger: `${ctx.caller.platform}:${ctx.caller.userId}` });
  ctx.watchRun(run.id);
  return { blocks: [], card: { runId: run.id } };
}

/** `/run <bot> [input]`: queues a run; this chat gets its live card. */
export const runCommand: Command = {
  name: 'run',
  writes: true,
  description: 'Run a bot now, optionally with an input',
  params: [
    { name: 'bot', kind: 'bot', required: true, description: 'Which bot' },
    { name: 'input', kind: 'text', required: false, description: 'Input for this run (optional)' },
  ],
  run: async (ctx, args) => startRunFromChat(ctx, await ctx.bot(args.bot), args.input ?? null),
  actions: {
    // ▶ Run / ▶ Run again
    run: { mode: 'reply', writes: true, run: async (ctx, id) => ({ message: await startRunFromChat(ctx, await ctx.botById(id), null), toast: '▶ Started' }) },
  },
};
