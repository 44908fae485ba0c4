/**
 * Prometheus metrics (https://prometheus.io/docs/instrumenting/exposition_formats/) through
 * prom-client, fed by the engine's event bus: the engine knows nothing of them.
 */
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Engine } from '../engine/engine.ts';
import type { EngineEvents } from '../engine/event-bus.ts';

const PREFIX = 'openorchestrator_';

/** Outcome of one chat message (a command's answer or a run's outcome). */
export type ChatMessageOutcome = 'sent' | 'failed';


let processRegistry: Registry | undefined;

/**
 * Process metrics (CPU, memory, handles, GC, event-loop lag as `nodejs_eventloop_lag_*`) once per
 * process: they describe the process, not one app, and each collector keeps its own event-loop
 * delay monitor running.
 */
function defaultMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/**
 * The app's metrics. Counters start at zero with the process, as Prometheus expects
 * (`rate()` handles restarts). Series, all prefixed `openorchestrator_`:
 * - `runs_total{bot,status}` counter: runs that ended, by bot name and final status
 * - `run_duration_seconds{bot,status}` histogram: from start to end of runs that started
 * - `run_queue_wait_seconds{bot}` histogram: from queued to started
 * - `runs_queued`, `runs_running`, `run_processes` gauges: now, from the runner
 * - `tokens_total{model,direction}` (`in` | `out`), `cost_usd_total{model}` counters: of ended runs,
 *   by the bot's model when the run's end is heard
 * - `sse_clients` gauge: open requests that asked for `text/event-stream` (as every EventSource does)
 * - `chat_messages_total{platform,outcome}` counter: `sent` | `failed`
 * - `schedule_fires_total`, `schedule_skips_total{reason}` counters: `busy` (the previous run was
 *   still going) | `missed` (the process was down or busy at the time)
 * plus prom-client's default process metrics.
 */
export class AppMetrics {
  readonly registry = new Registry();
  private readonly offs: (() => void)[] = [];
  /** Last known model of each bot, for runs that end after their bot was deleted. */
  private readonly botModels = new Map<number, string>();

