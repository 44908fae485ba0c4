import { eq } from 'drizzle-orm';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Db } from '../db/database.ts';
import { bots, runs, type BotRow, type RunRow } from '../db/schema.ts';
import type { EngineEvents, EventBus } from '../event-bus.ts';
import type { EmailSender } from './email.ts';
import { DEFAULT_RETRY_DELAYS_MS, deliverWebhook } from './webhook.ts';

export { SIGNATURE_HEADER, signBody } from './webhook.ts';
export { smtpSender, type SmtpSettings } from './email.ts';

/** Run outcomes a notification can be sent for (`result`: the run produced a new result). */
export const NOTIFY_ON = ['completed', 'failed', 'result'] as const;

/** One of {@link NOTIFY_ON}. */
export type NotifyOn = (typeof NOTIFY_ON)[number];

const onSchema = z.array(z.enum(NOTIFY_ON)).min(1).max(NOTIFY_ON.length).optional();

/**
 * A bot's `notify` setting (JSON). Every channel is optional; keys other adapters own (`telegram`,
 * `discord`, `dashboard`) pass through untouched.
 *
 * - `webhook`: `{url, secret?, on?}` — POST of the run's outcome as JSON to an http(s) `url`,
 *   signed (`X-OpenOrchestrator-Signature: sha256=<hex HMAC-SHA256 of the raw body>`) with `secret`
 *   or else `WEBHOOK_SECRET`; unsigned when neither is set.
 * - `email`: `{to, on?}` — one address or a list; sent through `SMTP_URL`.
 * - `on` defaults to `["completed", "failed"]`.
 *
 * @example {"webhook": {"url": "https://example.com/hook", "secret": "s3cret-s3cret"}, "email": {"to": "me@example.com"}}
 */
export const notifySchema = z.looseObject({
  webhook: z
    .object({
      url: z.url({ protocol: /^https?$/, error: 'webhook.url must be an http(s) URL' }),
      secret: z.string().min(8, 'webhook.secret must be at least 8 characters').max(256).optional(),
      on: onSchema,
    })
    .optional(),
  email: z
    .object({
      to: z.union([z.email('email.to must be an e-mail address'), z.array(z.email('email.to must list e-mail addresses')).min(1).max(20)]),
      on: onSchema,
    })
    .optional(),
});

/** A parsed `notify` setting. */
export type NotifySettings = z.infer<typeof notifySchema>;

const DEFAULT_ON: NotifyOn[] = ['completed', 'failed'];

/** The JSON body POSTed to a webhook (snake_case and ISO times, like the REST API). */
export interface RunOutcomePayload {
  event: 'run.finished';
  bot: { id: number; name: string; emoji: string };
  run: {
    id: number;
    status: string;
    trigger: string;
    input: string | null;
    output: string | null;
    error: string | null;
    new_results: number;
    started_at: string | null;
    finished_at: string | null;
    duration_ms: number | null;
  };
  sent_at: string;
}

/** The resources the notifier works with. */
export interface NotifierDeps {
  db: Db;
  bus: EventBus;
  log: Logger;
  /** Signs webhooks of bots without their own `webhook.secret`. */
  webhookSecret?: string;
  /** Where mail goes; without it, e-mail notifications are skipped with an activity event. */
  email?: EmailSender;
  /** Pauses between webhook attempts, in ms (default 0.5 s, 1 s, 2 s). */
  retryDelaysMs?: readonly number[];
}

/**
 * Sends each finished run's outcome where its bot's `notify` says: a signed webhook (retried with
 * backoff) and/or an e-mail. It never changes the run: a failed delivery is logged and recorded
 * in the activity feed.
 */
export class Notifier {
  private off: (() => void) | null = null;
  private readonly pending = new Set<Promise<void>>();
  private abort = new AbortController();

  constructor(private readonly deps: NotifierDeps) {}

  /** Starts listening to finished runs. Idempotent. */
  start(): void {
    if (this.off) return;
    this.abort = new AbortController();
    this.off = this.deps.bus.on('run.finished', (e) => this.onRunFinished(e));
  }

  /**
   * Stops listening; deliveries in flight (and their retries) get until `deadline` (epoch ms;
   * default: now, i.e. none), then are given up, each recorded as failed. Resolves once every
   * delivery has settled, which is promptly after the deadline: webhooks and mails are aborted.
   */
  async close(deadline = Date.now()): Promise<void> {
    this.off?.();
    this.off = null;
    const settled = Promise.allSettled([...this.pending]);
    const left = deadline - Date.now();
    if (left > 0 && this.pending.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([settled, new Promise((r) => (timer = setTimeout(r, left)))]);
      clearTimeout(timer);
    }
    this.abort.abort();
    await settled;
    this.deps.email?.close();
  }

