import { botLabel } from '../format.ts';
import { bold, code, say } from '../message.ts';
import type { Command } from './types.ts';

/** `/pause <bot>`: its schedule and links stop starting it (a manual /run still works). */
export const pauseCommand: Command = {
  name: 'pause',
  description: 'Pause a bot: its schedule and links stop starting it',
  params: [{ name: 'bot', kind: 'bot', required: true, description: 'Which bot' }],
  run(ctx, args) {
    const bot = ctx.bot(args.bot);
    if (bot.paused) return { ...say(bold(botLabel(bot)), ' is already paused.'), buttons: [[{ label: '▶ Resume', action: `resume:${bot.id}`, style: 'success' }]] };
    ctx.engine.bots.update(bot.id, { paused: true });
    return {
      ...say('⏸ Paused ', bold(botLabel(bot)), ': its schedule and links will not start it until ', code(`/resume ${bot.name}`), '.'),
      buttons: [[{ label: '▶ Resume', action: `resume:${bot.id}`, style: 'success' }]],
    };
  },
};

/** `/resume <bot>`: undoes /pause. */
export const resumeCommand: Command = {
  name: 'resume',
  description: 'Resume a paused bot',
  params: [{ name: 'bot', kind: 'bot', required: true, description: 'Which bot' }],
  run(ctx, args) {
    const bot = ctx.bot(args.bot);
    if (!bot.paused) return say(bold(botLabel(bot)), ' is not paused.');
    ctx.engine.bots.update(bot.id, { paused: false });
    return {
      ...say('▶ Resumed ', bold(botLabel(bot)), bot.schedule ? ': its schedule is on again.' : '.'),
      buttons: [[{ label: '⏸ Pause', action: `pause:${bot.id}`, style: 'secondary' }]],
    };
  },
};
