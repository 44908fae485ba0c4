/**
 * Swarm tasks back to chat: when a task started from a chat (`/task`, `tasks.origin_chat` =
 * `<platform>:<chat id>`) ends — completed, failed or cancelled — that chat gets its outcome once,
 * as `/task #<id>` shows it. Like run cards, it reads the task when it posts, so it does not matter
 * when the engine's `task.changed` arrives.
 */
import { setImmediate as nextTick } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Engine } from '../engine/engine.ts';
import { TASK_STATUS_INFO } from '../engine/swarm/task-status.ts';
import type { ChatSender } from './chat-sender.ts';
import { taskMessage } from './commands/task.ts';

/** Most ended tasks remembered as delivered. */
const MAX_REMEMBERED = 5000;

/** Posts the outcome of tasks started from one platform's chats to those chats. */
export class TaskDelivery {
  private readonly delivered = new Set<number>();
  private readonly inFlight = new Set<Promise<void>>();
  private off: (() => void) | null = null;

  constructor(
    private readonly engine: Engine,
    private readonly sender: ChatSender,
    private readonly log: Logger,
  ) {}

  /** Starts listening to `task.changed`. */
  start(): void {
    if (this.off) return;
    this.off = this.engine.bus.on('task.changed', (e) => {
      // Archiving an ended task is no news; only the end itself is.
      if (TASK_STATUS_INFO[e.status].active || e.status === 'ARCHIVED' || this.delivered.has(e.taskId)) return;
      const p = nextTick().then(() => this.deliver(e.taskId));
      this.inFlight.add(p);
      void p.finally(() => this.inFlight.delete(p));
    }, { remote: true });
  }

  /** Stops listening and waits (5 s at most) for posts under way. */
  async stop(): Promise<void> {
    this.off?.();
    this.off = null;
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => setTimeout(r, 5000).unref())]);
  }

  private async deliver(taskId: number): Promise<void> {
    if (this.delivered.has(taskId)) return;
    let view;
    try {
      view = await this.engine.swarm.tasks.view(taskId);
    } catch {
      return; // gone since
    }
    const origin = view.task.originChat ?? '';
    const prefix = `${this.sender.platform}:`;
    if (!origin.startsWith(prefix) || TASK_STATUS_INFO[view.task.status].active) return;
    this.delivered.add(taskId);
    if (this.delivered.size > MAX_REMEMBERED) this.delivered.delete(this.delivered.values().next().value!);
    try {
      await this.sender.post({ chatId: origin.slice(prefix.length) }, taskMessage(view));
    } catch (err) {
      this.log.error({ err, taskId, chatId: origin.slice(prefix.length) }, 'could not post the outcome of a task to its chat');
    }
  }
}
