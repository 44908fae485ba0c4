import { botLabel, resultCard } from '../format.ts';
import { bold, line, say, type Block } from '../message.ts';
import type { Command } from './types.ts';

/** How many results `/results` shows. */
const SHOWN = 5;

/** `/results <bot>`: the latest results, with their links. */
export const resultsCommand: Command = {
  name: 'results',
  description: 'A bot’s latest results, with links',
  params: [{ name: 'bot', kind: 'bot', required: true, description: 'Which bot' }],
  async run(ctx, args) {
    const bot = await ctx.bot(args.bot);
    const results = await ctx.engine.results.list(bot.id, { limit: SHOWN });
    if (results.length === 0) return say(bold(botLabel(bot)), ' has no results yet.');
    const blocks: Block[] = [line(bold(botLabel(bot)), ` — latest ${results.length} result${results.length === 1 ? '' : 's'}`)];
    for (const r of results) blocks.push(resultCard(r));
    return { blocks };
  },
};
