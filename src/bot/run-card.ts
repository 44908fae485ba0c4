/**
 * The live card of a run: one message that says a run started, is edited as it goes (status,
 * elapsed time, last log line, Stop) and ends as its outcome (output or error, new results, cost,
 * a link to its page). Subscribed chats get the same outcome as one message.
 */
import type { BotRow, ResultRow, RunRow } from '../engine/db/schema.ts';
import { isFinalRunStatus } from '../engine/run-status.ts';
import { botLabel, cost, duration, elapsed, runPageUrl, statusIcon } from './format.ts';
import { bold, excerpt, line, link, MAX_OUTPUT_BLOCK, output, type Block, type Message } from './message.ts';

/** Most new results named on a card. */
const MAX_RESULTS_SHOWN = 5;
/** Characters of a long output quoted on the card beside its document. */
const SUMMARY_CHARS = 600;

/** What a card shows; gathered by the delivery from the engine. */
export interface CardFacts {
  run: RunRow;
  bot: Pick<BotRow, 'id' | 'name' | 'emoji'>;
  /** The last log line seen (running cards). */
  lastLine?: string;
  /** How long it has been running, by the delivery's clock (running cards). */
  elapsedMs?: number;
  /** Runs of other bots or this one waiting before it (queued cards). */
  queuedAhead?: number;
  /** The pipeline step this run is. */
  pipeline?: { name: string; step: number; total: number };
  /** The run's new results, newest first (final cards). */
  newResults: ResultRow[];
  /** `PUBLIC_URL`, for the link to the run's page. */
  publicUrl?: string;
  /** The card of the chat that started the run (Stop, and "started here"), not a subscriber's outcome. */
  live: boolean;
}

/** A run's origin in words, for outcomes of runs nobody started from this chat. */
function originWords(trigger: string): string {
  if (trigger === 'schedule') return ' (scheduled)';
  if (trigger.startsWith('trigger:')) return ` (after ${trigger.slice(8)})`;
  if (trigger === 'manual') return ' (from the dashboard)';
  return '';
}

/** ` · attempt 2 of 3` for a run its bot retries; empty for a run of one attempt. */
function attempt(run: Pick<RunRow, 'attempt' | 'maxAttempts'>): string {
  return run.maxAttempts > 1 ? ` · attempt ${run.attempt} of ${run.maxAttempts}` : '';
}

/** The file name of a run's full output: `scout-run-12.txt`. */
export function outputFileName(bot: Pick<BotRow, 'name'>, runId: number): string {
  const slug = bot.name.normalize('NFKD').replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '').toLowerCase() || 'bot';
  return `${slug}-run-${runId}.txt`;
}

/**
 * The card as it is now. A running card has ⏹ Stop and 📜 Logs; a final one ▶ Run again and 📜 Logs.
 * An output longer than {@link MAX_OUTPUT_BLOCK} characters goes as a `.txt` file beside a summary.
 * Sized to stay one message on both platforms (see `MAX_OUTPUT_BLOCK`).
 */
export function runCard(f: CardFacts): Message {
  const { run, bot } = f;
  const blocks: Block[] = [];
  const final = isFinalRunStatus(run.status);
  const step = f.pipeline ? line(`🧩 ${excerpt(f.pipeline.name, 64)} · step ${f.pipeline.step}/${f.pipeline.total}`) : null;
  if (!final) {
    const where =
      run.status === 'queued'
        ? `queued${f.queuedAhead ? ` (after ${f.queuedAhead} more)` : ''}`
        : `running · ${elapsed(f.elapsedMs ?? 0)}`;
    blocks.push(line(`${statusIcon(run.status)} `, bold(botLabel(bot)), ` · run #${run.id} ${where}${attempt(run)}`));
    if (step) blocks.push(step);
    if (f.lastLine) blocks.push(line('› ', excerpt(f.lastLine, 200)));
    return {
      blocks,
      buttons: [
        [
          { label: '⏹ Stop', action: `cancel:${run.id}`, style: 'danger' },
          { label: '📜 Logs', action: `logs:${bot.id}`, style: 'secondary' },
        ],
      ],
    };
  }

  const tokens = (run.tokensIn ?? 0) + (run.tokensOut ?? 0);
  const price = cost(run.costUsd);
  blocks.push(
    line(
      `${statusIcon(run.status)} `,
      bold(botLabel(bot)),
      ` · run #${run.id} ${run.status}`,
      attempt(run),
      run.durationMs != null ? ` in ${duration(run.durationMs)}` : '',
      f.live ? '' : originWords(run.trigger),
      tokens > 0 ? ` · ${tokens} tokens${price ? ` · ${price}` : ''}` : '',
    ),
  );
  if (step) blocks.push(step);
  let files: Message['files'];
  const out = run.output?.trim() ?? '';
  if (run.status === 'completed' && out) {
    if (out.length <= MAX_OUTPUT_BLOCK) blocks.push(output(out));
    else {
      const name = outputFileName(bot, run.id);
      const whole = run.output!;
      blocks.push(output(excerpt(out, SUMMARY_CHARS)));
      blocks.push(line(`📎 The whole output (${whole.length.toLocaleString('en-US')} characters) is in ${name}.`));
      files = [{ name, text: whole }];
    }
  } else if (run.error) {
    blocks.push(output(excerpt(run.error, 1500)));
  }
  if (f.newResults.length > 0) {
    const n = f.newResults.length;
    blocks.push(line(`🆕 ${n} new result${n === 1 ? '' : 's'}${n > MAX_RESULTS_SHOWN ? ` (the first ${MAX_RESULTS_SHOWN})` : ''}`));
    for (const r of f.newResults.slice(0, MAX_RESULTS_SHOWN)) blocks.push({ type: 'card', title: excerpt(r.title, 100), url: r.url });
  }
  const url = runPageUrl(f.publicUrl, run);
  if (url) blocks.push(line('🔗 ', link(url, `Run #${run.id} in the dashboard`)));
  return {
    blocks,
    buttons: [
      [
        { label: '▶ Run again', action: `run:${bot.id}`, style: 'primary' },
        { label: '📜 Logs', action: `logs:${bot.id}`, style: 'secondary' },
      ],
    ],
    ...(files ? { files } : {}),
  };
}
