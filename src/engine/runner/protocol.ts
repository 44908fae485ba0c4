import type { ProviderSettings } from '../providers/index.ts';

/** The job the parent sends to a run's child process, once, right after fork. */
export interface RunJob {
  runId: number;
  /** `provider:model` of the bot. */
  model: string;
  prompt: string;
  input: string;
  /** The bot's docs folder; the child's working directory. */
  docsPath: string;
  providers: ProviderSettings;
}

/** Messages a child sends to the parent over IPC. The parent alone writes the database. */
export type ChildMessage =
  | { type: 'log'; stream: 'stdout' | 'stderr' | 'system'; text: string }
  | { type: 'done'; output: string; tokensIn: number; tokensOut: number }
  | { type: 'fail'; error: string };

/** Messages the parent sends to a child. */
export type ParentMessage = { type: 'start'; job: RunJob };