  private readonly runs = new Counter({ name: `${PREFIX}runs_total`, help: 'Runs that ended, by bot and final status.', labelNames: ['bot', 'status'], registers: [this.registry] });
  private readonly duration = new Histogram({
    name: `${PREFIX}run_duration_seconds`,
    help: 'Duration of runs from start to end, by bot and final status.',
    labelNames: ['bot', 'status'],
    buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
    registers: [this.registry],
  });
  private readonly queueWait = new Histogram({
    name: `${PREFIX}run_queue_wait_seconds`,
    help: 'Time runs waited in the queue before they started, by bot.',
    labelNames: ['bot'],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900],
    registers: [this.registry],
  });
  private readonly tokens = new Counter({ name: `${PREFIX}tokens_total`, help: 'Model tokens of ended runs, by model and direction (in | out).', labelNames: ['model', 'direction'], registers: [this.registry] });
  private readonly cost = new Counter({ name: `${PREFIX}cost_usd_total`, help: 'Cost in USD of ended runs whose model has a known price, by model.', labelNames: ['model'], registers: [this.registry] });
  private readonly sse = new Gauge({ name: `${PREFIX}sse_clients`, help: 'Open Server-Sent Events connections.', registers: [this.registry] });
  private readonly chat = new Counter({ name: `${PREFIX}chat_messages_total`, help: 'Messages to Telegram and Discord chats, by platform and outcome (sent | failed).', labelNames: ['platform', 'outcome'], registers: [this.registry] });
  private readonly fires = new Counter({ name: `${PREFIX}schedule_fires_total`, help: 'Scheduled occurrences that started a run.', registers: [this.registry] });
  private readonly skips = new Counter({ name: `${PREFIX}schedule_skips_total`, help: 'Scheduled occurrences that started nothing, by reason (busy | missed).', labelNames: ['reason'], registers: [this.registry] });

  constructor(private readonly engine: Engine) {
    const runner = engine.runner;
    new Gauge({
      name: `${PREFIX}runs_queued`,
      help: 'Runs waiting for a free slot.',
      registers: [this.registry],
      async collect() {
        // The queue lives in the database: while it does not answer, the gauge keeps its last value.
        try {
          this.set(await runner.queuedCount());
        } catch {
          // /health says what is wrong
        }
      },
    });
    new Gauge({
      name: `${PREFIX}run_processes`,
      help: 'Live run processes (each serves one bot’s runs).',
      registers: [this.registry],
      collect() {
        this.set(runner.processCount);
      },
    });
    new Gauge({
      name: `${PREFIX}runs_running`,
      help: 'Runs with a live run process.',
      registers: [this.registry],
      collect() {
        this.set(runner.runningCount);
      },
    });
    // Series that exist from the start, so a dashboard shows 0 rather than "no data".
    for (const outcome of ['sent', 'failed'] as const) for (const platform of ['telegram', 'discord']) this.chat.inc({ platform, outcome }, 0);
    this.fires.inc(0);
    for (const reason of ['busy', 'missed']) this.skips.inc({ reason }, 0);

    this.offs.push(engine.bus.on('run.started', (e) => this.onStarted(e)));
    this.offs.push(engine.bus.on('run.finished', (e) => this.onFinished(e)));
    this.offs.push(engine.bus.on('activity', (e) => this.onActivity(e)));
  }

  /** Counts one message to a chat (`platform`: telegram | discord); the chat adapters call it. */
  message(platform: string, outcome: ChatMessageOutcome): void {
    this.chat.inc({ platform, outcome });
  }

  /** Counts one open event stream until `done` is called. */
  sseOpened(): () => void {
    this.sse.inc();
    let open = true;
    return () => {
      if (open) this.sse.dec();
      open = false;
    };
  }

  /** The text exposition (`text/plain; version=0.0.4`) of the app's and the process's metrics. */
  async render(): Promise<{ contentType: string; body: string }> {
    const merged = Registry.merge([this.registry, defaultMetrics()]);
    return { contentType: merged.contentType, body: await merged.metrics() };
  }

  /** Stops listening to the engine. */
  close(): void {
    for (const off of this.offs.splice(0)) off();
  }

  private onStarted(e: EngineEvents['run.started']): void {
    const { run } = e;
    if (run.startedAt == null) return;
    this.queueWait.observe({ bot: e.bot.name }, Math.max(0, run.startedAt - run.createdAt) / 1000);
  }

  private async onFinished(e: EngineEvents['run.finished']): Promise<void> {
    const { run, bot } = e;
    this.runs.inc({ bot: bot.name, status: e.status });
    if (run.durationMs != null) this.duration.observe({ bot: bot.name, status: e.status }, run.durationMs / 1000);
    const model = await this.botModel(e.botId);
    if (!model) return;
    if (run.tokensIn) this.tokens.inc({ model, direction: 'in' }, run.tokensIn);
    if (run.tokensOut) this.tokens.inc({ model, direction: 'out' }, run.tokensOut);
    if (run.costUsd != null) this.cost.inc({ model }, run.costUsd);
  }

  private onActivity(e: EngineEvents['activity']): void {
    // The scheduler's outcomes reach the world as activity (engine/scheduler.ts).
    if (e.kind === 'schedule.fired') this.fires.inc();
    else if (e.kind === 'schedule.skipped') this.skips.inc({ reason: 'busy' });
    else if (e.kind === 'schedule.missed') this.skips.inc({ reason: 'missed' });
  }

  /** The bot's model (run rows do not name it), or the last one seen when the bot is gone. */
  private async botModel(botId: number): Promise<string | undefined> {
    try {
      const model = (await this.engine.bots.get(botId)).model;
      this.botModels.set(botId, model);
      return model;
    } catch {
      return this.botModels.get(botId);
    }
  }
}

/**
 * Serves `GET /metrics` and counts event streams. Called on the root instance (not registered as
 * a plugin) so its hook sees every request; after the token check, so only admitted streams count.
 */
export function installMetrics(app: FastifyInstance, metrics: AppMetrics): void {
  app.addHook('onRequest', async (req, reply) => {
    if ((req.headers.accept ?? '').includes('text/event-stream')) reply.raw.once('close', metrics.sseOpened());
  });
  app.get('/metrics', async (_req, reply) => {
    const { contentType, body } = await metrics.render();
    return reply.type(contentType).send(body);
  });
}
