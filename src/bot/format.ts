/**
 * Pieces of replies shared by several commands and by run-outcome notifications: how a bot, a
 * status, a time, a schedule and a result look in chat.
 */
import type { BotSummary } from '../engine/bots.ts';
import type { BotRow, ResultRow } from '../engine/db/schema.ts';
import type { RunStatus } from '../engine/run-status.ts';
import { assertNever, RUN_STATUS_TABLE } from '../engine/run-status.ts';
import { code, excerpt, type Block, type Button, type Span } from './message.ts';

/** `🛒 eBay-Scout` */
export function botLabel(bot: Pick<BotRow, 'emoji' | 'name'>): string {
  return `${bot.emoji} ${bot.name}`;
}

/** The icon of a run status, from the one status table. */
export function statusIcon(status: RunStatus): string {
  return RUN_STATUS_TABLE[status].icon;
}

/** The icon of a bot's state in lists. */
export function botStateIcon(state: BotSummary['status']): string {
  switch (state) {
    case 'running':
    case 'queued':
      return RUN_STATUS_TABLE[state].icon;
    case 'paused':
      return '⏸';
    case 'waiting':
      return '🔗';
    case 'failed':
      return '❌';
    case 'scheduled':
      return '⏰';
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

/** `0 s`, `42 s`, `3 min 5 s`: a running run's elapsed time, in whole seconds. */
export function elapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** `$0`, `$0.0042`, `$1.25`; null when the price is unknown. */
export function cost(usd: number | null | undefined): string | null {
  if (usd == null) return null;
  if (usd === 0) return '$0';
  return usd < 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

/** The dashboard page of a run (`PUBLIC_URL/bots/<bot>?run=<run>`), or null without `PUBLIC_URL`. */
export function runPageUrl(publicUrl: string | undefined, run: { id: number; botId: number }): string | null {
  return publicUrl ? `${publicUrl}/bots/${run.botId}?run=${run.id}` : null;
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
