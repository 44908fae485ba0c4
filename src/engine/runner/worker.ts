import { fork, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { runChildLaunch } from '../tools/sandbox.ts';
import type { ChildMessage, Envelope, ParentMessage, RunJob } from './protocol.ts';

/** How long a killed worker may take to exit before we stop waiting, in ms. */
const KILL_WAIT_MS = 5000;

/** What a worker reports about one of its runs; handlers must not throw (the worker guards them). */
export interface RunChannel {
  /** A line the process printed on stdout or stderr while this run was going. */
  output(stream: 'stdout' | 'stderr', line: string): void;
  /** A message of this run over IPC (see protocol.ts). */
  message(msg: ChildMessage): void;
  /** The process could not start at all (`spawn` failed). */
  spawnFailed(err: Error): void;
  /** The process is gone (its IPC channel and stdio drained) while this run was going. */
  closed(code: number | null, signal: NodeJS.Signals | null): void;
}

/**
 * One bot's run process: forked under Node's permission model, confined to that bot's folder, with
 * an empty environment (see tools/sandbox.ts). It serves that bot's runs, several at once (each
 * run's messages travel in an envelope with its id), and never another bot's. It knows nothing of
 * runs' rows or the database.
 */
export class BotWorker {
  private readonly child: ChildProcess;
  private readonly runs = new Map<number, RunChannel>();
  /** Set by `kill`: a dying worker takes no new run (the pool forks a new one). */
  private killing = false;
  /** Settles when the process has exited. */
  readonly exited: Promise<void>;
  /** When the worker last had no run left (epoch ms), for the pool's idle eviction. */
  idleSince = Date.now();

  /**
   * Forks the worker in `docsPath` (a real path).
   * @throws {Error} when the launch cannot be prepared (bundle missing, bad folder).
   */
  constructor(
    readonly botId: number,
    readonly docsPath: string,
    private readonly onHandlerError: (err: unknown, what: string) => void,
  ) {
    const launch = runChildLaunch(docsPath);
    this.child = fork(launch.modulePath, [], { execArgv: launch.execArgv, cwd: docsPath, env: {}, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'json' });
    this.exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    for (const [stream, name] of [[this.child.stdout, 'stdout'], [this.child.stderr, 'stderr']] as const) {
      // Printed output cannot be told apart by run: every run going hears it.
      if (stream) readline.createInterface({ input: stream }).on('line', (l) => this.each('output', (ch) => ch.output(name, l)));
    }
    this.child.on('message', (env: Envelope<ChildMessage>) => {
      const ch = env && this.runs.get(env.runId);
      if (ch) this.guard('message', () => ch.message(env.msg));
    });
    this.child.on('error', (err) => {
      if (this.child.pid === undefined) this.each('spawn', (ch) => ch.spawnFailed(err), true);
    });
    // 'close', not 'exit': a child's last IPC messages (its `done`) may arrive after 'exit', but
    // never after 'close', which waits for the IPC channel and stdio to drain.
    this.child.once('close', (code, signal) => this.each('close', (ch) => ch.closed(code, signal), true));
  }

  /** The process's pid; undefined when it never started. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Whether the process is alive and not being killed: only then may it take a run. */
  get alive(): boolean {
    return !this.killing && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** How many runs it serves now. */
  get load(): number {
    return this.runs.size;
  }

  /** Starts `job` on this worker; `channel` hears its messages until `release`. */
  start(job: RunJob, channel: RunChannel): void {
    this.runs.set(job.runId, channel);
    this.send(job.runId, { type: 'start', job });
  }

  /** Sends a run's message; a worker that has gone away is no error. */
  send(runId: number, msg: ParentMessage): void {
    if (this.child.connected) this.child.send({ runId, msg } satisfies Envelope<ParentMessage>, () => {});
  }

  /** Stops listening to a run; with `abort`, the worker is told to abort it. */
  release(runId: number, abort: boolean): void {
    if (!this.runs.delete(runId)) return;
    if (abort) this.send(runId, { type: 'cancel' });
    if (this.runs.size === 0) this.idleSince = Date.now();
  }

  /** Kills the process (SIGKILL) and resolves once it exited, or after 5 s. */
  async kill(): Promise<void> {
    if (this.alive) this.child.kill('SIGKILL');
    this.killing = true;
    await Promise.race([this.exited, new Promise((r) => setTimeout(r, KILL_WAIT_MS).unref())]);
  }

  private each(what: string, fn: (ch: RunChannel) => void, clear = false): void {
    const channels = [...this.runs.values()];
    if (clear) this.runs.clear();
    for (const ch of channels) this.guard(what, () => fn(ch));
  }

  // Handlers of child events must never throw: there is nobody to catch it but the process.
  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.onHandlerError(err, what);
    }
  }
}
