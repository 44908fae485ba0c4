import { setTimeout as sleep } from 'node:timers/promises';
import { and, asc, count, desc, eq, inArray, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Db } from '../db/database.ts';
import { bots, runs, type BotRow, type RunLogRow, type RunRow } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import type { EventBus } from '../event-bus.ts';
import type { ResultService } from '../results.ts';
import { ACTIVE_RUN_STATUSES, isFinalRunStatus } from '../run-status.ts';
import { RunAttempt, type AttemptOutcome } from './attempt.ts';
import { finishAttempt } from './finalizer.ts';
import { RunLogStore } from './log-store.ts';
import { ClusterRunQueue, RunsTableQueue, type RunQueue } from './queue.ts';
import type { RunSubmissions } from './protocol.ts';
import type { RunEngineResources, RunnerOptions, RunSecrets } from './resources.ts';
import { prepareRunChildModule } from '../tools/sandbox.ts';
import { announceRun, transitionRun } from './transition.ts';
import { WorkerPool } from './worker-pool.ts';

export type { RunnerOptions } from './resources.ts';

/** How a run came to be and where it sits in a chain or pipeline. */
export interface RunRequest {
  input?: string | null;
  /** manual | schedule | trigger:<bot> | pipeline:<id> | task:<id> | telegram:<user> | discord:<user> */
  trigger: string;
  chainDepth?: number;
  parentRunId?: number | null;
  pipelineRunId?: number | null;
  pipelineStep?: number | null;
  /** A completed attempt waits for a person (`awaiting_approval`); default: the bot's `requires_approval`. */
  requiresApproval?: boolean;
  /** The run this one retries (same bot, same input). */
  retryOf?: number | null;
  /** A scheduled run's occurrence (epoch ms of its second): at most one run per bot and occurrence (a unique key). */
  occurrence?: number | null;
}

/**
 * What the run engine needs of a cluster of processes on one Postgres (src/engine/cluster): this
 * process's id, and two messages to the others. Absent on SQLite (one process).
 */
export interface RunCluster {
  /** This process (`workers.id`): it reserves and runs runs under it. */
  workerId: string;
  /** Tells every process to look at the queue (a run was queued). */
  wake(): void;
  /** Asks every process to cancel `runId` if it runs it ({@link Runner.cancelHere}). */
  requestCancel(runId: number, reason: string): void;
}

/** How long a cancel of a run on another process waits for it to end (ms). */
const REMOTE_CANCEL_WAIT_MS = 10_000;

/** Why a survivor ends the attempt of a process that died. */
const PROCESS_DIED = 'the process running it stopped (its cluster lease ran out)';

/** Why the process stopping ends an attempt. */
const STOPPED = 'the process stopped while this run was active';

/**
 * The run engine's front: queues runs in the durable {@link RunQueue}, gives each due run a slot
 * (at most `maxConcurrentRuns` attempts at once, on at most `maxRunProcesses` run processes: one
 * per bot, reused while warm, see worker-pool.ts), ends attempts
 * through the finalizer (retry or final status), and answers queries. Every status change goes
 * through `transitionRun`; the world hears of it on the bus, after the fact.
 */
export class Runner {
  private readonly res: RunEngineResources;
  private readonly active = new Map<number, RunAttempt>();
  private readonly pool: WorkerPool;
  private dispatching = false;
  private closed = false;
  /** A pump under way, and whether another was asked for meanwhile (it runs right after). */
  private pumping: Promise<void> | null = null;
  private pumpAgain = false;
  private wakeTimer: NodeJS.Timeout | null = null;

  private readonly cluster: RunCluster | null;

  /**
   * @param deps.secrets where each run's bot's secrets are read (none: runs get no secrets).
   * @param deps.cluster the cluster this process is part of (Postgres); none: this process is alone.
   */
  constructor(db: Db, bus: EventBus, results: ResultService, log: Logger, opts: RunnerOptions, deps: { queue?: RunQueue; now?: () => number; secrets?: RunSecrets; cluster?: RunCluster } = {}) {
    const now = deps.now ?? Date.now;
    this.cluster = deps.cluster ?? null;
    const queue = deps.queue ?? (this.cluster ? new ClusterRunQueue(db, this.cluster.workerId) : new RunsTableQueue(db));
    this.res = { db, bus, log, results, opts, now, queue, logs: new RunLogStore(db, bus, now), submissions: null, secrets: deps.secrets ?? null, workerId: this.cluster?.workerId ?? null };
    this.pool = new WorkerPool({ maxProcesses: opts.maxRunProcesses, idleMs: opts.workerIdleMs }, log);
  }

