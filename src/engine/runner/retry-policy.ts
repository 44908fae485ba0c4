/** Longest wait before a retry, in ms. */
export const MAX_RETRY_DELAY_MS = 10 * 60_000;

/** Most retries a bot may ask for. */
export const MAX_RETRIES = 5;

/**
 * How long a run waits before attempt `failedAttempt + 1`: exponential backoff, `baseMs` after the
 * first failure, twice as long after each further one, at most {@link MAX_RETRY_DELAY_MS}.
 */
export function retryDelayMs(failedAttempt: number, baseMs: number): number {
  return Math.min(baseMs * 2 ** Math.max(0, failedAttempt - 1), MAX_RETRY_DELAY_MS);
}

/** Whether an attempt that ended with `status` may be tried again. A cancelled run never is. */
export function isRetryable(status: 'failed' | 'interrupted' | 'cancelled' | 'completed'): boolean {
  return status === 'failed' || status === 'interrupted';
}
