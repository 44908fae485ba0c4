import { botLabel, statusIcon } from '../format.ts';
import { bold, line, pre, say } from '../message.ts';
import type { Command } from './types.ts';

/** How many of the last run's log lines `/logs` shows. */
const TAIL_LINES = 40;

/** `/logs <bot>`: the tail of the bot's last run's log. */
export const logsCommand: Command = {
  name: 'logs',
  description: 'The tail of a bot’s last run log',
  params: [{ name: 'bot', kind: 'bot', required: true, description: 'Which bot' }],
  run(ctx, args) {
    const bot = ctx.bot(args.bot);
    const [run] = ctx.engine.runner.listForBot(bot.id, 1);
    if (!run) return say(bold(botLabel(bot)), ' has not run yet.');
    const all = ctx.engine.runner.logs(run.id, 0, 100_000);
    const tail = all.slice(-TAIL_LINES);
    const text = tail.map((l) => (l.stream === 'stdout' ? l.text : `[${l.stream}] ${l.text}`)).join('\n');
    return {
      blocks: [
        line(bold(botLabel(bot)), ` · run #${run.id} ${statusIcon(run.status)} ${run.status}`, all.length > tail.length ? ` · last ${tail.length} of ${all.length} lines` : ''),
        pre(text || '(no log lines yet)'),
      ],
      buttons: [[{ label: '🔄 Refresh', action: `tail:${bot.id}`, style: 'secondary' }]],
    };
  },
};
