import { AppError } from '../../engine/errors.ts';
import { TRIGGER_EVENTS } from '../../engine/triggers.ts';
import { botLabel } from '../format.ts';
import { bold, line } from '../message.ts';
import type { Command } from './types.ts';

const EVENT_WORDS: Record<string, string> = { completed: 'completes', failed: 'fails', result: 'finds a new result' };

/** `/link <bot> <completed|failed|result> <bot>`: when the first bot's run ends so, the second runs with its output. */
export const linkCommand: Command = {
  name: 'link',
  writes: true,
  description: 'Chain bots: when one completes, fails or finds a result, start another',
  params: [
    { name: 'bot', kind: 'bot', required: true, description: 'The bot whose runs start the other' },
    { name: 'event', kind: 'choice', required: true, description: 'When: completed, failed or result', choices: TRIGGER_EVENTS },
    { name: 'target', kind: 'bot', required: true, description: 'The bot to start (it gets the output as input)' },
  ],
  async run(ctx, args) {
    const source = await ctx.bot(args.bot);
    if (!args.event || !(TRIGGER_EVENTS as readonly string[]).includes(args.event)) {
      throw new AppError('VALIDATION_FAILED', `When should it fire: ${TRIGGER_EVENTS.join(', ')}? Usage: ${ctx.usage('link')}`);
    }
    const target = await ctx.bot(args.target);
    const t = await ctx.engine.triggers.create({ source_bot: source.id, event: args.event, target_bot: target.id });
    return {
      blocks: [
        line('🔗 Linked: when ', bold(botLabel(source)), ` ${EVENT_WORDS[t.event]}, `, bold(botLabel(target)), ' starts with its ', t.event === 'failed' ? 'error' : 'output', ' as input.'),
      ],
    };
  },
};
