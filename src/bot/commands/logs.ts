import { desc, eq, max } from 'drizzle-orm';
import { runLogs } from '../../engine/db/schema.ts';
import type { Engine } from '../../engine/engine.ts';
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
    const { lines, total } = logTail(ctx.engine, run.id, TAIL_LINES);
    const text = lines.map((l) => (l.stream === 'stdout' ? l.text : `[${l.stream}] ${l.text}`)).join('\n');
    return {
      blocks: [
        line(bold(botLabel(bot)), ` · run #${run.id} ${statusIcon(run.status)} ${run.status}`, total > lines.length ? ` · last ${lines.length} of ${total} lines` : ''),
        pre(text || '(no log lines yet)'),
      ],
      buttons: [[{ label: '🔄 Refresh', action: `tail:${bot.id}`, style: 'secondary' }]],
    };
  },
};

/**
 * The last `n` log lines of a run, oldest first, and how many it has: only the tail is read,
 * however long the log (`seq` numbers a run's lines 1, 2, 3 …).
 */
function logTail(engine: Engine, runId: number, n: number) {
  const lines = engine.db
    .select({ stream: runLogs.stream, text: runLogs.text })
    .from(runLogs)
    .where(eq(runLogs.runId, runId))
    .orderBy(desc(runLogs.seq))
    .limit(n)
    .all()
    .reverse();
  const total = engine.db.select({ last: max(runLogs.seq) }).from(runLogs).where(eq(runLogs.runId, runId)).get()?.last ?? 0;
  return { lines, total };
}
