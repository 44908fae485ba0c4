/**
 * Run lifecycle (every change goes through `transitionRun` in runs/transition.ts):
 *
 *   queued ──► running ──► completed | failed | cancelled | interrupted
 *     │  ▲        │  └──► awaiting_approval ──► completed   (approved, maybe edited: the approved text is the output)
 *     │  │        │       (needs a person)   ├──► rejected    (rejected with a reason, or expired)
 *     │  └────────┘                          └──► cancelled
 *     │            retry: a failed or interrupted attempt goes back to `queued` as attempt k+1
 *     │            of n, after a backoff (the bot's `retries`); a cancelled run never retries
 *     └──► cancelled
 *   A run awaiting approval holds no slot and is not in the queue; its draft is its output. Only
 *   once approved is it `completed` (results recorded, notifications sent, connections and the
 *   next pipeline step fired); `rejected` fires nothing.
 *   running at a crash ──► interrupted (or queued again, when attempts are left) at the next start;
 *   queued at a crash stays queued and runs after the restart, in its order.
 *
 * The table below is the one place a status's facts live. The schema's enum, the active-status
 * list, badges, chat icons and the success rate are derived from it; a new status is a compile
 * error everywhere a `switch` over {@link RunStatus} must handle it (see `assertNever`).
 */
export const RUN_STATUS_TABLE = {
  queued: { final: false, active: true, label: 'Queued', icon: '⏳', level: 'info', success: null },
  running: { final: false, active: true, label: 'Running', icon: '▶', level: 'info', success: null },
  awaiting_approval: { final: false, active: false, label: 'Awaiting approval', icon: '‖', level: 'warn', success: null },
  completed: { final: true, active: false, label: 'Completed', icon: '✓', level: 'success', success: true },
  failed: { final: true, active: false, label: 'Failed', icon: '✗', level: 'error', success: false },
  cancelled: { final: true, active: false, label: 'Cancelled', icon: '■', level: 'warn', success: null },
  interrupted: { final: true, active: false, label: 'Interrupted', icon: '!', level: 'warn', success: false },
  rejected: { final: true, active: false, label: 'Rejected', icon: '⊘', level: 'warn', success: null },
} as const satisfies Record<string, RunStatusFacts>;

/**
 * What is known of one run status.
 * - `final`: the run ended and never changes again;
 * - `active`: the run waits in the queue or holds a slot (its attempt is under way); a run that is
 *   neither active nor final waits for a person (`awaiting_approval`);
 * - `label`, `icon`: how a person reads it (icons are plain glyphs every font has);
 * - `level`: the activity feed's severity;
 * - `success`: `true` counts as a success, `false` as a failure in the one success rate; `null`
 *   does not count (still active, or stopped by a person).
 */
export interface RunStatusFacts {
  final: boolean;
  active: boolean;
  label: string;
  icon: string;
  level: 'info' | 'success' | 'warn' | 'error';
  success: boolean | null;
}

/** The status of a run; see the diagram above. */
export type RunStatus = keyof typeof RUN_STATUS_TABLE;

/** Every run status, in the table's order (the schema's enum). */
export const RUN_STATUSES = Object.keys(RUN_STATUS_TABLE) as [RunStatus, ...RunStatus[]];

/** A run that ended; it never changes again. */
export type FinalRunStatus = { [S in RunStatus]: (typeof RUN_STATUS_TABLE)[S]['final'] extends true ? S : never }[RunStatus];

/** A run in the queue or holding a slot (it waits for a slot or runs). */
export type ActiveRunStatus = { [S in RunStatus]: (typeof RUN_STATUS_TABLE)[S]['active'] extends true ? S : never }[RunStatus];

/** The statuses of queued or running runs, for queries (`status IN (…)`). */
export const ACTIVE_RUN_STATUSES = RUN_STATUSES.filter((s) => RUN_STATUS_TABLE[s].active) as ActiveRunStatus[];

/** The statuses of ended runs. */
export const FINAL_RUN_STATUSES = RUN_STATUSES.filter((s) => RUN_STATUS_TABLE[s].final) as FinalRunStatus[];

/** `true` once a run has ended. */
export function isFinalRunStatus(status: RunStatus): status is FinalRunStatus {
  return RUN_STATUS_TABLE[status].final;
}

/** `true` while a run is queued or holds a slot; `false` once its attempt is over (ended, or waiting for a person). */
export function isActiveRunStatus(status: RunStatus): status is ActiveRunStatus {
  return RUN_STATUS_TABLE[status].active;
}

/** `true` for a status that may be given to a run (guards strings from outside). */
export function isRunStatus(value: unknown): value is RunStatus {
  return typeof value === 'string' && Object.hasOwn(RUN_STATUS_TABLE, value);
}

/**
 * The one success rate, in percent (0..100, rounded), from counts of runs by status; `null` when no
 * run counts (none ended, or all were cancelled). Successes over successes plus failures, as
 * {@link RunStatusFacts.success} says.
 */
export function successRate(counts: Partial<Record<string, number>>): number | null {
  let ok = 0;
  let all = 0;
  for (const s of RUN_STATUSES) {
    const n = counts[s] ?? 0;
    const success = RUN_STATUS_TABLE[s].success;
    if (success === null) continue;
    all += n;
    if (success) ok += n;
  }
  return all === 0 ? null : Math.round((ok / all) * 100);
}

/** Exhaustiveness check for `switch` statements over unions. */
export function assertNever(value: never): never {
  throw new Error(`Unexpected value: ${String(value)}`);
}
