import fs from 'node:fs';
import type { Logger } from 'pino';
import type { BotRow } from '../db/schema.ts';
import { BotWorker } from './worker.ts';

/** Limits of the pool. */
export interface WorkerPoolOptions {
  /** At most this many run processes at once (each serves one bot). */
  maxProcesses: number;
  /** A worker without runs for this long (ms) is let go. */
  idleMs: number;
}

/**
 * The run processes: at most one per bot, reused by that bot's next runs while it is warm (a run
 * then starts without a fork), at most `maxProcesses` at once. A run that waits on its provider
 * costs its worker a little memory, not a process. Idle workers are let go after `idleMs`, or at
 * once when another bot needs the room.
 */
export class WorkerPool {
  private readonly workers = new Map<number, BotWorker>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly opts: WorkerPoolOptions,
    private readonly log: Logger,
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.max(250, Math.min(opts.idleMs, 10_000)));
    this.sweeper.unref();
  }

  /**
   * The bot's warm worker, else a new one when there is room (letting an idle worker go if need
   * be); null when every process serves other bots' runs.
   * @throws {Error} when a new worker cannot be prepared (folder, bundle, fork).
   */
  acquire(bot: BotRow): BotWorker | null {
    const have = this.workers.get(bot.id);
    if (have?.alive) return have;
    if (have) this.workers.delete(bot.id);
    if (this.workers.size >= this.opts.maxProcesses && !this.evictIdle()) return null;
    fs.mkdirSync(bot.docsPath, { recursive: true });
    const docsPath = fs.realpathSync(bot.docsPath);
    const w = new BotWorker(bot.id, docsPath, (err, what) => this.log.error({ err, botId: bot.id }, `run bookkeeping failed (${what})`));
    this.workers.set(bot.id, w);
    void w.exited.then(() => {
      if (this.workers.get(bot.id) === w) this.workers.delete(bot.id);
    });
    return w;
  }

  /** Number of live run processes. */
  get size(): number {
    return this.workers.size;
  }

  /** Kills a worker now (its runs hear `closed`). */
  async kill(w: BotWorker): Promise<void> {
    if (this.workers.get(w.botId) === w) this.workers.delete(w.botId);
    await w.kill();
  }

  /** Kills every worker. */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    const all = [...this.workers.values()];
    this.workers.clear();
    await Promise.all(all.map((w) => w.kill()));
  }

  /** Lets the longest-idle worker go; false when none is idle. */
  private evictIdle(): boolean {
    let oldest: BotWorker | null = null;
    for (const w of this.workers.values()) if (w.load === 0 && (!oldest || w.idleSince < oldest.idleSince)) oldest = w;
    if (!oldest) return false;
    void this.kill(oldest);
    return true;
  }

  private sweep(): void {
    const now = Date.now();
    for (const w of [...this.workers.values()]) if (w.load === 0 && now - w.idleSince >= this.opts.idleMs) void this.kill(w);
  }
}
