import type { Logger } from 'pino';
import type { Db } from '../db/database.ts';
import type { EventBus } from '../event-bus.ts';
import type { ProviderSettings } from '../providers/index.ts';
import type { ResultService } from '../results.ts';
import type { CodeSandbox } from '../tools/sandbox.ts';
import type { RunLogStore } from './log-store.ts';
import type { RunSubmissions } from './protocol.ts';
import type { RunQueue } from './queue.ts';

/** The run engine's limits and settings. */
export interface RunnerOptions {
  /**
   * At most this many runs go at once. A run waiting on its provider costs its bot's worker a
   * little memory, not a process, so this can be far above the number of cores.
   */
  maxConcurrentRuns: number;
  /** At most this many run processes at once (one per bot with runs going, kept warm a while). */
  maxRunProcesses: number;
  /** A run process without runs for this long (ms) exits; the bot's next run forks a new one. */
  workerIdleMs: number;
  /** Past this many queued runs, `enqueue` refuses with QUEUE_FULL. */
  maxQueuedRuns: number;
  /** A run attempt past this many seconds is killed and fails. */
  runTimeoutS: number;
  /** The first retry waits this long (ms); each further one twice as long (capped at 10 min). */
  retryBackoffMs: number;
  providers: ProviderSettings;
  /** Where `run_code` programs run (bubblewrap); it refuses them, with a reason, where it cannot confine them. */
  codeSandbox: CodeSandbox;
}

/**
 * The typed bag of resources the run engine's parts share (Trigger.dev's "systems" pattern): each
 * part takes what it needs from here and does one thing.
 */
export interface RunEngineResources {
  db: Db;
  bus: EventBus;
  log: Logger;
  results: ResultService;
  queue: RunQueue;
  logs: RunLogStore;
  /** Epoch ms; injected so that tests can drive time. */
  now: () => number;
  opts: RunnerOptions;
  /** What takes the plans and verdicts runs hand in (`submit`), installed by the swarm; null: none. */
  submissions: RunSubmissions | null;
  /** Where a run's bot's secrets are read from when its attempt starts (`BotSecretStore`); null: bots have none. */
  secrets: RunSecrets | null;
  /** This process in a cluster (`workers.id`), the owner of the runs it claims; null: no cluster. */
  workerId: string | null;
}

/** The part of `BotSecretStore` the run engine uses: a bot's secret values by name. */
export interface RunSecrets {
  /** @throws {Error} when they cannot be read (the attempt then fails). */
  values(botId: number): Record<string, string>;
}
