/**
 * Run lifecycle:
 *
 *   queued ──► running ──► completed | failed | cancelled
 *     │           │
 *     └──► cancelled
 *   (queued or running at a crash) ──► interrupted   (set at the next start)
 */
export const RUN_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled', 'interrupted'] as const;

/** The status of a run; see the diagram above. */
export type RunStatus = (typeof RUN_STATUSES)[number];

/** A run that ended; it never changes again. */
export type FinalRunStatus = Extract<RunStatus, 'completed' | 'failed' | 'cancelled' | 'interrupted'>;

/** `true` once a run has ended (completed, failed, cancelled or interrupted). */
export function isFinalRunStatus(status: RunStatus): status is FinalRunStatus {
  switch (status) {
    case 'queued':
    case 'running':
      return false;
    case 'completed':
    case 'failed':
    case 'cancelled':
    case 'interrupted':
      return true;
    default:
      return assertNever(status);
  }
}

/** Exhaustiveness check for `switch` statements over unions. */
export function assertNever(value: never): never {
  throw new Error(`Unexpected value: ${String(value)}`);
}
