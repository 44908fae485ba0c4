import type { BotRow } from '../../engine/db/schema.ts';
import type { Engine } from '../../engine/engine.ts';
import { botLabel, statusIcon } from '../format.ts';
import { logTail } from '../log-tail.ts';
import { bold, excerpt, line, output, say, type Message } from '../message.ts';
import type { Command } from './types.ts';

/** How many of the last run's log lines `/logs` shows. */
const TAIL_LINES = 40;
/** Longest log line shown whole; longer ones are cut. */
const MAX_LINE = 300;

/**
 * The tail of the bot's last run, always one message (so 🔄 Refresh can redraw it in place):
 * at most 40 lines, each cut at 300 characters, the oldest dropped past the block's size.
 */
async function logsOf(engine: Engine, bot: BotRow): Promise<Message> {
  const [run] = await engine.runner.listForBot(bot.id, 1);
  if (!run) return say(bold(botLabel(bot)), ' has not run yet.');
  const { lines, total } = await logTail(engine, run.id, TAIL_LINES);
  const text = lines.map((l) => excerpt(l.stream === 'stdout' ? l.text : `[${l.stream}] ${l.text}`, MAX_LINE)).join('\n');
  return {
    blocks: [
      line(bold(botLabel(bot)), ` · run #${run.id} ${statusIcon(run.status)} ${run.status}`, total > lines.length ? ` · last ${lines.length} of ${total} lines` : ''),
      output(text || '(no log lines yet)', 'tail'),
    ],
    buttons: [[{ label: '🔄 Refresh', action: `tail:${bot.id}`, style: 'secondary' }]],
  };
}

/** `/logs <bot>`: the tail of the bot's last run's log, with 🔄 Refresh. */
export const logsCommand: Command = {
  name: 'logs',
  description: 'The tail of a bot’s last run log',
  params: [{ name: 'bot', kind: 'bot', required: true, description: 'Which bot' }],
  run: async (ctx, args) => logsOf(ctx.engine, await ctx.bot(args.bot)),
  actions: {
    logs: { mode: 'reply', run: async (ctx, id) => ({ message: await logsOf(ctx.engine, await ctx.botById(id)), toast: '📜 Logs' }) },
    // 🔄 Refresh redraws the tail in the message that carries the button.
    tail: { mode: 'replace', run: async (ctx, id) => ({ message: await logsOf(ctx.engine, await ctx.botById(id)), toast: '🔄 Refreshed' }) },
  },
};
