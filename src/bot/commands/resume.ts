import type { BotRow } from '../../engine/db/schema.ts';
import type { Engine } from '../../engine/engine.ts';
import { botLabel } from '../format.ts';
import { bold, say, type Message } from '../message.ts';
import type { Command } from './types.ts';

async function resume(engine: Engine, bot: BotRow): Promise<Message> {
  if (!bot.paused) return say(bold(botLabel(bot)), ' is not paused.');
  await engine.bots.update(bot.id, { paused: false });
  return {
    ...say('▶ Resumed ', bold(botLabel(bot)), bot.schedule ? ': its schedule is on again.' : '.'),
    buttons: [[{ label: '⏸ Pause', action: `pause:${bot.id}`, style: 'secondary' }]],
  };
}

/** `/resume <bot>`: undoes /pause. */
export const resumeCommand: Command = {
  name: 'resume',
  writes: true,
  description: 'Resume a paused bot',
  params: [{ name: 'bot', kind: 'bot', required: true, description: 'Which bot' }],
  run: async (ctx, args) => resume(ctx.engine, await ctx.bot(args.bot)),
  actions: { resume: { mode: 'reply', writes: true, run: async (ctx, id) => ({ message: await resume(ctx.engine, await ctx.botById(id)), toast: '▶ Resumed' }) } },
};
