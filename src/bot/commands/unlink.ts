import { AppError } from '../../engine/errors.ts';
import { TRIGGER_EVENTS } from '../../engine/triggers.ts';
import { say } from '../message.ts';
import type { Command } from './types.ts';

/** `/unlink <bot> [event] <bot>`: removes links from one bot to another (all events when none is given). */
export const unlinkCommand: Command = {
  name: 'unlink',
  writes: true,
  description: 'Remove a link between two bots',
  params: [
    { name: 'bot', kind: 'bot', required: true, description: 'The bot the link starts from' },
    { name: 'event', kind: 'choice', required: false, description: 'Only this event (default: all)', choices: TRIGGER_EVENTS },
    { name: 'target', kind: 'bot', required: true, description: 'The bot it starts' },
  ],
  async run(ctx, args) {
    const source = await ctx.bot(args.bot);
    if (!args.target) {
      const links = (await ctx.engine.triggers.list({ botId: source.id })).filter((t) => t.sourceBotId === source.id);
      const list = links.length ? `Its links: ${links.map((t) => t.label).join('; ')}.` : `${source.name} has no links.`;
      throw new AppError('VALIDATION_FAILED', `Unlink ${source.name} from which bot? ${list} Usage: ${ctx.usage('unlink')}`);
    }
    const target = await ctx.bot(args.target);
    const removed = await ctx.engine.triggers.unlink({ source_bot: source.id, target_bot: target.id, ...(args.event ? { event: args.event } : {}) });
    return say('✂️ Unlinked: ', removed.map((t) => t.label).join('; '), '.');
  },
};
