import { EventEmitter } from 'node:events';
import { afterCommit } from './db/database.ts';
import type { RunRow } from './db/schema.ts';
import type { FinalRunStatus } from './run-status.ts';
import type { TaskPhase, TaskStatus } from './swarm/task-status.ts';

/** The bot a run event is about, as a subscriber shows it. */
export interface EventBot {
  id: number;
  name: string;
  emoji: string;
}

/** What every run lifecycle event carries: the run row as committed, and its bot. */
export interface RunEventBase {
  runId: number;
  botId: number;
  /** The run row right after the change this event reports. */
  run: RunRow;
  bot: EventBot;
}

/** Severity of an activity entry. */
export type ActivityLevel = 'info' | 'success' | 'warn' | 'error';

/**
 * What the engine tells the world. SSE streams, chat delivery, notifications, triggers, pipelines,
 * metrics and the activity feed subscribe here; the engine never calls them directly.
 *
 * Events are delivered after the fact: `emit` returns at once and listeners run on a later turn of
 * the event loop (in emit order), so a listener never runs inside the call that changed the state
 * and may start new work (enqueue a run) without re-entering it.
 */
export interface EngineEvents {
  /** A run was queued (new, or again for a retry: then `run.attempt` > 1). */
  'run.queued': RunEventBase & { trigger: string };
  /** A run's child process started. */
  'run.started': RunEventBase & { pid: number };
  /** An attempt failed and the run will be tried again after `delayMs` (ms). */
  'run.retrying': RunEventBase & { attempt: number; maxAttempts: number; delayMs: number; reason: string };
  /** One appended log line; `seq` is its per-run sequence number (1, 2, …). */
  'run.log': { runId: number; botId: number; seq: number; ts: number; stream: string; text: string };
  /**
   * A run's attempt completed and its output waits for a person's decision (its bot or pipeline
   * step requires approval); `draft` is that output. Nothing downstream has fired.
   */
  'run.awaiting_approval': RunEventBase & { draft: string };
  /** An approval was decided (approved, rejected, expired, cancelled); the run's own event follows. */
  'approval.decided': { approvalId: number; runId: number; botId: number; status: 'approved' | 'rejected' | 'expired' | 'cancelled'; decidedBy: string | null };
  /** A run ended; `run` holds its final row. */
  'run.finished': RunEventBase & {
    status: FinalRunStatus;
    output: string | null;
    error: string | null;
    /** How many results of this run were new to the bot. */
    newResults: number;
  };
  'result.created': { resultId: number; botId: number; runId: number | null; isNew: boolean };
  'bot.changed': { botId: number; change: 'created' | 'updated' | 'deleted' };
  /** A connection (trigger) was created, changed (enabled, bots, event) or deleted; deleting a bot deletes its connections without this event. */
  'trigger.changed': { triggerId: number; sourceBotId: number; targetBotId: number | null; targetPipelineId: number | null; change: 'created' | 'updated' | 'deleted' };
  /** Something of a swarm task changed: its status or phase (`change` = `status:<STATUS>`), a sub-task, an assignment, a verdict. */
  'task.changed': { taskId: number; status: TaskStatus; phase: TaskPhase; change: string };
  /** A pipeline or one of its runs changed (a step started or ended, the run finished). */
  'pipeline.changed': { pipelineId: number; pipelineRunId: number | null };
  /**
   * Something a person should read in the activity feed that no other event says (a trigger
   * fired, a schedule skipped, a notification failed). The activity subscriber records it.
   */
  'notice': { botId?: number | null; runId?: number | null; kind: string; message: string; level?: ActivityLevel };
  /** An activity entry was recorded (by the activity subscriber). */
  'activity': { id: number; botId: number | null; runId: number | null; kind: string; message: string; level: string };
}

/** Name of an engine event. */
export type EngineEventName = keyof EngineEvents;

type Pending = { [K in EngineEventName]: { event: K; payload: EngineEvents[K]; remote: boolean } }[EngineEventName];

