import type { BotRow } from '../../engine/db/schema.ts';
import type { Engine } from '../../engine/engine.ts';
import { botLabel } from '../format.ts';
import { bold, line, say, type Message } from '../message.ts';
import type { Command } from './types.ts';

/** `/delete <bot>`: asks to confirm with a button; only the button deletes. */
export const deleteCommand: Command = {
  name: 'delete',
  description: 'Delete a bot (asks to confirm)',
  params: [{ name: 'bot', kind: 'bot', required: true, description: 'Which bot' }],
  run(ctx, args) {
    const bot = ctx.engine.bots.summarize(ctx.bot(args.bot));
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
};

/** The confirmed deletion (the Delete button). */
export async function confirmDelete(engine: Engine, bot: BotRow): Promise<Message> {
  await engine.deleteBot(bot.id);
  return say('🗑 Deleted ', bold(botLabel(bot)), '.');
}
