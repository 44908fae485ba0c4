import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';

/** Default pauses between attempts to post to a chat: a message is tried four times in all. */
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [1000, 5000, 30_000];

/** How {@link retrying} retries. */
export interface RetryPolicy {
  /** Pauses between attempts, in ms; their number is the number of retries. */
  delaysMs: readonly number[];
  /** `true` when retrying cannot help (the chat is gone, the request is bad): gives up at once. */
  isPermanent(err: unknown): boolean;
  /** Aborting gives up pending retries (the adapter is stopping). */
  signal?: AbortSignal;
  log: Logger;
}

/**
 * Runs `attempt` until it succeeds, retrying transient failures (5xx, network errors) after each
 * of `policy.delaysMs`; 429s are waited out by the platform clients themselves, below this. Each
 * retry and the final failure are logged with `what` ("a reply", "a run card").
 * @returns what `attempt` returned.
 * @throws the last error, once the failure is permanent, the retries are used up, or `signal` aborted.
 */
export async function retrying<T>(what: string, attempt: () => Promise<T>, policy: RetryPolicy): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      const value = await attempt();
      if (i > 0) policy.log.info({ attempts: i + 1 }, `${what} went through after retrying`);
      return value;
    } catch (err) {
      const delay = policy.delaysMs[i];
      if (policy.signal?.aborted || policy.isPermanent(err) || delay === undefined) {
        policy.log.error({ err, attempts: i + 1 }, `could not post ${what} to a chat; giving up`);
        throw err;
      }
      policy.log.warn({ err, attempt: i + 1, retryInMs: delay }, `could not post ${what} to a chat; retrying`);
      try {
        await sleep(delay, undefined, policy.signal ? { signal: policy.signal } : {});
      } catch {
        throw err;
      }
    }
  }
}
