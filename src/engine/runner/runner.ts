import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import readline from 'node:readline';
import { and, asc, desc, eq, gt, inArray, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { ActivityLog } from '../activity.ts';
import type { Db } from '../db/database.ts';
import { bots, runLogs, runs, type BotRow, type RunLogRow, type RunRow } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import type { EventBus } from '../event-bus.ts';
import { costUsd } from '../pricing.ts';
import type { ProviderSettings } from '../providers/index.ts';
import type { ResultService } from '../results.ts';
import { isFinalRunStatus, type FinalRunStatus } from '../run-status.ts';
import { runChildLaunch, type CodeSandbox } from '../tools/sandbox.ts';
import type { ChildMessage, ParentMessage } from './protocol.ts';

/** Longest log line kept, in characters; longer lines are cut and marked. */
const MAX_LOG_LINE = 4000;
/** How long a killed child may take to exit before we stop waiting, in ms. */
const KILL_WAIT_MS = 5000;

/** How a run came to be and where it sits in a chain or pipeline. */
export interface RunRequest {
  input?: string | null;
  /** manual | schedule | trigger:<bot> | pipeline:<id> | telegram:<user> | discord:<user> */
  trigger: string;
  chainDepth?: number;
  parentRunId?: number | null;
  pipelineRunId?: number | null;
  pipelineStep?: number | null;
}

export interface RunnerOptions {
  maxConcurrentRuns: number;
  runTimeoutS: number;
  providers: ProviderSettings;
  /** Where `run_code` programs run (bubblewrap); it refuses them, with a reason, where it cannot confine them. */
  codeSandbox: CodeSandbox;
}

interface ActiveRun {
  runId: number;
  botId: number;
  child: ChildProcess;
  startedAt: number;
  seq: number;
  timer: NodeJS.Timeout;
  exited: Promise<void>;
  finished: boolean;
  /** `provider:model`, for the cost. */
  model: string;
  /** The bot's tool families when the run started. */
  tools: string[];
  /** The bot's docs folder (real path). */
  docsPath: string;
  /** Tokens summed over the model rounds so far (`usage` messages). */
  tokensIn: number;
  tokensOut: number;
  /** Ids of the results this run reported (each once), and how many of them were new. */
  found: Set<number>;
  newFound: number;
  /** Tool calls made so far. */
  toolCalls: number;
  /** Aborted when the run ends: stops its run_code processes. */
  codeAbort: AbortController;
}

/**
 * Runs bots: one row per run (queued → running → completed | failed | cancelled), one child
 * process per running run, at most `maxConcurrentRuns` at once, the rest waiting in order.
 * Log lines arrive from the child over IPC and are appended as rows and published as `run.log`.
 */
export class Runner {
  private readonly queue: number[] = [];
  private readonly active = new Map<number, ActiveRun>();
  private closed = false;

  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly activity: ActivityLog,
    private readonly results: ResultService,
    private readonly log: Logger,
    private readonly opts: RunnerOptions,
  ) {}

  /**
   * Marks runs left queued or running by a crash as `interrupted`. Call once at start, before any
   * run is queued.
   * @returns how many runs were interrupted.
   */
  recover(): number {
    const now = Date.now();
    const stale = this.db
      .update(runs)
      .set({ status: 'interrupted', finishedAt: now, error: 'the process stopped while this run was active' })
      .where(inArray(runs.status, ['queued', 'running']))
      .returning({ id: runs.id, botId: runs.botId })
      .all();
    for (const r of stale) {
      this.activity.record({ botId: r.botId, runId: r.id, kind: 'run.interrupted', message: `Run #${r.id} was interrupted by a restart`, level: 'warn' });
    }
    return stale.length;
  }

  /** Queues a run of `bot`; it starts as soon as a slot is free. */
  enqueue(bot: BotRow, req: RunRequest): RunRow {
    if (this.closed) throw new AppError('INTERNAL', 'The runner is shutting down.');
    const row = this.db
      .insert(runs)
      .values({
        botId: bot.id,
        trigger: req.trigger,
        status: 'queued',
        input: req.input ?? null,
        createdAt: Date.now(),
        chainDepth: req.chainDepth ?? 0,
        parentRunId: req.parentRunId ?? null,
        pipelineRunId: req.pipelineRunId ?? null,
        pipelineStep: req.pipelineStep ?? null,
      })
      .returning()
      .get();
    this.queue.push(row.id);
    this.bus.emit('run.queued', { runId: row.id, botId: bot.id, trigger: req.trigger });
    this.pump();
    return row;
  }

  /** @throws {AppError} RUN_NOT_FOUND */
  get(runId: number): RunRow {
    const row = Number.isSafeInteger(runId) ? this.db.select().from(runs).where(eq(runs.id, runId)).get() : undefined;
    if (!row) throw new AppError('RUN_NOT_FOUND', `No run with id ${runId}.`);
    return row;
  }

  /** A bot's runs, newest first (at most `limit`, 1..500). */
  listForBot(botId: number, limit = 50): RunRow[] {
    return this.db.select().from(runs).where(eq(runs.botId, botId)).orderBy(desc(runs.id)).limit(Math.min(Math.max(limit, 1), 500)).all();
  }

  /** The bot's queued or running runs, oldest first. */
  activeForBot(botId: number): RunRow[] {
    return this.db
      .select()
      .from(runs)
      .where(and(eq(runs.botId, botId), inArray(runs.status, ['queued', 'running'])))
      .orderBy(asc(runs.id))
      .all();
  }

  /** Log lines of a run with `seq > afterSeq`, in order, at most `limit`. */
  logs(runId: number, afterSeq = 0, limit = 1000): RunLogRow[] {
    return this.db
      .select()
      .from(runLogs)
      .where(and(eq(runLogs.runId, runId), gt(runLogs.seq, afterSeq)))
      .orderBy(asc(runLogs.seq))
      .limit(limit)
      .all();
  }

  /** The pid of a running run's child process, if it has one. */
  pidOf(runId: number): number | undefined {
    return this.active.get(runId)?.child.pid;
  }

  /**
   * Cancels a queued or running run. A running run's child is killed; the promise settles once it
   * has exited and the run is `cancelled`.
   * @throws {AppError} RUN_NOT_FOUND, RUN_NOT_ACTIVE (the run already ended)
   */
  async cancel(runId: number, reason = 'cancelled'): Promise<RunRow> {
    const run = this.get(runId);
    if (isFinalRunStatus(run.status)) throw new AppError('RUN_NOT_ACTIVE', `Run #${runId} already ended (${run.status}).`);
    const qi = this.queue.indexOf(runId);
    if (qi >= 0) {
      this.queue.splice(qi, 1);
      this.finishQueued(run, 'cancelled', reason);
      return this.get(runId);
    }
    const a = this.active.get(runId);
    if (a) {
      this.appendLog(a, 'system', `cancel requested: ${reason}`);
      await this.stop(a, 'cancelled', { error: reason });
    }
    return this.get(runId);
  }

  /** Cancels every active or queued run of a bot (before it is deleted or paused hard). */
  async cancelAllForBot(botId: number, reason: string): Promise<void> {
    for (const r of this.activeForBot(botId)) {
      await this.cancel(r.id, reason).catch(() => {});
    }
  }

  /** Kills every child and marks active and queued runs `interrupted`; no new runs start. */
  async close(): Promise<void> {
    this.closed = true;
    for (const id of this.queue.splice(0)) {
      const run = this.db.select().from(runs).where(eq(runs.id, id)).get();
      if (run) this.finishQueued(run, 'interrupted', 'the process stopped before this run started');
    }
    await Promise.all([...this.active.values()].map((a) => this.stop(a, 'interrupted', { error: 'the process stopped while this run was active' })));
  }

  private pump(): void {
    while (!this.closed && this.active.size < this.opts.maxConcurrentRuns && this.queue.length > 0) {
      const runId = this.queue.shift()!;
      try {
        this.launch(runId);
      } catch (err) {
        this.log.error({ err, runId }, 'could not start run');
      }
    }
  }

  private launch(runId: number): void {
    const run = this.db.select().from(runs).where(eq(runs.id, runId)).get();
    if (!run || run.status !== 'queued') return;
    const bot = this.db.select().from(bots).where(eq(bots.id, run.botId)).get();
    if (!bot) return;
    // Confined by Node's permission model to its docs folder; an empty environment keeps the
    // server's secrets out (provider keys come in the start message). See tools/sandbox.ts.
    let docsPath: string;
    let launch: ReturnType<typeof runChildLaunch>;
    try {
      fs.mkdirSync(bot.docsPath, { recursive: true });
      docsPath = fs.realpathSync(bot.docsPath);
      launch = runChildLaunch(docsPath);
    } catch (err) {
      this.log.error({ err, runId }, 'could not prepare the run process');
      this.finishQueued(run, 'failed', `the run process could not be prepared: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    const startedAt = Date.now();
    this.db.update(runs).set({ status: 'running', startedAt }).where(eq(runs.id, runId)).run();
    const child = fork(launch.modulePath, [], {
      execArgv: launch.execArgv,
      cwd: docsPath,
      env: {},
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // Handlers of child events must never throw: there is nobody to catch it but the process.
    const guard = (what: string, fn: () => void) => {
      try {
        fn();
      } catch (err) {
        this.log.error({ err, runId }, `run bookkeeping failed (${what})`);
      }
    };
    const a: ActiveRun = {
      runId,
      botId: bot.id,
      child,
      startedAt,
      seq: 0,
      finished: false,
      exited,
      model: bot.model,
      tools: bot.tools,
      docsPath,
      tokensIn: 0,
      tokensOut: 0,
      found: new Set(),
      newFound: 0,
      toolCalls: 0,
      codeAbort: new AbortController(),
      timer: setTimeout(() => {
        const msg = `timed out after ${this.opts.runTimeoutS} s`;
        guard('timeout', () => this.appendLog(a, 'system', msg));
        this.stop(a, 'failed', { error: msg }).catch((err) => this.log.error({ err, runId }, 'could not stop a timed-out run'));
      }, this.opts.runTimeoutS * 1000),
    };
    this.active.set(runId, a);
    for (const [stream, name] of [[child.stdout, 'stdout'], [child.stderr, 'stderr']] as const) {
      if (stream) readline.createInterface({ input: stream }).on('line', (l) => guard('output', () => this.appendLog(a, name, l)));
    }
    child.on('message', (msg: ChildMessage) => guard('message', () => this.onMessage(a, msg)));
    child.on('error', (err) => {
      this.log.warn({ err, runId }, 'run process error');
      if (!a.finished && child.pid === undefined) guard('error', () => this.finish(a, 'failed', { error: `the run process could not start: ${err.message}` }));
    });
    // 'close', not 'exit': a child's last IPC messages (its `done`) may arrive after 'exit', but
    // never after 'close', which waits for the IPC channel and stdio to drain.
    child.once('close', (code, signal) => {
      if (!a.finished) guard('close', () => this.finish(a, 'failed', { error: `the run process exited unexpectedly (code ${code}, signal ${signal})` }));
    });
    const start: ParentMessage = {
      type: 'start',
      job: { runId, model: bot.model, prompt: bot.prompt, input: run.input ?? '', docsPath, tools: bot.tools, maxSteps: bot.maxSteps, providers: this.opts.providers },
    };
    child.send(start);
    this.bus.emit('run.started', { runId, botId: bot.id, pid: child.pid ?? -1 });
    this.appendLog(a, 'system', `run #${runId} started (${run.trigger})`);
  }

  private onMessage(a: ActiveRun, msg: ChildMessage): void {
    if (a.finished) return;
    switch (msg.type) {
      case 'log':
        this.appendLog(a, msg.stream, msg.text);
        return;
      case 'usage':
        a.tokensIn += msg.tokensIn;
        a.tokensOut += msg.tokensOut;
        return;
      case 'tool':
        a.toolCalls++;
        this.appendLog(a, 'tool', `🔧 ${msg.tool} ${msg.args} · ${msg.durationMs} ms · ${msg.ok ? 'ok' : `error: ${msg.error ?? 'failed'}`}`);
        return;
      case 'result': {
        let recorded: ReturnType<ResultService['record']>;
        try {
          recorded = this.results.record(a.botId, a.runId, msg.item);
        } catch (err) {
          this.log.error({ err, runId: a.runId }, 'could not record a result');
          this.reply(a, { type: 'request.failed', requestId: msg.requestId, error: 'the result could not be stored' });
          return;
        }
        const { result, isNew } = recorded;
        if (!a.found.has(result.id)) {
          a.found.add(result.id);
          if (isNew) a.newFound++;
        }
        this.reply(a, { type: 'result.recorded', requestId: msg.requestId, resultId: result.id, isNew });
        return;
      }
      case 'code': {
        if (!a.tools.includes('code')) {
          this.reply(a, { type: 'request.failed', requestId: msg.requestId, error: 'this bot has no code tool' });
          return;
        }
        this.opts.codeSandbox.run(msg.source, a.docsPath, { signal: a.codeAbort.signal }).then(
          (outcome) => this.reply(a, { type: 'code.finished', requestId: msg.requestId, outcome }),
          (err: Error) => this.reply(a, { type: 'request.failed', requestId: msg.requestId, error: err.message }),
        );
        return;
      }
      case 'done':
        this.finish(a, 'completed', { output: msg.output });
        return;
      case 'fail':
        this.appendLog(a, 'stderr', msg.error);
        this.finish(a, 'failed', { error: msg.error });
        return;
      default:
        this.log.warn({ msg }, 'unknown message from run process');
    }
  }

  /** Answers a child's request; a child that has gone away is no error. */
  private reply(a: ActiveRun, msg: ParentMessage): void {
    if (!a.finished && a.child.connected) a.child.send(msg, (err) => err && this.log.debug({ err, runId: a.runId }, 'reply to a gone child'));
  }

  private appendLog(a: ActiveRun, stream: string, text: string): void {
    if (a.finished) return;
    // A lone CR is a line break to SSE and terminals alike; store plain LF.
    const plain = text.replace(/\r\n?/g, '\n');
    const line = plain.length > MAX_LOG_LINE ? plain.slice(0, MAX_LOG_LINE) + ' …[cut]' : plain;
    const seq = ++a.seq;
    const ts = Date.now();
    this.db.insert(runLogs).values({ runId: a.runId, seq, ts, stream, text: line }).run();
    this.bus.emit('run.log', { runId: a.runId, botId: a.botId, seq, ts, stream, text: line });
  }

  /** Kills the child, waits for it to exit (bounded), then finishes the run. */
  private async stop(a: ActiveRun, status: FinalRunStatus, fields: { error?: string }): Promise<void> {
    if (a.finished) return a.exited;
    if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill('SIGKILL');
    // Mark first so the exit handler does not report an unexpected exit.
    this.finish(a, status, fields);
    await Promise.race([a.exited, new Promise((r) => setTimeout(r, KILL_WAIT_MS).unref())]);
  }

  private finish(
    a: ActiveRun,
    status: FinalRunStatus,
    fields: { output?: string; error?: string },
  ): void {
    if (a.finished) return;
    let newResults = a.newFound;
    if (a.found.size > 0) {
      this.appendLog(a, 'system', `${a.found.size} result${a.found.size === 1 ? '' : 's'} found, ${a.newFound} new`);
    } else if (status === 'completed' && a.toolCalls === 0 && fields.output && fields.output.trim()) {
      // A run that used no tool is a plain answer: the answer is its one result. A run that worked
      // with tools reports through report_result; its closing summary is not a finding.
      const { isNew } = this.results.record(a.botId, a.runId, outputAsResult(fields.output));
      newResults = isNew ? 1 : 0;
      this.appendLog(a, 'system', `1 result found, ${newResults} new`);
    }
    const cost = costUsd(a.model, a.tokensIn, a.tokensOut);
    if (a.tokensIn + a.tokensOut > 0) {
      this.appendLog(a, 'system', `tokens ${a.tokensIn} in, ${a.tokensOut} out · cost ${cost === null ? `unknown (no price for ${a.model})` : cost === 0 ? '$0' : `$${cost.toFixed(4)}`}`);
    }
    if (status === 'completed') this.appendLog(a, 'system', 'completed');
    a.finished = true;
    clearTimeout(a.timer);
    a.codeAbort.abort();
    this.active.delete(a.runId);
    const finishedAt = Date.now();
    const changed = this.db
      .update(runs)
      .set({
        status,
        output: fields.output ?? null,
        error: fields.error ?? null,
        finishedAt,
        durationMs: finishedAt - a.startedAt,
        tokensIn: a.tokensIn,
        tokensOut: a.tokensOut,
        costUsd: cost,
      })
      // A final status never changes again (run-status.ts), whoever set it.
      .where(and(eq(runs.id, a.runId), inArray(runs.status, ['queued', 'running'])))
      .run().changes;
    if (a.child.exitCode === null && a.child.signalCode === null && status !== 'completed') a.child.kill('SIGKILL');
    if (changed === 1) this.announce(a.runId, a.botId, status, fields.output ?? null, fields.error ?? null, newResults);
    else this.log.warn({ runId: a.runId, status }, 'run had already ended elsewhere; outcome not recorded');
    this.pump();
  }

  private finishQueued(run: RunRow, status: FinalRunStatus, reason: string): void {
    const changed = this.db
      .update(runs)
      .set({ status, error: reason, finishedAt: Date.now() })
      .where(and(eq(runs.id, run.id), inArray(runs.status, ['queued', 'running'])))
      .run().changes;
    if (changed === 1) this.announce(run.id, run.botId, status, null, reason, 0);
  }

  private announce(runId: number, botId: number, status: FinalRunStatus, output: string | null, error: string | null, newResults: number): void {
    const bot = this.db.select({ name: bots.name, emoji: bots.emoji }).from(bots).where(eq(bots.id, botId)).get();
    const who = bot ? `${bot.emoji} ${bot.name}` : `bot #${botId}`;
    const level = status === 'completed' ? 'success' : status === 'failed' ? 'error' : 'warn';
    const detail = status === 'completed' ? firstLine(output ?? '') : (error ?? status);
    this.activity.record({ botId, runId, kind: `run.${status}`, message: `${who}: run #${runId} ${status}${detail ? ` — ${detail}` : ''}`, level });
    this.bus.emit('run.finished', { runId, botId, status, output, error, newResults });
  }

  /** Number of runs waiting for a slot. */
  get queuedCount(): number {
    return this.queue.length;
  }

  /** Number of runs with a live child process. */
  get runningCount(): number {
    return this.active.size;
  }

  /** Counts of a bot's runs by final status, for its success rate. */
  statusCounts(botId: number): Record<string, number> {
    const rows = this.db
      .select({ status: runs.status, n: sql<number>`count(*)` })
      .from(runs)
      .where(eq(runs.botId, botId))
      .groupBy(runs.status)
      .all();
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }
}

function firstLine(s: string): string {
  const line = s.split('\n').find((l) => l.trim()) ?? '';
  return line.length > 120 ? line.slice(0, 119) + '…' : line.trim();
}

/** The run's output as a result: its first line as the title, the whole output as content. */
function outputAsResult(output: string): { title: string; content: string } {
  return { title: firstLine(output) || 'Output', content: output };
}
