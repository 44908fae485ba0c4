import { fork, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { runChildLaunch } from '../tools/sandbox.ts';
import type { ChildMessage, ParentMessage, RunJob } from './protocol.ts';

/** How long a killed child may take to exit before we stop waiting, in ms. */
const KILL_WAIT_MS = 5000;

/** What a {@link ChildSession} reports; handlers must not throw (the session guards them). */
export interface ChildSessionHandlers {
  /** A line the child printed on stdout or stderr. */
  output(stream: 'stdout' | 'stderr', line: string): void;
  /** A message over IPC (see protocol.ts). */
  message(msg: ChildMessage): void;
  /** The child could not start at all (`spawn` failed). */
  spawnFailed(err: Error): void;
  /** The child is gone and its IPC channel and stdio drained ('close', not 'exit'). */
  closed(code: number | null, signal: NodeJS.Signals | null): void;
}

/**
 * One run's child process: forked under Node's permission model confined to the bot's folder with
 * an empty environment (see tools/sandbox.ts), started with one `start` message, talked to over
 * IPC. It knows nothing of runs or the database.
 */
export class ChildSession {
  private readonly child: ChildProcess;
  /** Settles when the process has exited. */
  readonly exited: Promise<void>;

  /**
   * Forks the child in `docsPath` (a real path) and sends it `job`.
   * @throws {Error} when the launch cannot be prepared (bundle missing, bad folder).
   */
  constructor(docsPath: string, job: RunJob, handlers: ChildSessionHandlers, onHandlerError: (err: unknown, what: string) => void) {
    const launch = runChildLaunch(docsPath);
    this.child = fork(launch.modulePath, [], { execArgv: launch.execArgv, cwd: docsPath, env: {}, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'json' });
    this.exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    // Handlers of child events must never throw: there is nobody to catch it but the process.
    const guard = (what: string, fn: () => void) => {
      try {
        fn();
      } catch (err) {
        onHandlerError(err, what);
      }
    };
    for (const [stream, name] of [[this.child.stdout, 'stdout'], [this.child.stderr, 'stderr']] as const) {
      if (stream) readline.createInterface({ input: stream }).on('line', (l) => guard('output', () => handlers.output(name, l)));
    }
    this.child.on('message', (msg: ChildMessage) => guard('message', () => handlers.message(msg)));
    this.child.on('error', (err) => {
      if (this.child.pid === undefined) guard('spawn', () => handlers.spawnFailed(err));
    });
    // 'close', not 'exit': a child's last IPC messages (its `done`) may arrive after 'exit', but
    // never after 'close', which waits for the IPC channel and stdio to drain.
    this.child.once('close', (code, signal) => guard('close', () => handlers.closed(code, signal)));
    this.send({ type: 'start', job });
  }

  /** The child's pid; undefined when it never started. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Whether the process is still alive. */
  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends a message; a child that has gone away is no error. */
  send(msg: ParentMessage): void {
    if (this.child.connected) this.child.send(msg, () => {});
  }

  /** Kills the process (SIGKILL) and resolves once it exited, or after 5 s. */
  async kill(): Promise<void> {
    if (this.alive) this.child.kill('SIGKILL');
    await Promise.race([this.exited, new Promise((r) => setTimeout(r, KILL_WAIT_MS).unref())]);
  }
}
