import type { BotRow, RunRow } from '../db/schema.ts';
import { providerSettingsFor } from '../providers/index.ts';
import { resultKey, type ResultInput } from '../results.ts';
import { redactSecrets, secretRedactionRules, type RedactionRules } from '../swarm/redaction.ts';
import type { ChildMessage, ParentMessage } from './protocol.ts';
import type { RunEngineResources } from './resources.ts';
import type { BotWorker } from './worker.ts';

/** How an attempt ended, as the finalizer receives it. */
export interface AttemptOutcome {
  status: 'completed' | 'failed' | 'cancelled' | 'interrupted';
  output?: string;
  error?: string;
}

/**
 * One attempt of a run that holds a slot: its place on the bot's worker, its timeout and what it
 * counted so far (tokens, tool calls, results). It turns the worker's messages for this run into
 * log lines, results and replies, and hands its outcome, exactly once, to `onEnd`.
 */
export class RunAttempt {
  readonly runId: number;
  readonly botId: number;
  /** `provider:model`, for the cost. */
  readonly model: string;
  tokensIn: number;
  tokensOut: number;
  /** Ids of the results this attempt reported (each once), and how many of them were new. */
  readonly found = new Set<number>();
  newFound = 0;
  toolCalls = 0;
  /** Set once the outcome is being handed over; later messages are ignored. */
  private ending = false;
  /** Set once the outcome was handed over (the finalizer's lines are still logged before). */
  ended = false;
  /** Settles {@link ours}: true once the run is claimed, false when it is abandoned. */
  private settleClaim!: (ours: boolean) => void;
  /** Whether the dispatcher's claim made the run this attempt's; an ending waits for it. */
  private readonly ours: Promise<boolean> = new Promise((resolve) => (this.settleClaim = resolve));
  /** The child's messages, handled one after another in the order they came, from the claim on. */
  private inbox: Promise<void> = this.ours.then(() => {});
  /**
   * Items reported while the run requires approval: they are recorded only once it is approved
   * (kept with its draft), so a rejected draft leaves no results behind.
   */
  readonly held: ResultInput[] = [];
  /** Seconds a draft of this bot may wait for a decision. */
  readonly approvalTimeoutS: number;
  private readonly worker: BotWorker | null;
  private readonly timer: NodeJS.Timeout;
  /** Aborted when the attempt ends: stops its run_code processes. */
  private readonly codeAbort = new AbortController();
  private readonly tools: string[];
  /** Replaces the bot's secret values by `[redacted NAME]` in what the attempt logs and records. */
  private readonly secretRules: RedactionRules;