  /** Installs what takes the plans and verdicts runs hand in (the swarm); null removes it. */
  useSubmissions(s: RunSubmissions | null): void {
    this.res.submissions = s;
  }

  /**
   * Recovers from the last process, then starts giving queued runs their slots. Runs whose child
   * was running when the process died are tried again when attempts are left, else `interrupted`;
   * queued runs stay queued and start in their order. Call once.
   * @returns how many runs were interrupted and how many were queued again.
   */
  async start(): Promise<{ interrupted: number; retried: number }> {
    // In a cluster the other processes' runs are running for real: a survivor's sweep takes over
    // those of a process that died (takeOver), this one's included.
    const out = this.cluster ? { interrupted: 0, retried: 0 } : await this.recover(await this.res.db.select().from(runs).where(eq(runs.status, 'running')).orderBy(asc(runs.id)), STOPPED);
    // The run bundle is built off the event loop now, not by the first run (a ~1–2 s stall).
    prepareRunChildModule().catch((err) => this.res.log.warn({ err }, 'could not build the run bundle ahead; the first run will'));
    this.dispatching = true;
    this.pump();
    return out;
  }

  /**
   * Takes over the running runs of a process of the cluster that died (their ids): each is tried
   * again when attempts are left, else `interrupted`. Runs that moved on meanwhile are left alone.
   */
  async takeOver(deadWorkerId: string, runIds: readonly number[]): Promise<{ interrupted: number; retried: number }> {
    if (runIds.length === 0) return { interrupted: 0, retried: 0 };
    const rows = await this.res.db
      .select()
      .from(runs)
      .where(and(inArray(runs.id, [...runIds]), eq(runs.status, 'running'), eq(runs.workerId, deadWorkerId)))
      .orderBy(asc(runs.id));
    const out = await this.recover(rows, PROCESS_DIED);
    this.pump();
    return out;
  }

  /** Looks at the queue now (another process queued a run). */
  wake(): void {
    this.pump();
  }

  /** Cancels `runId` if this process runs it (a cancel sent to another process of the cluster); else nothing. */
  async cancelHere(runId: number, reason: string): Promise<void> {
    if (this.active.has(runId)) await this.cancel(runId, reason).catch((err: unknown) => this.res.log.warn({ err, runId }, 'could not cancel a run for another process'));
  }

  /** Runs whose attempt's process is gone: queued again when attempts are left, else interrupted. */
  private async recover(stale: readonly RunRow[], why: string): Promise<{ interrupted: number; retried: number }> {
    const out = { interrupted: 0, retried: 0 };
    for (const run of stale) {
      const now = this.res.now();
      // The attempt as it was read: two survivors taking over the same run change it once.
      const fence = { attempt: run.attempt, workerId: run.workerId };
      if (run.attempt < run.maxAttempts) {
        await this.res.logs.append(run.id, run.botId, 'system', `attempt ${run.attempt} of ${run.maxAttempts} interrupted: ${why} — attempt ${run.attempt + 1} now`);
        await this.res.logs.release(run.id);
        if (await transitionRun(this.res, run.id, ['running'], 'queued', { attempt: run.attempt + 1, availableAt: now, error: why }, {}, fence)) out.retried++;
      } else if (await transitionRun(this.res, run.id, ['running'], 'interrupted', { finishedAt: now, error: why }, { newResults: 0 }, fence)) {
        out.interrupted++;
      }
    }
    return out;
  }

  /**
   * Queues a run of `bot`; it starts as soon as it is due and a slot is free.
   * @throws {AppError} QUEUE_FULL (past `maxQueuedRuns`), SHUTTING_DOWN
   */
  async enqueue(bot: BotRow, req: RunRequest): Promise<RunRow> {
    if (this.closed) throw new AppError('SHUTTING_DOWN', 'The server is shutting down; try again when it is back.');
    if ((await this.res.queue.size()) >= this.res.opts.maxQueuedRuns) {
      throw new AppError('QUEUE_FULL', `${this.res.opts.maxQueuedRuns} runs are already waiting (MAX_QUEUED_RUNS); try again when some have finished.`);
    }
    const now = this.res.now();
    const [row] = await this.res.db
      .insert(runs)
      .values({
        botId: bot.id,
        trigger: req.trigger,
        status: 'queued',
        input: req.input ?? null,
        createdAt: now,
        availableAt: now,
        attempt: 1,
        maxAttempts: 1 + (bot.retries ?? 0),
        chainDepth: req.chainDepth ?? 0,
        parentRunId: req.parentRunId ?? null,
        pipelineRunId: req.pipelineRunId ?? null,
        pipelineStep: req.pipelineStep ?? null,
        requiresApproval: req.requiresApproval ?? bot.requiresApproval,
        retryOf: req.retryOf ?? null,
        occurrence: req.occurrence ?? null,
      })
      .returning();
    this.res.queue.push(row!.id, row!.availableAt);
    await announceRun(this.res, row!, {});
    this.pump();
    this.cluster?.wake();
    return row!;
  }

