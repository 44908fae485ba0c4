import { AppError } from '../../engine/errors.ts';
import { TRIGGER_EVENTS } from '../../engine/triggers.ts';
import { botLabel } from '../format.ts';
import { bold, line, say } from '../message.ts';
import type { Command } from './types.ts';

const EVENT_WORDS: Record<string, string> = { completed: 'completes', failed: 'fails', result: 'finds a new result' };

/** `/link <bot> <completed|failed|result> <bot>`: when the first bot's run ends so, the second runs with its output. */
export const linkCommand: Command = {
  name: 'link',
  description: 'Chain bots: when one completes, fails or finds a result, start another',
  params: [
    { name: 'bot', kind: 'bot', required: true, description: 'The bot whose runs start the other' },
    { name: 'event', kind: 'choice', required: true, description: 'When: completed, failed or result', choices: TRIGGER_EVENTS },
    { name: 'target', kind: 'bot', required: true, description: 'The bot to start (it gets the output as input)' },
  ],
  run(ctx, args) {
    const source = ctx.bot(args.bot);
    if (!args.event || !(TRIGGER_EVENTS as readonly string[]).includes(args.event)) {
      throw new AppError('VALIDATION_FAILED', `When should it fire: ${TRIGGER_EVENTS.join(', ')}? Usage: ${ctx.usage('link')}`);
    }
    const target = ctx.bot(args.target);
    const t = ctx.engine.triggers.create({ source_bot: source.id, event: args.event, target_bot: target.id });
    return {
      blocks: [
        line('🔗 Linked: when ', bold(botLabel(source)), ` ${EVENT_WORDS[t.event]}, `, bold(botLabel(target)), ' starts with its ', t.event === 'failed' ? 'error' : 'output', ' as input.'),
      ],
    };
  },
};

/** `/unlink <bot> [event] <bot>`: removes links from one bot to another (all events when none is given). */
export const unlinkCommand: Command = {
  name: 'unlink',
  description: 'Remove a link between two bots',
  params: [
    { name: 'bot', kind: 'bot', required: true, description: 'The bot the link starts from' },
    { name: 'event', kind: 'choice', required: false, description: 'Only this event (default: all)', choices: TRIGGER_EVENTS },
    { name: 'target', kind: 'bot', required: true, description: 'The bot it starts' },
  ],
  run(ctx, args) {
    const source = ctx.bot(args.bot);
    if (!args.target) {
      const links = ctx.engine.triggers.list({ botId: source.id }).filter((t) => t.sourceBotId === source.id);
      const list = links.length ? `Its links: ${links.map((t) => t.label).join('; ')}.` : `${source.name} has no links.`;
      throw new AppError('VALIDATION_FAILED', `Unlink ${source.name} from which bot? ${list} Usage: ${ctx.usage('unlink')}`);
    }
    const target = ctx.bot(args.target);
    const removed = ctx.engine.triggers.unlink({ source_bot: source.id, target_bot: target.id, ...(args.event ? { event: args.event } : {}) });
    return say('✂️ Unlinked: ', removed.map((t) => t.label).join('; '), '.');
  },
};
