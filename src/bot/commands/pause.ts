import type { BotRow } from '../../engine/db/schema.ts';
import type { Engine } from '../../engine/engine.ts';
import { botLabel } from '../format.ts';
import { bold, code, say, type Message } from '../message.ts';
import type { Command } from './types.ts';

async function pause(engine: Engine, bot: BotRow): Promise<Message> {
  const resume = [[{ label: '▶ Resume', action: `resume:${bot.id}`, style: 'success' as const }]];
  if (bot.paused) return { ...say(bold(botLabel(bot)), ' is already paused.'), buttons: resume };
  await engine.bots.update(bot.id, { paused: true });
  return { ...say('⏸ Paused ', bold(botLabel(bot)), ': its schedule and links will not start it until ', code(`/resume ${bot.name}`), '.'), buttons: resume };
}

/** `/pause <bot>`: its schedule and links stop starting it (a manual /run still works). */
export const pauseCommand: Command = {
  name: 'pause',
  writes: true,
  description: 'Pause a bot: its schedule and links stop starting it',
  params: [{ name: 'bot', kind: 'bot', required: true, description: 'Which bot' }],
  run: async (ctx, args) => pause(ctx.engine, await ctx.bot(args.bot)),
  actions: { pause: { mode: 'reply', writes: true, run: async (ctx, id) => ({ message: await pause(ctx.engine, await ctx.botById(id)), toast: '⏸ Paused' }) } },
};
