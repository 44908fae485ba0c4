import { AppError } from '../errors.ts';

/**
 * Swarm task lifecycle (seed 004), enforced here and nowhere else:
 *
 *   CREATED ──► PLANNED ──► IN_PROGRESS ──► COMPLETED ──► ARCHIVED
 *      │           │          │    ▲  │
 *      │           │          │    │  └──► FAILED ──────► ARCHIVED
 *      │           │          │    │ (re-plan: a new plan is PLANNED again)
 *      │           │          └────┘
 *      └───────────┴──────────┴────────► CANCELLED ─────► ARCHIVED
 *   (CREATED and PLANNED may also end FAILED: no plan, or no round left)
 *
 * - CREATED → PLANNED: the planner's plan (sub-tasks with skills and dependencies) was accepted.
 * - PLANNED → IN_PROGRESS: the first sub-task was given to an executor.
 * - IN_PROGRESS → PLANNED: the evaluator failed the round and the planner made a new plan.
 * - IN_PROGRESS → COMPLETED: every sub-task has an output and the evaluator passed them.
 * - → FAILED: the last allowed round failed (`max_rounds`), with the evaluator's reasons.
 * - → CANCELLED: a person cancelled it; its runs are cancelled, its leases dropped.
 * - COMPLETED | FAILED | CANCELLED → ARCHIVED: put away by a person; nothing changes after.
 */
export const TASK_STATUSES = ['CREATED', 'PLANNED', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED', 'ARCHIVED'] as const;

/** The status of a swarm task; see the diagram above. */
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Facts about each task status, in one place: label, CSS class, whether work is still going on. */
export const TASK_STATUS_INFO: Record<TaskStatus, { label: string; cls: string; active: boolean }> = {
  CREATED: { label: 'Created', cls: 'queued', active: true },
  PLANNED: { label: 'Planned', cls: 'queued', active: true },
  IN_PROGRESS: { label: 'In progress', cls: 'running', active: true },
  COMPLETED: { label: 'Completed', cls: 'ok', active: false },
  FAILED: { label: 'Failed', cls: 'error', active: false },
  CANCELLED: { label: 'Cancelled', cls: 'muted', active: false },
  ARCHIVED: { label: 'Archived', cls: 'idle', active: false },
};

/** Where each status may go next. */
const TRANSITIONS: Record<TaskStatus, readonly TaskStatus[]> = {
  CREATED: ['PLANNED', 'FAILED', 'CANCELLED'],
  PLANNED: ['IN_PROGRESS', 'FAILED', 'CANCELLED'],
  IN_PROGRESS: ['PLANNED', 'COMPLETED', 'FAILED', 'CANCELLED'],
  COMPLETED: ['ARCHIVED'],
  FAILED: ['ARCHIVED'],
  CANCELLED: ['ARCHIVED'],
  ARCHIVED: [],
};

/** The statuses a task still works in (CREATED, PLANNED, IN_PROGRESS). */
export const ACTIVE_TASK_STATUSES = TASK_STATUSES.filter((s) => TASK_STATUS_INFO[s].active);

/** `true` when a task in `from` may move to `to`. */
export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/**
 * Checks a status change of task `taskId`.
 * @throws {AppError} TASK_TRANSITION_INVALID naming both statuses and where `from` may go.
 */
export function assertTransition(taskId: number, from: TaskStatus, to: TaskStatus): void {
  if (canTransition(from, to)) return;
  const next = TRANSITIONS[from];
  throw new AppError(
    'TASK_TRANSITION_INVALID',
    `Task #${taskId} cannot go from ${from} to ${to}; from ${from} it can only go to ${next.length ? next.join(', ') : 'nowhere (it is archived)'}.`,
    { from, to, allowed: next },
  );
}

/**
 * What the orchestrator is doing in an active task's current round (internal, shown on its page):
 * `planning` (waiting for the planner's plan), `executing` (sub-tasks with executors),
 * `evaluating` (waiting for the evaluator's verdict), `done` (the task ended).
 */
export const TASK_PHASES = ['planning', 'executing', 'evaluating', 'done'] as const;
export type TaskPhase = (typeof TASK_PHASES)[number];

/**
 * Sub-task lifecycle: `pending` (waiting for its dependencies or an executor) → `assigned` (offered
 * to an external executor) → `running` → `completed` | `failed`; a lost lease or a failed attempt
 * with attempts left sends it back to `pending`; `cancelled` when its task ends first.
 */
export const SUBTASK_STATUSES = ['pending', 'assigned', 'running', 'completed', 'failed', 'cancelled'] as const;
export type SubtaskStatus = (typeof SUBTASK_STATUSES)[number];

/**
 * Assignment (one agent's turn at one step: plan, execute, evaluate) lifecycle: `offered` (to an
 * external agent, until it polls) → `working` → `completed` | `failed`; `expired` when its lease ran
 * out (the agent went silent); `cancelled` when its task ended. Internal bots start at `working`.
 */
export const ASSIGNMENT_STATUSES = ['offered', 'working', 'completed', 'failed', 'expired', 'cancelled'] as const;
export type AssignmentStatus = (typeof ASSIGNMENT_STATUSES)[number];

/** What an assignment asks of its agent. */
export const ASSIGNMENT_KINDS = ['plan', 'execute', 'evaluate'] as const;
export type AssignmentKind = (typeof ASSIGNMENT_KINDS)[number];

/** `true` while an assignment still waits for its agent. */
export function isActiveAssignment(status: AssignmentStatus): boolean {
  return status === 'offered' || status === 'working';
}

/** Priorities of a task, lowest first; higher ones get executors first. */
export const TASK_PRIORITIES = ['low', 'normal', 'high'] as const;
export type TaskPriority = (typeof TASK_PRIORITIES)[number];
