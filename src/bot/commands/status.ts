import type { BotRow } from '../../engine/db/schema.ts';
import { FINAL_RUN_STATUSES, successRate } from '../../engine/run-status.ts';
import { nextRunAt } from '../../engine/scheduler.ts';
import { POLICY_LABELS } from '../../engine/subscriptions.ts';
import { ago, botButtons, botLabel, botStateIcon, duration, fromNow, scheduleSpans, statusIcon } from '../format.ts';
import { bold, line, type Block, type Message } from '../message.ts';
import type { Command, CommandContext } from './types.ts';

async function statusOf(ctx: CommandContext, row: BotRow): Promise<Message> {
  const { engine, caller } = ctx;
  const bot = await engine.bots.summarize(row);
  const counts = await engine.runner.statusCounts(bot.id);
  const rate = successRate(counts);
  const byStatus = FINAL_RUN_STATUSES.filter((s) => counts[s])
    .map((s) => `${counts[s]} ${s}`)
    .join(', ');
  const [last] = await engine.runner.listForBot(bot.id, 1);
  const links = await engine.triggers.list({ botId: bot.id });
  const next = nextRunAt(bot);
  const sub = await engine.subscriptions.find(bot.id, caller.platform, caller.chatId);
  const muted = sub?.mutedUntil != null && sub.mutedUntil > Date.now() ? ` (muted ${fromNow(sub.mutedUntil).replace(/^in /, 'for ')})` : '';
  const blocks: Block[] = [
    line(`${botStateIcon(bot.status)} `, bold(botLabel(bot)), ` — ${bot.status}`),
    ...(bot.description ? [line(bot.description)] : []),
    line('Model: ', bot.model),
    line('Schedule: ', ...scheduleSpans(bot.schedule), bot.paused && bot.schedule ? ' — paused' : next ? ` · next run ${fromNow(next)}` : ''),
    line(`Runs: ${bot.runCount}${byStatus ? ` (${byStatus})` : ''} · success rate ${rate === null ? '–' : `${rate}%`}`),
    line(`Results: ${bot.resultCount}`),
    line(
      'Last run: ',
      last
        ? `${statusIcon(last.status)} #${last.id} ${last.status} ${ago(last.startedAt ?? last.createdAt)}${last.durationMs != null ? ` (${duration(last.durationMs)})` : ''}`
        : 'never',
    ),
  ];
  if (links.length > 0) blocks.push(line('Links: ', links.map((t) => t.label + (t.enabled ? '' : ' (off)')).join('; ')));
  blocks.push(line('This chat gets: ', sub ? `${POLICY_LABELS[sub.policy]}${muted}` : 'only the runs started here'));
  return { blocks, buttons: [botButtons(bot)] };
}

/** `/status <bot>`: runs, results, schedule, success rate, last run, links, this chat's subscription. */
export const statusCommand: Command = {
  name: 'status',
  description: 'A bot’s runs, results, schedule, success rate and last run',
  params: [{ name: 'bot', kind: 'bot', required: true, description: 'Which bot' }],
  run: async (ctx, args) => statusOf(ctx, await ctx.bot(args.bot)),
  actions: { status: { mode: 'reply', run: async (ctx, id) => ({ message: await statusOf(ctx, await ctx.botById(id)), toast: 'Status' }) } },
};