  /** @throws {AppError} RUN_NOT_FOUND */
  async get(runId: number): Promise<RunRow> {
    const [row] = Number.isSafeInteger(runId) ? await this.res.db.select().from(runs).where(eq(runs.id, runId)) : [];
    if (!row) throw new AppError('RUN_NOT_FOUND', `No run with id ${runId}.`);
    return row;
  }

  /** A bot's runs, newest first (at most `limit`, 1..500). */
  async listForBot(botId: number, limit = 50): Promise<RunRow[]> {
    return await this.res.db.select().from(runs).where(eq(runs.botId, botId)).orderBy(desc(runs.id)).limit(Math.min(Math.max(limit, 1), 500));
  }

  /** The bot's queued or running runs, oldest first. */
  async activeForBot(botId: number): Promise<RunRow[]> {
    return await this.res.db
      .select()
      .from(runs)
      .where(and(eq(runs.botId, botId), inArray(runs.status, ACTIVE_RUN_STATUSES)))
      .orderBy(asc(runs.id));
  }

  /** Log lines of a run with `seq > afterSeq`, in order, at most `limit`. */
  async logs(runId: number, afterSeq = 0, limit = 1000): Promise<RunLogRow[]> {
    return await this.res.logs.read(runId, afterSeq, limit);
  }

  /** The pid of a running run's child process, if it has one. */
  pidOf(runId: number): number | undefined {
    return this.active.get(runId)?.pid;
  }

  /** 1-based place of a queued run in the queue, or null when it is not queued. */
  async queuePosition(runId: number): Promise<number | null> {
    return await this.res.queue.position(runId);
  }

  /**
   * Cancels a queued, running or awaiting-approval run. A running run's child is killed; the
   * promise settles once it has exited and the run is `cancelled`. A cancelled run is never
   * retried; a cancelled draft is never approved.
   * @throws {AppError} RUN_NOT_FOUND, RUN_NOT_ACTIVE (the run already ended)
   */
  async cancel(runId: number, reason = 'cancelled'): Promise<RunRow> {
    const run = await this.get(runId);
    if (isFinalRunStatus(run.status)) throw new AppError('RUN_NOT_ACTIVE', `Run #${runId} already ended (${run.status}).`);
    const a = this.active.get(runId);
    if (a) {
      a.log('system', `cancel requested: ${reason}`);
      await a.stop({ status: 'cancelled', error: reason });
    } else if (this.cluster && run.status === 'running') {
      // Another process runs it: it hears the request, kills the child and ends the run.
      this.cluster.requestCancel(runId, reason);
      const deadline = this.res.now() + REMOTE_CANCEL_WAIT_MS;
      while (this.res.now() < deadline && !isFinalRunStatus((await this.get(runId)).status)) await sleep(50);
    } else if (await transitionRun(this.res, runId, ['queued', 'awaiting_approval'], 'cancelled', { error: reason, finishedAt: this.res.now() }, { newResults: 0 })) {
      this.res.queue.remove(runId);
    } else if ((this.active.has(runId) || this.cluster) && (await this.get(runId)).status === 'running') {
      // It was claimed between our read and our update (here or by another process): cancel it as running.
      return await this.cancel(runId, reason);
    }
    return await this.get(runId);
  }

  /** Cancels every queued, running or awaiting-approval run of a bot (before it is deleted). */
  async cancelAllForBot(botId: number, reason: string): Promise<void> {
    const waiting = await this.res.db.select().from(runs).where(and(eq(runs.botId, botId), eq(runs.status, 'awaiting_approval')));
    for (const r of [...(await this.activeForBot(botId)), ...waiting]) {
      await this.cancel(r.id, reason).catch(() => {});
    }
  }

  /**
   * Stops giving out slots and ends every running attempt as interrupted (queued again when it has
   * attempts left); queued runs stay queued for the next start.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.dispatching = false;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    // A pump under way claims no run after this (it checks `closed`); its claims so far are active.
    await this.pumping;
    await Promise.all([...this.active.values()].map((a) => a.stop({ status: 'interrupted', error: STOPPED })));
    await this.pool.close();
  }

  /** Number of live run processes (each serves one bot's runs). */
  get processCount(): number {
    return this.pool.size;
  }

  /** Number of runs waiting in the queue (due or in a retry's backoff). */
  async queuedCount(): Promise<number> {
    return await this.res.queue.size();
  }

