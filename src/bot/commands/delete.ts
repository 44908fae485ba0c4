import { botLabel } from '../format.ts';
import { bold, line, say } from '../message.ts';
import type { Command } from './types.ts';

/** `/delete <bot>`: asks to confirm with a button; only the button deletes. */
export const deleteCommand: Command = {
  name: 'delete',
  writes: true,
  description: 'Delete a bot (asks to confirm)',
  params: [{ name: 'bot', kind: 'bot', required: true, description: 'Which bot' }],
  async run(ctx, args) {
    const bot = await ctx.engine.bots.summarize(await ctx.bot(args.bot));
    return {
      blocks: [
        line('Delete ', bold(botLabel(bot)), '?'),
        line(`Its ${bot.runCount} run${bot.runCount === 1 ? '' : 's'}, ${bot.resultCount} result${bot.resultCount === 1 ? '' : 's'}, documents and links go with it. This cannot be undone.`),
      ],
      buttons: [
        [
          { label: `🗑 Delete ${bot.name}`, action: `delete:${bot.id}`, style: 'danger' },
          { label: 'Keep it', action: `keep:${bot.id}`, style: 'secondary' },
        ],
      ],
    };
  },
  actions: {
    // The confirmation replaces the question, so it cannot be pressed twice.
    delete: {
      mode: 'replace',
      async run(ctx, id) {
        const bot = await ctx.botById(id);
        await ctx.engine.deleteBot(bot.id);
        return { message: say('🗑 Deleted ', bold(botLabel(bot)), '.'), toast: 'Deleted' };
      },
    },
    keep: { mode: 'replace', run: async (ctx, id) => ({ message: say('Kept ', bold(botLabel(await ctx.botById(id))), '.'), toast: 'Kept' }) },
  },
};