/** How a listener subscribes. */
export interface ListenOptions {
  /**
   * Also hear the events of the other processes of a cluster (src/engine/cluster/event-bridge.ts):
   * for what shows state (live views, log streams, chat cards), never for what starts work, which
   * the emitting process does once.
   */
  remote?: boolean;
}

/**
 * A typed event bus that delivers after the fact (see {@link EngineEvents}); a throwing listener is
 * reported, never breaks the bus or other listeners.
 */
export class EventBus {
  private readonly emitter = new EventEmitter();
  /** The listeners that asked for other processes' events too. */
  private readonly remoteEmitter = new EventEmitter();
  private readonly taps: ((event: EngineEventName, payload: unknown) => void)[] = [];
  private pending: Pending[] = [];
  private scheduled = false;
  private closed = false;
  private idle: (() => void)[] = [];
  /** Async listeners still running (settled ones leave the set). */
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly onListenerError: (err: unknown, event: string) => void = () => {}) {
    this.emitter.setMaxListeners(0);
    this.remoteEmitter.setMaxListeners(0);
  }

  /**
   * Subscribes `listener`; returns the function that unsubscribes it. A listener may be async: its
   * rejection goes where a thrown error goes (the bus's `onListenerError`); the bus does not wait
   * for it before the next event, but {@link flush} does.
   */
  on<K extends EngineEventName>(event: K, listener: (payload: EngineEvents[K]) => unknown, opts: ListenOptions = {}): () => void {
    const wrapped = (payload: EngineEvents[K]) => {
      try {
        const out = listener(payload);
        if (out instanceof Promise) {
          const done: Promise<void> = out.then(
            () => {},
            (err: unknown) => this.onListenerError(err, event),
          );
          this.running.add(done);
          void done.finally(() => this.running.delete(done));
        }
      } catch (err) {
        this.onListenerError(err, event);
      }
    };
    this.emitter.on(event, wrapped);
    if (opts.remote) this.remoteEmitter.on(event, wrapped);
    return () => {
      this.emitter.off(event, wrapped);
      this.remoteEmitter.off(event, wrapped);
    };
  }

  /**
   * Queues `payload` for the listeners of `event`; they hear it on a later turn, in emit order.
   * Inside a storage transaction it waits for the commit (and is dropped on a rollback).
   */
  emit<K extends EngineEventName>(event: K, payload: EngineEvents[K]): void {
    afterCommit(() => this.enqueue({ event, payload, remote: false } as Pending));
  }

  /** An event of another process of the cluster: only `remote` listeners hear it. */
  emitRemote<K extends EngineEventName>(event: K, payload: EngineEvents[K]): void {
    this.enqueue({ event, payload, remote: true } as Pending);
  }

  /** `fn` sees every event this process emits, as it is queued (the cluster's event bridge); returns the function that removes it. */
  tap(fn: (event: EngineEventName, payload: unknown) => void): () => void {
    this.taps.push(fn);
    return () => {
      const i = this.taps.indexOf(fn);
      if (i >= 0) this.taps.splice(i, 1);
    };
  }

  private enqueue(p: Pending): void {
    if (this.closed) return;
    this.pending.push(p);
    if (!p.remote) for (const t of this.taps) t(p.event, p.payload);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.deliver());
    }
  }

  /**
   * Resolves once every event emitted so far (and those its listeners emitted) was delivered and
   * every async listener it started has settled.
   */
  async flush(): Promise<void> {
    for (;;) {
      if (this.scheduled || this.pending.length > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
      else if (this.running.size > 0) await Promise.all([...this.running]);
      else return;
    }
  }

  /** Delivers what is pending, then drops every later event (the engine is closing). */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  private deliver(): void {
    // Events emitted by listeners join the end of this batch: order is emit order.
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      for (const { event, payload, remote } of batch) (remote ? this.remoteEmitter : this.emitter).emit(event, payload);
    }
    this.scheduled = false;
    const waiting = this.idle;
    this.idle = [];
    for (const resolve of waiting) resolve();
  }
}