  /** Number of runs with a live child process. */
  get runningCount(): number {
    return this.active.size;
  }

  /** Counts of a bot's runs by status, for its success rate (`successRate` in run-status.ts). */
  async statusCounts(botId: number): Promise<Record<string, number>> {
    const rows = await this.res.db
      .select({ status: runs.status, n: count() })
      .from(runs)
      .where(eq(runs.botId, botId))
      .groupBy(runs.status);
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  /**
   * Gives free slots to due runs (see {@link pumpOnce}). Never two at once: a call while one is
   * under way makes it go once more when it is done, so no change between is missed.
   */
  private pump(): void {
    if (!this.dispatching || this.closed) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = (async () => {
      try {
        do {
          this.pumpAgain = false;
          await this.pumpOnce();
        } while (this.pumpAgain && this.dispatching && !this.closed);
      } catch (err) {
        this.res.log.error({ err }, 'could not give queued runs their slots');
      } finally {
        this.pumping = null;
      }
    })();
  }

  /** Gives free slots to due runs, in queue order; wakes itself when a retry's backoff ends. */
  private async pumpOnce(): Promise<void> {
    const now = this.res.now();
    const free = this.res.opts.maxConcurrentRuns - this.active.size;
    const due = await this.res.queue.due(free, now);
    let i = 0;
    try {
      for (; i < due.length; i++) {
        const runId = due[i]!;
        if (this.closed) return;
        try {
          // In order: when the head of the queue waits for a process, so does everything behind it.
          if ((await this.launch(runId)) === 'no-process') break;
        } catch (err) {
          this.res.log.error({ err, runId }, 'could not start run');
          await this.res.queue.release([runId]).catch(() => {});
        }
      }
    } finally {
      // What was handed out and not started goes back to the queue, for any process.
      await this.res.queue.release(due.slice(i));
    }
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = null;
    const next = await this.res.queue.nextDueAt(now);
    if (this.closed) return;
    if (next !== null && this.active.size < this.res.opts.maxConcurrentRuns) {
      this.wakeTimer = setTimeout(() => this.pump(), Math.max(0, next - now));
      this.wakeTimer.unref();
    }
  }

  /** Starts one due run on its bot's worker; `'no-process'` when every run process is busy. */
  private async launch(runId: number): Promise<'started' | 'skipped' | 'no-process'> {
    const [run] = await this.res.db.select().from(runs).where(eq(runs.id, runId));
    if (!run || run.status !== 'queued') return 'skipped';
    const [bot] = await this.res.db.select().from(bots).where(eq(bots.id, run.botId));
    if (!bot) return 'skipped';
    let extraTools: string[] = [];
    try {
      extraTools = (await this.res.submissions?.toolsFor(run)) ?? [];
    } catch (err) {
      this.res.log.error({ err, runId }, 'could not look up the tools the swarm adds to a run');
    }
    if (this.closed) return 'skipped';
    let worker: ReturnType<WorkerPool['acquire']> | Error;
    try {
      worker = this.pool.acquire(bot);
    } catch (err) {
      worker = err instanceof Error ? err : new Error(String(err));
    }
    if (worker === null) return 'no-process';
    const attempt = new RunAttempt(this.res, run, bot, worker, (a, outcome) => this.onAttemptEnd(a, outcome), extraTools);
    // Active from before the claim, so a cancel meanwhile stops this attempt (its end waits for the claim).
    this.active.set(runId, attempt);
    // The claim: whoever moves the run out of `queued` first owns it.
    const claimed = await transitionRun(
      this.res,
      runId,
      ['queued'],
      'running',
      { startedAt: sql`coalesce(${runs.startedAt}, ${this.res.now()})` as unknown as number, workerId: this.cluster?.workerId ?? null },
      { pid: attempt.pid ?? -1 },
    );
    if (!claimed) {
      if (this.active.get(runId) === attempt) this.active.delete(runId);
      attempt.abandon();
      return 'skipped';
    }
    attempt.claimed(claimed);
    const of = claimed.maxAttempts > 1 ? ` · attempt ${claimed.attempt} of ${claimed.maxAttempts}` : '';
    attempt.log('system', `run #${runId} started (${claimed.trigger})${of}`);
    return 'started';
  }

  private async onAttemptEnd(a: RunAttempt, outcome: AttemptOutcome): Promise<void> {
    this.active.delete(a.runId);
    try {
      await finishAttempt(this.res, a, outcome, { allowRetry: outcome.status !== 'cancelled' });
    } catch (err) {
      this.res.log.error({ err, runId: a.runId }, 'could not finish a run attempt');
    }
    // Not inside the child's event handler that ended the attempt: the next start is a new turn.
    setImmediate(() => this.pump());
  }
}
