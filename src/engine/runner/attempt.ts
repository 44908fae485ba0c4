import fs from 'node:fs';
import type { BotRow, RunRow } from '../db/schema.ts';
import { resultKey, type ResultInput } from '../results.ts';
import { runSandboxedCode } from '../tools/sandbox.ts';
import { ChildSession } from './child-session.ts';
import type { ChildMessage } from './protocol.ts';
import type { RunEngineResources } from './resources.ts';

/** How an attempt ended, as the finalizer receives it. */
export interface AttemptOutcome {
  status: 'completed' | 'failed' | 'cancelled' | 'interrupted';
  output?: string;
  error?: string;
}

/**
 * One attempt of a run that holds a slot: its child session, its timeout and what it counted so far
 * (tokens, tool calls, results). It turns the child's messages into log lines, results and replies,
 * and hands its outcome, exactly once, to `onEnd`.
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
  /** Set once the outcome was handed over; later messages are ignored. */
  ended = false;
  /**
   * Items reported while the run requires approval: they are recorded only once it is approved
   * (kept with its draft), so a rejected draft leaves no results behind.
   */
  readonly held: ResultInput[] = [];
  /** Seconds a draft of this bot may wait for a decision. */
  readonly approvalTimeoutS: number;
  private session: ChildSession | null = null;
  private readonly timer: NodeJS.Timeout;
  /** Aborted when the attempt ends: stops its run_code processes. */
  private readonly codeAbort = new AbortController();
  private readonly tools: string[];
  private docsPath = '';

  /**
   * Starts the attempt's child for `run` (already `running`) of `bot`. A child that cannot even be
   * prepared ends the attempt `failed` at once.
   */
  constructor(
    private readonly res: RunEngineResources,
    /** The run row; the dispatcher replaces it with the row it claimed (`running`). */
    public run: RunRow,
    bot: BotRow,
    private readonly onEnd: (attempt: RunAttempt, outcome: AttemptOutcome) => void,
  ) {
    this.runId = run.id;
    this.botId = bot.id;
    this.model = bot.model;
    this.tools = bot.tools;
    this.approvalTimeoutS = bot.approvalTimeoutS;
    // Tokens are counted over all attempts: a failed attempt cost what it cost.
    this.tokensIn = run.tokensIn ?? 0;
    this.tokensOut = run.tokensOut ?? 0;
    this.timer = setTimeout(() => {
      const msg = `timed out after ${res.opts.runTimeoutS} s`;
      this.log('system', msg);
      void this.stop({ status: 'failed', error: msg });
    }, res.opts.runTimeoutS * 1000);
    try {
      fs.mkdirSync(bot.docsPath, { recursive: true });
      this.docsPath = fs.realpathSync(bot.docsPath);
      this.session = new ChildSession(
        this.docsPath,
        { runId: run.id, model: bot.model, prompt: bot.prompt, input: run.input ?? '', docsPath: this.docsPath, tools: bot.tools, maxSteps: bot.maxSteps, providers: res.opts.providers },
        {
          output: (stream, line) => this.log(stream, line),
          message: (msg) => this.onMessage(msg),
          spawnFailed: (err) => this.end({ status: 'failed', error: `the run process could not start: ${err.message}` }),
          closed: (code, signal) => this.end({ status: 'failed', error: `the run process exited unexpectedly (code ${code}, signal ${signal})` }),
        },
        (err, what) => res.log.error({ err, runId: run.id }, `run bookkeeping failed (${what})`),
      );
    } catch (err) {
      res.log.error({ err, runId: run.id }, 'could not prepare the run process');
      queueMicrotask(() => this.end({ status: 'failed', error: `the run process could not be prepared: ${err instanceof Error ? err.message : String(err)}` }));
    }
  }

  /** The child's pid, while it has one. */
  get pid(): number | undefined {
    return this.session?.pid;
  }

  /** Appends a log line of this run (nothing once the attempt ended). */
  log(stream: string, text: string): void {
    if (!this.ended) this.res.logs.append(this.runId, this.botId, stream, text);
  }

  /** Kills the child without an outcome: the run was not ours to start after all. */
  abandon(): void {
    clearTimeout(this.timer);
    this.codeAbort.abort();
    this.ended = true;
    void this.session?.kill();
  }

  /** Kills the child and ends the attempt with `outcome`; resolves once the child exited (bounded). */
  async stop(outcome: AttemptOutcome): Promise<void> {
    // End first, so the child's exit is not reported as unexpected.
    this.end(outcome);
    await this.session?.kill();
  }

  private end(outcome: AttemptOutcome): void {
    if (this.ended) return;
    clearTimeout(this.timer);
    this.codeAbort.abort();
    this.onEnd(this, outcome);
    this.ended = true;
    if (this.session?.alive && outcome.status !== 'completed') void this.session.kill();
  }

  private onMessage(msg: ChildMessage): void {
    if (this.ended) return;
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
          const isNew = !this.res.results.isKnown(this.botId, msg.item);
          if (!this.held.some((h) => resultKey(h) === resultKey(msg.item))) this.held.push(msg.item);
          this.session?.send({ type: 'result.recorded', requestId: msg.requestId, resultId: 0, isNew });
          return;
        }
        let recorded: ReturnType<RunEngineResources['results']['record']>;
        try {
          recorded = this.res.results.record(this.botId, this.runId, msg.item);
        } catch (err) {
          this.res.log.error({ err, runId: this.runId }, 'could not record a result');
          this.session?.send({ type: 'request.failed', requestId: msg.requestId, error: 'the result could not be stored' });
          return;
        }
        const { result, isNew } = recorded;
        if (!this.found.has(result.id)) {
          this.found.add(result.id);
          if (isNew) this.newFound++;
        }
        this.session?.send({ type: 'result.recorded', requestId: msg.requestId, resultId: result.id, isNew });
        return;
      }
      case 'code': {
        if (!this.tools.includes('code')) {
          this.session?.send({ type: 'request.failed', requestId: msg.requestId, error: 'this bot has no code tool' });
          return;
        }
        runSandboxedCode(msg.source, this.docsPath, { signal: this.codeAbort.signal }).then(
          (outcome) => !this.ended && this.session?.send({ type: 'code.finished', requestId: msg.requestId, outcome }),
          (err: Error) => !this.ended && this.session?.send({ type: 'request.failed', requestId: msg.requestId, error: err.message }),
        );
        return;
      }
      case 'done':
        this.end({ status: 'completed', output: msg.output });
        return;
      case 'fail':
        this.log('stderr', msg.error);
        this.end({ status: 'failed', error: msg.error });
        return;
      default:
        this.res.log.warn({ msg }, 'unknown message from run process');
    }
  }
}
