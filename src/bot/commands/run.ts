import { botLabel } from '../format.ts';
import { bold, line } from '../message.ts';
import type { Command } from './types.ts';

/** `/run <bot> [input]`: queues a run; its outcome comes back to this chat when it ends. */
export const runCommand: Command = {
  name: 'run',
  description: 'Run a bot now, optionally with an input',
  params: [
    { name: 'bot', kind: 'bot', required: true, description: 'Which bot' },
    { name: 'input', kind: 'text', required: false, description: 'Input for this run (optional)' },
  ],
  run(ctx, args) {
    const bot = ctx.bot(args.bot);
    const run = ctx.engine.startRun(bot.id, { input: args.input ?? null, trigger: `${ctx.caller.platform}:${ctx.caller.userId}` });
    ctx.watchRun(run.id);
    const queued = ctx.engine.runner.activeForBot(bot.id).filter((r) => r.id < run.id).length;
    return {
      blocks: [
        line('▶ Started ', bold(botLabel(bot)), ` · run #${run.id}${queued ? ` (after ${queued} queued)` : ''}.`),
        line('The outcome will be posted here when it ends.'),
      ],
      buttons: [
        [
          { label: '⏹ Stop', action: `stop:${bot.id}`, style: 'danger' },
          { label: '📜 Logs', action: `logs:${bot.id}`, style: 'secondary' },
        ],
      ],
    };
  },
};
