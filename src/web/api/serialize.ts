import type { BotSummary } from '../../engine/bots.ts';
import type { BotRow, EventRow, ResultRow, RunRow } from '../../engine/db/schema.ts';
import type { DocInfo } from '../../engine/docs.ts';
import type { RunListItem } from '../../engine/run-history.ts';
import { nextRunAt } from '../../engine/scheduler.ts';
import type { z } from 'zod';
import type { BotJson, DocJson, EventJson, ResultJson, RunJson, RunListItemJson } from './schemas.ts';

// The API speaks snake_case and ISO-8601 times; the engine keeps camelCase and epoch ms. Each
// function returns its schema's type (./schemas.ts), so a field added here and not there is a
// compile error rather than a field the serializer silently drops.

const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null | undefined) => (ms == null ? null : iso(ms));

/**
 * A bot's `notify` settings as the API shows them: `webhook.secret` is never sent back (anyone who
 * can read the API could otherwise forge signed webhooks); `webhook.has_secret` says whether one
 * is set. The stored secret is kept by updates that do not send `notify`.
 */
export function redactNotify(notify: BotRow['notify']): BotRow['notify'] {
  const webhook = notify?.webhook;
  if (!webhook || typeof webhook !== 'object') return notify;
  const { secret, ...rest } = webhook as Record<string, unknown>;
  return { ...notify, webhook: { ...rest, has_secret: typeof secret === 'string' && secret.length > 0 } };
}

/** A bot as the API shows it (snake_case, ISO times, secrets redacted); with status counters for a summary. */
export function botJson(b: BotRow | BotSummary): z.output<typeof BotJson> {
  const s = 'status' in b ? (b as BotSummary) : undefined;
  return {
    id: b.id,
    name: b.name,
    emoji: b.emoji,
    description: b.description,
    prompt: b.prompt,
    model: b.model,
    tools: b.tools,
    schedule: b.schedule,
    /** When the schedule fires next (process TZ), null when unscheduled or paused. */
    next_run_at: isoOrNull(nextRunAt(b)),
    notify: redactNotify(b.notify),
    paused: b.paused,
    max_steps: b.maxSteps,
    retries: b.retries,
    requires_approval: b.requiresApproval,
    approval_timeout_s: b.approvalTimeoutS,
    docs_path: b.docsPath,
    created_at: iso(b.createdAt),
    updated_at: iso(b.updatedAt),
    ...(s && {
      status: s.status,
      last_run_at: isoOrNull(s.lastRunAt),
      last_run_status: s.lastRunStatus,
      result_count: s.resultCount,
      run_count: s.runCount,
    }),
  };
}

/** A run as the API shows it. */
export function runJson(r: RunRow): z.output<typeof RunJson> {
  return {
    id: r.id,
    bot_id: r.botId,
    trigger: r.trigger,
    status: r.status,
    attempt: r.attempt,
    max_attempts: r.maxAttempts,
    input: r.input,
    output: r.output,
    error: r.error,
    created_at: iso(r.createdAt),
    started_at: isoOrNull(r.startedAt),
    finished_at: isoOrNull(r.finishedAt),
    duration_ms: r.durationMs,
    tokens_in: r.tokensIn,
    tokens_out: r.tokensOut,
    cost_usd: r.costUsd,
    requires_approval: r.requiresApproval,
    retry_of: r.retryOf,
  };
}

/** A run in the list of all runs (with its bot's name and emoji). */
export function runListItemJson(r: RunListItem): z.output<typeof RunListItemJson> {
  return { ...runJson(r), bot_name: r.botName, bot_emoji: r.botEmoji };
}

/** A result as the API shows it. */
export function resultJson(r: ResultRow): z.output<typeof ResultJson> {
  return {
    id: r.id,
    bot_id: r.botId,
    run_id: r.runId,
    title: r.title,
    content: r.content,
    url: r.url,
    metadata: r.metadata,
    pinned: r.pinned,
    is_new: r.isNew,
    created_at: iso(r.createdAt),
  };
}

/** An activity-feed event as the API shows it. */
export function eventJson(e: EventRow): z.output<typeof EventJson> {
  return { id: e.id, bot_id: e.botId, run_id: e.runId, kind: e.kind, message: e.message, level: e.level, created_at: iso(e.createdAt) };
}

/** A document of a bot's docs folder as the API lists it. */
export function docJson(d: DocInfo): z.output<typeof DocJson> {
  return { name: d.name, size: d.size, modified_at: iso(d.modifiedAt) };
}
