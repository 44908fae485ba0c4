/**
 * Pieces of replies shared by several commands and by run-outcome notifications: how a bot, a
 * status, a time, a schedule and a result look in chat.
 */
import type { BotSummary } from '../engine/bots.ts';
import type { BotRow, ResultRow, RunRow } from '../engine/db/schema.ts';
import type { Engine } from '../engine/engine.ts';
import type { RunStatus } from '../engine/run-status.ts';
import { assertNever } from '../engine/run-status.ts';
import { bold, code, excerpt, line, pre, type Block, type Button, type Message, type Span } from './message.ts';

/** Longest run output quoted in a chat message; the rest is in the dashboard. */
export const MAX_OUTPUT_CHARS = 6000;

/** `🛒 eBay-Scout` */
export function botLabel(bot: Pick<BotRow, 'emoji' | 'name'>): string {
  return `${bot.emoji} ${bot.name}`;
}

/** The icon of a run status. */
export function statusIcon(status: RunStatus): string {
  switch (status) {
    case 'queued':
      return '⏳';
    case 'running':
      return '🏃';
    case 'awaiting_approval':
      return '⏸';
    case 'completed':
      return '✅';
    case 'failed':
      return '❌';
    case 'cancelled':
      return '⏹';
    case 'interrupted':
      return '⚠️';
    case 'rejected':
      return '🚫';
    default:
      return assertNever(status);
  }
}

/** The icon of a bot's state in lists. */
export function botStateIcon(state: BotSummary['status']): string {
  switch (state) {
    case 'running':
      return '🏃';
    case 'queued':
      return '⏳';
    case 'paused':
      return '⏸';
    case 'idle':
      return '💤';
    default:
      return assertNever(state);
  }
}

/** `just now`, `5 min ago`, `3 h ago`, `2 d ago`. */
export function ago(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 45) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 36) return `${h} h ago`;
  return `${Math.round(h / 24)} d ago`;
}

/** `in under a minute`, `in 12 min`, `in 3 h`, `in 2 d`. */
export function fromNow(ms: number, now = Date.now()): string {
  const m = Math.round((ms - now) / 60_000);
  if (m < 1) return 'in under a minute';
  if (m < 60) return `in ${m} min`;
  const h = Math.round(m / 60);
  if (h < 36) return `in ${h} h`;
  return `in ${Math.round(h / 24)} d`;
}

/** `850 ms`, `1.2 s`, `3 min 5 s`. */
export function duration(ms: number | null | undefined): string {
  if (ms == null) return '–';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** A schedule in words where it is one of the "every …" shapes (`every 30 minutes`), else null. */
function scheduleWords(cron: string): string | null {
  if (cron === '* * * * *') return 'every minute';
  if (cron === '0 * * * *') return 'every hour';
  const min = /^\*\/(\d+) \* \* \* \*$/.exec(cron);
  if (min) return `every ${min[1]} minutes`;
  const hour = /^0 \*\/(\d+) \* \* \*$/.exec(cron);
  if (hour) return `every ${hour[1]} hours`;
  return null;
}

/** A schedule as plain text: `every 30 minutes (*\/30 * * * *)`, `0 8 * * 1-5`, or none. */
export function describeSchedule(cron: string | null): string {
  if (!cron) return 'none (runs only when started)';
  const words = scheduleWords(cron);
  return words ? `${words} (${cron})` : cron;
}

/** A schedule for a reply, the cron expression as code. */
export function scheduleSpans(cron: string | null): Span[] {
  if (!cron) return ['none (runs only when started)'];
  const words = scheduleWords(cron);
  return words ? [`${words} (`, code(cron), ')'] : [code(cron)];
}

/** The Run / Logs / Pause-or-Resume buttons of a bot; with `named`, labels carry the bot's name. */
export function botButtons(bot: Pick<BotRow, 'id' | 'name' | 'paused'>, named = false): Button[] {
  return [
    { label: named ? `▶ ${bot.name}` : '▶ Run', action: `run:${bot.id}`, style: 'primary' },
    { label: '📜 Logs', action: `logs:${bot.id}`, style: 'secondary' },
    bot.paused
      ? { label: '▶ Resume', action: `resume:${bot.id}`, style: 'success' }
      : { label: '⏸ Pause', action: `pause:${bot.id}`, style: 'secondary' },
  ];
}

/** A result as a card: title (linked), excerpt, and new / pinned / when. */
export function resultCard(r: ResultRow): Block {
  const marks = [r.pinned ? '📌 pinned' : '', r.isNew ? '🆕 new' : '', ago(r.createdAt), r.runId ? `run #${r.runId}` : '']
    .filter(Boolean)
    .join(' · ');
  const body = r.content.trim() === r.title.trim() ? '' : excerpt(r.content, 300);
  return { type: 'card', title: excerpt(r.title, 250), url: r.url, text: body, footer: marks };
}

/**
 * The message a chat gets when a run ends: outcome, duration, output or error, and the new
 * results, with Run again / Logs buttons.
 */
export function runOutcomeMessage(engine: Engine, bot: BotRow, run: RunRow, newResults: number): Message {
  const blocks: Block[] = [
    line(
      `${statusIcon(run.status)} `,
      bold(botLabel(bot)),
      ` · run #${run.id} ${run.status}`,
      run.durationMs != null ? ` in ${duration(run.durationMs)}` : '',
      run.trigger.startsWith('schedule') ? ' (scheduled)' : run.trigger.startsWith('trigger:') ? ` (after ${run.trigger.slice(8)})` : '',
    ),
  ];
  if (run.status === 'completed' && run.output?.trim()) {
    const out = run.output.trim();
    blocks.push(pre(out.length > MAX_OUTPUT_CHARS ? out.slice(0, MAX_OUTPUT_CHARS) + '\n… (cut; the full output is in the dashboard)' : out));
  } else if (run.error) {
    blocks.push(pre(excerpt(run.error, 1500)));
  }
  if (newResults > 0) {
    const fresh = engine.results.list(bot.id, { limit: 20 }).filter((r) => r.runId === run.id && r.isNew).slice(0, 5);
    blocks.push(line(`🆕 ${newResults} new result${newResults === 1 ? '' : 's'}`));
    // The output is already quoted above; only results that add a title or link are worth a card.
    for (const r of fresh) if (r.url || r.content.trim() !== run.output?.trim()) blocks.push(resultCard(r));
  }
  return {
    blocks,
    buttons: [
      [
        { label: '▶ Run again', action: `run:${bot.id}`, style: 'primary' },
        { label: '📜 Logs', action: `logs:${bot.id}`, style: 'secondary' },
      ],
    ],
  };
}
