/**
 * Time as the chat side sees it: what live run cards use to space their edits and to tick the
 * elapsed time. Injected so tests move time by hand instead of waiting for it.
 */

/** A handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = unknown;

/** Now and timers. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds; the timer never keeps the process alive. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: `Date.now()` and unref'd Node timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};