  /**
   * Starts the attempt of `run` (about to be claimed as `running`) of `bot` on `worker`, the bot's
   * run process; an `Error` instead (no worker could be prepared) ends the attempt `failed` on the
   * next tick. `extraTools`: what the swarm adds to this run (`RunSubmissions.toolsFor`).
   */
  constructor(
    private readonly res: RunEngineResources,
    /** The run row; {@link claimed} replaces it with the row the dispatcher claimed (`running`). */
    public run: RunRow,
    bot: BotRow,
    worker: BotWorker | Error,
    private readonly onEnd: (attempt: RunAttempt, outcome: AttemptOutcome) => Promise<void>,
    extraTools: readonly string[] = [],
    /** Called once the attempt ended and left its worker: whether the worker has no run left. */
    private readonly onLeft: (worker: BotWorker, killed: boolean) => void = () => {},
  ) {
    this.runId = run.id;
    this.botId = bot.id;
    this.model = bot.model;
    this.tools = bot.tools;
    this.approvalTimeoutS = bot.approvalTimeoutS;
    this.tools = [...bot.tools, ...extraTools];
    let secrets: Record<string, string> = {};
    try {
      secrets = res.secrets?.values(bot.id) ?? {};
    } catch (err) {
      // The error names the file, never a value.
      if (!(worker instanceof Error)) worker = new Error(`the bot's secrets could not be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    this.secretRules = secretRedactionRules(secrets);
    // Tokens are counted over all attempts: a failed attempt cost what it cost.
    this.tokensIn = run.tokensIn ?? 0;
    this.tokensOut = run.tokensOut ?? 0;
    this.timer = setTimeout(() => {
      const msg = `timed out after ${res.opts.runTimeoutS} s`;
      this.log('system', msg);
      void this.stop({ status: 'failed', error: msg });
    }, res.opts.runTimeoutS * 1000);
    if (worker instanceof Error) {
      this.worker = null;
      res.log.error({ err: worker, runId: run.id }, 'could not prepare the run process');
      this.inTurn(() => this.end({ status: 'failed', error: `the run process could not be prepared: ${worker.message}` }));
      return;
    }
    this.worker = worker;
    worker.start(
      {
        runId: run.id,
        model: bot.model,
        prompt: bot.prompt,
        input: run.input ?? '',
        docsPath: worker.docsPath,
        tools: this.tools,
        maxSteps: bot.maxSteps,
        providers: providerSettingsFor(res.opts.providers, secrets),
        secrets,
      },
      {
        output: (stream, line) => this.inTurn(() => this.log(stream, line)),
        message: (msg) => this.inTurn(() => this.onMessage(msg)),
        spawnFailed: (err) => this.inTurn(() => this.end({ status: 'failed', error: `the run process could not start: ${err.message}` })),
        closed: (code, signal) => this.inTurn(() => this.end({ status: 'failed', error: `the run process exited unexpectedly (code ${code}, signal ${signal})` })),
      },
    );
  }

  /** The pid of the attempt's run process, while it has one. */
  get pid(): number | undefined {
    return this.worker?.pid;
  }

  /** Appends a log line of this run, the bot's secret values redacted (nothing once the attempt ended). */
  log(stream: string, text: string): void {
    if (this.ended) return;
    this.res.logs.append(this.runId, this.botId, stream, this.clean(text)).catch((err: unknown) => this.res.log.error({ err, runId: this.runId }, 'could not store a log line'));
  }

  /** Queues `fn` behind the messages being handled, so a `done` is handled after the results before it. */
  private inTurn(fn: () => Promise<void> | void): void {
    this.inbox = this.inbox.then(fn).catch((err: unknown) => this.res.log.error({ err, runId: this.runId }, 'could not handle a message of the run process'));
  }

  /** `value` (a string, or every string in an object) with the bot's secret values replaced by `[redacted NAME]`. */
  private clean<T>(value: T): T {
    return redactSecrets(value, this.secretRules);
  }

  /** The dispatcher claimed the run (`row`, now `running`): what the child sends is handled from now on. */
  claimed(row: RunRow): void {
    this.run = row;
    this.settleClaim(true);
  }

  /** Leaves the worker without an outcome: the run was not ours to start after all. */
  abandon(): void {
    this.settleClaim(false);
    clearTimeout(this.timer);
    this.codeAbort.abort();
    this.ending = true;
    this.ended = true;
    void this.leave(false);
  }

  /**
   * Ends the attempt with `outcome` and stops its work on the worker; resolves once that is sure:
   * a worker serving no other run is killed (and awaited), else it is told to abort this run.
   */
  async stop(outcome: AttemptOutcome): Promise<void> {
    // End first, so the worker's exit is not reported as unexpected.
    await this.end(outcome);
  }

  private async end(outcome: AttemptOutcome): Promise<void> {
    if (this.ending) return;
    this.ending = true;
    clearTimeout(this.timer);
    this.codeAbort.abort();
    // An end before the claim settled (a cancel, a timeout) waits for it; an abandoned run was never ours.
    if (!(await this.ours)) return;
    try {
      await this.onEnd(this, outcome);
    } finally {
      this.ended = true;
    }
    await this.leave(outcome.status !== 'completed');
  }

  /** Leaves the worker; with `abort`, makes sure the run's work stops (see `stop`). */
  private leave(abort: boolean): Promise<void> {
    const w = this.worker;
    if (!w) return Promise.resolve();
    w.release(this.runId, abort && w.load > 1);
    const kill = abort && w.load === 0 && w.alive;
    this.onLeft(w, kill);
    return kill ? w.kill() : Promise.resolve();
  }

  /** Answers a request of this run's child; nothing once the attempt ended. */
  private reply(msg: ParentMessage): void {
    if (!this.ending) this.worker?.send(this.runId, msg);
  }

  private async onMessage(raw: ChildMessage): Promise<void> {
    if (this.ending) return;
    // Whatever the child sends may carry a secret the model or a tool echoed: nothing of it is
    // logged, recorded or handed on before the values are redacted.
    const msg = this.clean(raw);
    switch (msg.type) {
      case 'log':
        this.log(msg.stream, msg.text);
        return;
      case 'usage':
        this.tokensIn += msg.tokensIn;
        this.tokensOut += msg.tokensOut;
        return;
      case 'tool':
        this.toolCalls++;
        this.log('tool', `🔧 ${msg.tool} ${msg.args} · ${msg.durationMs} ms · ${msg.ok ? 'ok' : `error: ${msg.error ?? 'failed'}`}`);
        return;
      case 'result': {
        if (this.run.requiresApproval) {
          // Held with the draft; the model hears whether the item would be new to the bot.
          const isNew = !(await this.res.results.isKnown(this.botId, msg.item));
          if (!this.held.some((h) => resultKey(h) === resultKey(msg.item))) this.held.push(msg.item);
          this.reply({ type: 'result.recorded', requestId: msg.requestId, resultId: 0, isNew });
          return;
        }
        let recorded: Awaited<ReturnType<RunEngineResources['results']['record']>>;
        try {
          recorded = await this.res.results.record(this.botId, this.runId, msg.item);
        } catch (err) {
          this.res.log.error({ err, runId: this.runId }, 'could not record a result');
          this.reply({ type: 'request.failed', requestId: msg.requestId, error: 'the result could not be stored' });
          return;
        }
        const { result, isNew } = recorded;
        if (!this.found.has(result.id)) {
          this.found.add(result.id);
          if (isNew) this.newFound++;
        }
        this.reply({ type: 'result.recorded', requestId: msg.requestId, resultId: result.id, isNew });
        return;
      }
      case 'code': {
        if (!this.tools.includes('code')) {
          this.reply({ type: 'request.failed', requestId: msg.requestId, error: 'this bot has no code tool' });
          return;
        }
        this.res.opts.codeSandbox.run(msg.source, this.worker!.docsPath, { signal: this.codeAbort.signal }).then(
          (outcome) => this.reply({ type: 'code.finished', requestId: msg.requestId, outcome }),
          (err: Error) => this.reply({ type: 'request.failed', requestId: msg.requestId, error: err.message }),
        );
        return;
      }
      case 'submit': {
        let message: string;
        try {
          if (!this.res.submissions) throw new Error('this server takes no swarm submissions');
          message = await this.res.submissions.accept(this.runId, msg.kind, msg.data);
        } catch (err) {
          this.reply({ type: 'request.failed', requestId: msg.requestId, error: err instanceof Error ? err.message : String(err) });
          return;
        }
        this.reply({ type: 'submit.accepted', requestId: msg.requestId, message });
        return;
      }
      case 'done':
        await this.end({ status: 'completed', output: msg.output });
        return;
      case 'fail':
        this.log('stderr', msg.error);
        await this.end({ status: 'failed', error: msg.error });
        return;
      default:
        this.res.log.warn({ msg }, 'unknown message from run process');
    }
  }
}
