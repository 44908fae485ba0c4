/**
 * The IPC contract between the runner (parent) and a bot's run process (its worker). Messages are
 * JSON (`serialization: 'json'`), each in an {@link Envelope} naming the run it belongs to: one
 * worker serves the runs of one bot (never another bot's), several at once. The parent alone
 * writes the database: whatever the child finds or spends reaches storage only through these
 * messages.
 *
 * A run, in order:
 * 1. parent → child `start`.
 * 2. child → parent, any number of: `log`, `usage` (after each model round), `tool` (after each
 *    tool call), and requests `result`, `code` and `submit`, each answered by the parent with a
 *    reply carrying the same `requestId` (`result.recorded`, `code.finished`, `submit.accepted`,
 *    or `request.failed`). The parent may send `cancel`: the child aborts the run.
 * 3. child → parent `done` or `fail`. The worker stays for the bot's next run until the parent
 *    lets it go (idle) or kills it.
 */
import type { ProviderSettings } from '../providers/index.ts';

/** The job the parent sends to a run's child process, once, right after fork. */
export interface RunJob {
  runId: number;
  /** `provider:model` of the bot. */
  model: string;
  prompt: string;
  input: string;
  /** The bot's docs folder: the child's working directory and the only place it may write. */
  docsPath: string;
  /** The bot's tool families (`web_search`, `web_fetch`, `files`, `code`); `report_result` is always on. */
  tools: string[];
  /** Most model rounds in the agent loop (bots.max_steps). */
  maxSteps: number;
  /** The server's provider settings, with the bot's own provider keys in place of the server's where it has them. */
  providers: ProviderSettings;
  /**
   * The bot's secrets, name → value (`engine/bot-secrets.ts`), read fresh for each run; `{}` when
   * it has none. Only this bot's worker ever receives them.
   *
   * They travel in this IPC message, never in the child's environment: a process's environment
   * is readable by every process of the same user through `/proc/<pid>/environ` (and is copied
   * into anything the child spawns), whereas an IPC message exists only in the two processes'
   * memory. The child keeps them in memory for the run's tools and redaction and writes them
   * nowhere; the parent replaces any value that comes back in a log line, result or output by
   * `[redacted NAME]`.
   */
  secrets: Record<string, string>;
}

/** One item a run reports through the `report_result` tool. */
export interface ReportedItem {
  title: string;
  content?: string;
  url?: string;
  metadata?: Record<string, unknown>;
}

/** How a `run_code` process ended; output already truncated by the parent. */
export interface CodeOutcome {
  exitCode: number | null;
  signal: string | null;
  /** `true` when it was killed at the time limit. */
  timedOut: boolean;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** Messages a child sends to the parent over IPC. */
export type ChildMessage =
  | { type: 'log'; stream: 'stdout' | 'stderr' | 'system'; text: string }
  /** Tokens one model round used (an increment; the parent sums them). */
  | { type: 'usage'; tokensIn: number; tokensOut: number }
  /** One finished tool call, for the run log. `args` is already shortened. */
  | { type: 'tool'; tool: string; args: string; durationMs: number; ok: boolean; error?: string }
  /** Request: record a result. Answered by `result.recorded` or `request.failed`. */
  | { type: 'result'; requestId: number; item: ReportedItem }
  /** Request: run JavaScript in a sandboxed process. Answered by `code.finished` or `request.failed`. */
  | { type: 'code'; requestId: number; language: 'javascript'; source: string }
  /** Request: hand in a swarm plan or verdict (`submit_plan`, `submit_verdict`). Answered by `submit.accepted` or `request.failed`. */
  | { type: 'submit'; requestId: number; kind: 'plan' | 'verdict'; data: unknown }
  | { type: 'done'; output: string }
  | { type: 'fail'; error: string };

/**
 * Parent side of `submit`: what takes the plans and verdicts runs hand in (the swarm installs one
 * with `Runner.useSubmissions`), and which runs are offered the tools to hand them in.
 */
export interface RunSubmissions {
  /** Tool families to add to a run about to start (`submit_plan`, `submit_verdict`), usually none. */
  toolsFor(run: { id: number; botId: number; trigger: string }): Promise<string[]>;
  /** Takes what run `runId` handed in; returns the answer for the model; rejects to refuse (its message goes to the model). */
  accept(runId: number, kind: 'plan' | 'verdict', data: unknown): Promise<string>;
}

/** Messages the parent sends to a child. */
export type ParentMessage =
  | { type: 'start'; job: RunJob }
  /** Abort the run (cancelled, timed out); the parent no longer listens to it. */
  | { type: 'cancel' }
  /** `isNew: false` means the bot had reported this item before (same normalized URL or content). */
  | { type: 'result.recorded'; requestId: number; resultId: number; isNew: boolean }
  | { type: 'code.finished'; requestId: number; outcome: CodeOutcome }
  /** `message` is what the model is told (e.g. "Plan accepted: 2 sub-tasks"). */
  | { type: 'submit.accepted'; requestId: number; message: string }
  | { type: 'request.failed'; requestId: number; error: string };

/** Every IPC message, either way, travels in an envelope naming its run. */
export interface Envelope<M> {
  runId: number;
  msg: M;
}
