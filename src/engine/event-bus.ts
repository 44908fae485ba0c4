import { EventEmitter } from 'node:events';
import type { FinalRunStatus } from './run-status.ts';
import type { TaskPhase, TaskStatus } from './swarm/task-status.ts';

/**
 * What the engine tells the world. SSE streams, notifiers and the trigger chain subscribe here;
 * the engine never calls them directly.
 */
export interface EngineEvents {
  'run.queued': { runId: number; botId: number; trigger: string };
  'run.started': { runId: number; botId: number; pid: number };
  /** One appended log line; `seq` is its per-run sequence number (1, 2, …). */
  'run.log': { runId: number; botId: number; seq: number; ts: number; stream: string; text: string };
  'run.finished': {
    runId: number;
    botId: number;
    status: FinalRunStatus;
    output: string | null;
    error: string | null;
    /** How many results of this run were new to the bot. */
    newResults: number;
  };
  'result.created': { resultId: number; botId: number; runId: number | null; isNew: boolean };
  'bot.changed': { botId: number; change: 'created' | 'updated' | 'deleted' };
  /** Something of a swarm task changed: its status or phase (`change` = `status:<STATUS>`), a sub-task, an assignment, a verdict. */
  'task.changed': { taskId: number; status: TaskStatus; phase: TaskPhase; change: string };
  'activity': { id: number; botId: number | null; runId: number | null; kind: string; message: string; level: string };
}

/** Name of an engine event. */
export type EngineEventName = keyof EngineEvents;

/** A typed wrapper over `EventEmitter`; a throwing listener is reported, never breaks the emitter. */
export class EventBus {
  private readonly emitter = new EventEmitter();

  constructor(private readonly onListenerError: (err: unknown, event: string) => void = () => {}) {
    this.emitter.setMaxListeners(0);
  }

  /** Subscribes `listener`; returns the function that unsubscribes it. */
  on<K extends EngineEventName>(event: K, listener: (payload: EngineEvents[K]) => void): () => void {
    const wrapped = (payload: EngineEvents[K]) => {
      try {
        listener(payload);
      } catch (err) {
        this.onListenerError(err, event);
      }
    };
    this.emitter.on(event, wrapped);
    return () => this.emitter.off(event, wrapped);
  }

  emit<K extends EngineEventName>(event: K, payload: EngineEvents[K]): void {
    this.emitter.emit(event, payload);
  }
}