  private async onRunFinished(e: EngineEvents['run.finished']): Promise<void> {
    if (e.status !== 'completed' && e.status !== 'failed') return;
    const [bot] = await this.deps.db.select().from(bots).where(eq(bots.id, e.botId));
    if (!bot || !bot.notify || Object.keys(bot.notify).length === 0) return;
    const parsed = notifySchema.safeParse(bot.notify);
    if (!parsed.success) {
      this.deps.log.warn({ botId: bot.id, issues: parsed.error.issues }, 'bot notify setting is invalid; nothing sent');
      this.deps.bus.emit('notice', { botId: bot.id, runId: e.runId, kind: 'notify.failed', message: `${bot.emoji} ${bot.name}: notify setting is invalid — ${parsed.error.issues[0]?.message}`, level: 'error' });
      return;
    }
    const happened: NotifyOn[] = e.status === 'failed' ? ['failed'] : e.newResults > 0 ? ['completed', 'result'] : ['completed'];
    const wants = (on: NotifyOn[] | undefined) => (on ?? DEFAULT_ON).some((o) => happened.includes(o));
    const [run] = await this.deps.db.select().from(runs).where(eq(runs.id, e.runId));
    if (!run || !this.off) return;
    const { webhook, email } = parsed.data;
    if (webhook && wants(webhook.on)) this.track(this.sendWebhook(bot, run, e.newResults, webhook));
    if (email && wants(email.on)) this.track(this.sendEmail(bot, run, email));
  }

  private track(p: Promise<void>): void {
    const tracked = p.catch((err) => this.deps.log.error({ err }, 'notification failed unexpectedly')).finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  private async sendWebhook(bot: BotRow, run: RunRow, newResults: number, hook: NonNullable<NotifySettings['webhook']>): Promise<void> {
    const body = JSON.stringify(runOutcomePayload(bot, run, newResults));
    const secret = hook.secret ?? this.deps.webhookSecret;
    if (!secret) this.deps.log.warn({ botId: bot.id }, 'webhook sent unsigned: set webhook.secret on the bot or WEBHOOK_SECRET');
    const host = safeHost(hook.url);
    const outcome = await deliverWebhook(
      { url: hook.url, body, secret, event: 'run.finished' },
      {
        retryDelaysMs: this.deps.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS,
        signal: this.abort.signal,
        onAttemptFailed: (attempt, error) => this.deps.log.warn({ botId: bot.id, runId: run.id, host, attempt, error }, 'webhook attempt failed'),
      },
    );
    if (outcome.ok) {
      this.deps.log.info({ botId: bot.id, runId: run.id, host, attempts: outcome.attempts }, 'webhook delivered');
      return;
    }
    this.deps.log.error({ botId: bot.id, runId: run.id, host, ...outcome }, 'webhook delivery failed');
    this.deps.bus.emit('notice', {
      botId: bot.id,
      runId: run.id,
      kind: 'notify.failed',
      message: `${bot.emoji} ${bot.name}: webhook to ${host} failed after ${outcome.attempts} attempt${outcome.attempts === 1 ? '' : 's'} (${outcome.error}) — run #${run.id} is unaffected`,
      level: 'error',
    });
  }

  private async sendEmail(bot: BotRow, run: RunRow, email: NonNullable<NotifySettings['email']>): Promise<void> {
    const to = Array.isArray(email.to) ? email.to : [email.to];
    if (!this.deps.email) {
      this.deps.bus.emit('notice', { botId: bot.id, runId: run.id, kind: 'notify.skipped', message: `${bot.emoji} ${bot.name}: e-mail not sent — SMTP_URL is not set`, level: 'warn' });
      return;
    }
    const verb = run.status === 'completed' ? 'completed' : 'failed';
    const text = [
      `${bot.emoji} ${bot.name}: run #${run.id} ${verb} (${run.trigger}).`,
      '',
      run.status === 'completed' ? (run.output ?? '') : `Error: ${run.error ?? 'unknown'}`,
    ].join('\n');
    try {
      await this.deps.email.send({ to, subject: `${run.status === 'completed' ? '✅' : '❌'} ${bot.name}: run #${run.id} ${verb}`, text }, this.abort.signal);
      this.deps.log.info({ botId: bot.id, runId: run.id, to: to.length }, 'e-mail sent');
    } catch (err) {
      this.deps.log.error({ err, botId: bot.id, runId: run.id }, 'e-mail failed');
      this.deps.bus.emit('notice', {
        botId: bot.id,
        runId: run.id,
        kind: 'notify.failed',
        message: `${bot.emoji} ${bot.name}: e-mail failed (${this.abort.signal.aborted ? 'gave up: shutting down' : (err as Error).message}) — run #${run.id} is unaffected`,
        level: 'error',
      });
    }
  }
}

/** The webhook body for a finished run. */
export function runOutcomePayload(bot: BotRow, run: RunRow, newResults: number): RunOutcomePayload {
  const iso = (ms: number | null) => (ms == null ? null : new Date(ms).toISOString());
  return {
    event: 'run.finished',
    bot: { id: bot.id, name: bot.name, emoji: bot.emoji },
    run: {
      id: run.id,
      status: run.status,
      trigger: run.trigger,
      input: run.input,
      output: run.output,
      error: run.error,
      new_results: newResults,
      started_at: iso(run.startedAt),
      finished_at: iso(run.finishedAt),
      duration_ms: run.durationMs,
    },
    sent_at: new Date().toISOString(),
  };
}

/** The host of a URL, for logs and events (never the path or query, which may carry tokens). */
function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'an invalid URL';
  }
}
