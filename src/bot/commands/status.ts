import { nextRunAt } from '../../engine/scheduler.ts';
import { ago, botButtons, botLabel, botStateIcon, duration, fromNow, scheduleSpans, statusIcon } from '../format.ts';
import { bold, line, type Block } from '../message.ts';
import type { Command } from './types.ts';

/** `/status <bot>`: runs, results, schedule, success rate, last run, links; Run / Logs / Pause buttons. */
export const statusCommand: Command = {
  name: 'status',
  description: 'A bot’s runs, results, schedule, success rate and last run',
  params: [{ name: 'bot', kind: 'bot', required: true, description: 'Which bot' }],
  run(ctx, args) {
    const { engine, caller } = ctx;
    const bot = engine.bots.summarize(ctx.bot(args.bot));
    const counts = engine.runner.statusCounts(bot.id);
    const finished = (counts.completed ?? 0) + (counts.failed ?? 0) + (counts.cancelled ?? 0) + (counts.interrupted ?? 0);
    const rate = finished > 0 ? `${Math.round(((counts.completed ?? 0) / finished) * 100)}%` : '–';
    const byStatus = (['completed', 'failed', 'cancelled', 'interrupted'] as const)
      .filter((s) => counts[s])
      .map((s) => `${counts[s]} ${s}`)
      .join(', ');
    const [last] = engine.runner.listForBot(bot.id, 1);
    const links = engine.triggers.list({ botId: bot.id });
    const next = nextRunAt(bot);
    const blocks: Block[] = [
      line(`${botStateIcon(bot.status)} `, bold(botLabel(bot)), ` — ${bot.status}`),
      ...(bot.description ? [line(bot.description)] : []),
      line('Model: ', bot.model),
      line('Schedule: ', ...scheduleSpans(bot.schedule), bot.paused && bot.schedule ? ' — paused' : next ? ` · next run ${fromNow(next)}` : ''),
      line(`Runs: ${bot.runCount}${byStatus ? ` (${byStatus})` : ''} · success rate ${rate}`),
      line(`Results: ${bot.resultCount}`),
      line(
        'Last run: ',
        last
          ? `${statusIcon(last.status)} #${last.id} ${last.status} ${ago(last.startedAt ?? last.createdAt)}${last.durationMs != null ? ` (${duration(last.durationMs)})` : ''}`
          : 'never',
      ),
    ];
    if (links.length > 0) blocks.push(line('Links: ', links.map((t) => t.label + (t.enabled ? '' : ' (off)')).join('; ')));
    blocks.push(line('This chat gets its runs: ', engine.subscriptions.isSubscribed(bot.id, caller.platform, caller.chatId) ? 'yes' : 'no'));
    return { blocks, buttons: [botButtons(bot)] };
  },
};
