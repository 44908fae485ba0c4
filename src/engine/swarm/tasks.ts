import { and, asc, desc, eq, inArray, ne, sql } from 'drizzle-orm';
import { transaction, type Db } from '../db/database.ts';
import { agents, assignments, subtasks, tasks, verdicts, type AgentRow, type AssignmentRow, type SubtaskRow, type TaskRow, type VerdictRow } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import type { EventBus } from '../event-bus.ts';
import type { AuditLog } from './audit.ts';
import { redactText, type RedactionRules } from './redaction.ts';
import type { Plan, Verdict } from './schemas.ts';
import { assertTransition, TASK_STATUS_INFO, type TaskPhase, type TaskStatus } from './task-status.ts';

/** A sub-task with the agent working on it. */
export interface SubtaskView extends SubtaskRow {
  agent: Pick<AgentRow, 'id' | 'name' | 'kind' | 'botId' | 'role'> | null;
}

/** An assignment with its agent's name. */
export interface AssignmentView extends AssignmentRow {
  agentName: string | null;
  agentKind: AgentRow['kind'] | null;
  agentBotId: number | null;
}

/** A verdict with its agent's name. */
export interface VerdictView extends VerdictRow {
  agentName: string | null;
}

/** A task with everything its page and `GET /api/tasks/:id` show. */
export interface TaskView {
  task: TaskRow;
  /** The current round's sub-tasks, in plan order. */
  subtasks: SubtaskView[];
  /** Sub-tasks of earlier rounds, oldest round first. */
  history: SubtaskView[];
  /** Every assignment, oldest first. */
  assignments: AssignmentView[];
  /** Every verdict, oldest first; the last is the latest. */
  verdicts: VerdictView[];
  /** The current round's sub-task outputs, `## key — description` then the output, for reading as one. */
  output: string | null;
}

/** The resources the task store works with. */
export interface TaskStoreDeps {
  db: Db;
  bus: EventBus;
  audit: AuditLog;
  rules: RedactionRules;
  now: () => number;
}

/**
 * Storage of tasks, their sub-tasks and verdicts. Every change of a task's status goes through
 * {@link TaskStore.transition}, which checks it against the state machine (task-status.ts), writes
 * it only if nobody changed the status meanwhile, audits it and announces `task.changed`.
 */
export class TaskStore {
  constructor(private readonly deps: TaskStoreDeps) {}

  /** Inserts a new task (status CREATED, round 1; owned by `v.ownerId`, default the first admin) and audits it. */
  async insert(v: { title: string; description: string; priority: TaskRow['priority']; maxRounds: number; originChat?: string | null; ownerId?: number }, actor: string): Promise<TaskRow> {
    const now = this.deps.now();
    const [inserted] = await this.deps.db
      .insert(tasks)
      .values({ ...(v.ownerId !== undefined && { ownerId: v.ownerId }), title: v.title, description: v.description, priority: v.priority, status: 'CREATED', phase: 'planning', round: 1, maxRounds: v.maxRounds, createdBy: actor, originChat: v.originChat ?? null, createdAt: now, updatedAt: now })
      .returning();
    const row = inserted!;
    await this.deps.audit.record({ taskId: row.id, actor, event: 'task.created', payload: { title: v.title, description: v.description, priority: v.priority, max_rounds: v.maxRounds } });
    this.deps.bus.emit('notice', { kind: 'task.created', message: `📋 Task #${row.id} "${this.safe(row.title)}" was created` });
    this.changed(row, 'created');
    return row;
  }

  /** @throws {AppError} TASK_NOT_FOUND */
  async get(id: number): Promise<TaskRow> {
    const [row] = Number.isSafeInteger(id) ? await this.deps.db.select().from(tasks).where(eq(tasks.id, id)) : [];
    if (!row) throw new AppError('TASK_NOT_FOUND', `No task with id ${id}.`);
    return row;
  }

  /** Tasks newest first (at most `limit`, 1..500); archived ones only with `archived`; with `ownerId`, that user's only. */
  async list(opts: { status?: TaskStatus; archived?: boolean; limit?: number; ownerId?: number } = {}): Promise<TaskRow[]> {
    const where = opts.status ? eq(tasks.status, opts.status) : opts.archived ? undefined : ne(tasks.status, 'ARCHIVED');
    return this.deps.db
      .select()
      .from(tasks)
      .where(opts.ownerId === undefined ? where : and(where, eq(tasks.ownerId, opts.ownerId)))
      .orderBy(desc(tasks.id))
      .limit(Math.min(Math.max(opts.limit ?? 100, 1), 500));
  }

  /** Tasks still working (CREATED, PLANNED, IN_PROGRESS), highest priority first, then oldest first. */
  async active(): Promise<TaskRow[]> {
    const rank = sql`case ${tasks.priority} when 'high' then 0 when 'normal' then 1 else 2 end`;
    return this.deps.db.select().from(tasks).where(inArray(tasks.status, ['CREATED', 'PLANNED', 'IN_PROGRESS'])).orderBy(rank, asc(tasks.id));
  }

  /**
   * Moves a task to `to`, with optional fields (`error`, `phase`), audited with `actor` and `reason`.
   * @returns the updated row.
   * @throws {AppError} TASK_TRANSITION_INVALID (the machine does not allow it, or the status changed meanwhile)
   */
  async transition(task: TaskRow, to: TaskStatus, actor: string, extra: { reason?: string; error?: string | null; phase?: TaskPhase } = {}): Promise<TaskRow> {
    assertTransition(task.id, task.status, to);
    const now = this.deps.now();
    const final = !TASK_STATUS_INFO[to].active;
    const set: Partial<typeof tasks.$inferInsert> = { status: to, updatedAt: now };
    if (extra.phase) set.phase = extra.phase;
    if (final) set.phase = 'done';
    if (extra.error !== undefined) set.error = extra.error;
    if (final && to !== 'ARCHIVED') set.finishedAt = now;
    if (to === 'ARCHIVED') set.archivedAt = now;
    const [row] = await this.deps.db
      .update(tasks)
      .set(set)
      .where(and(eq(tasks.id, task.id), eq(tasks.status, task.status)))
      .returning();
    if (!row) {
      const current = await this.get(task.id);
      throw new AppError('TASK_TRANSITION_INVALID', `Task #${task.id} is ${current.status} now, no longer ${task.status}; it was not moved to ${to}.`, { from: current.status, to });
    }
    await this.deps.audit.record({ taskId: task.id, actor, event: 'task.status', payload: { from: task.status, to, round: row.round, ...(extra.reason ? { reason: extra.reason } : {}) } });
    if (to === 'COMPLETED' || to === 'FAILED' || to === 'CANCELLED') {
      const level = to === 'COMPLETED' ? 'success' : to === 'FAILED' ? 'error' : 'warn';
      const why = to === 'COMPLETED' ? '' : extra.error ? ` — ${this.safe(firstLine(extra.error))}` : '';
      this.deps.bus.emit('notice', { kind: `task.${to.toLowerCase()}`, message: `📋 Task #${row.id} "${this.safe(row.title)}" ${TASK_STATUS_INFO[to].label.toLowerCase()}${why}`, level });
    }
    this.changed(row, `status:${to}`);
    return row;
  }

  /** Changes what an active task is doing (phase, round) without changing its status. */
  async update(task: TaskRow, set: { phase?: TaskPhase; round?: number }, change: string): Promise<TaskRow> {
    const [updated] = await this.deps.db
      .update(tasks)
      .set({ ...set, updatedAt: this.deps.now() })
      .where(eq(tasks.id, task.id))
      .returning();
    const row = updated!;
    this.changed(row, change);
    return row;
  }

  /** Announces that something of a task changed (a sub-task, an assignment, a verdict). */
  changed(task: TaskRow, change: string): void {
    this.deps.bus.emit('task.changed', { taskId: task.id, status: task.status, phase: task.phase, change });
  }

  /** Creates the sub-tasks of a plan for the task's current round. */
  async insertPlan(task: TaskRow, plan: Plan): Promise<SubtaskRow[]> {
    const now = this.deps.now();
    return transaction(this.deps.db, async (tx) => {
      const rows: SubtaskRow[] = [];
      for (const [i, s] of plan.subtasks.entries()) {
        const [row] = await tx
          .insert(subtasks)
          .values({ taskId: task.id, round: task.round, key: s.id, position: i, description: s.description, skills: s.skills, dependsOn: s.depends_on, status: 'pending', createdAt: now })
          .returning();
        rows.push(row!);
      }
      return rows;
    });
  }

  /**
   * Starts the next round as a redo: each sub-task of the previous round is copied; those named in
   * `redo` are pending again with the evaluator's `feedback`, the others keep their output.
   */
  async copyForRedo(task: TaskRow, previous: SubtaskRow[], redo: ReadonlySet<string>, feedback: string): Promise<void> {
    const now = this.deps.now();
    await transaction(this.deps.db, async (tx) => {
      for (const s of previous) {
        const again = redo.has(s.key);
        await tx
          .insert(subtasks)
          .values({
            taskId: task.id,
            round: task.round,
            key: s.key,
            position: s.position,
            description: s.description,
            skills: s.skills,
            dependsOn: s.dependsOn,
            status: again ? 'pending' : 'completed',
            agentId: again ? null : s.agentId,
            runId: again ? null : s.runId,
            output: again ? null : s.output,
            feedback: again ? feedback : null,
            createdAt: now,
            startedAt: again ? null : s.startedAt,
            finishedAt: again ? null : s.finishedAt,
          });
      }
    });
  }

  /** The sub-tasks of one round of a task, in plan order. */
  async subtasksOf(taskId: number, round: number): Promise<SubtaskRow[]> {
    return this.deps.db.select().from(subtasks).where(and(eq(subtasks.taskId, taskId), eq(subtasks.round, round))).orderBy(asc(subtasks.position));
  }

  /** @throws {AppError} TASK_NOT_FOUND when the sub-task is gone */
  async subtask(id: number): Promise<SubtaskRow> {
    const [row] = await this.deps.db.select().from(subtasks).where(eq(subtasks.id, id));
    if (!row) throw new AppError('TASK_NOT_FOUND', `No sub-task with id ${id}.`);
    return row;
  }

  /** Changes fields of a sub-task. */
  /**
   * Takes a pending sub-task for an agent: one conditional update, so of two processes (or two
   * steps) dispatching it at once one gets the row and the other null.
   */
  async claimSubtask(id: number, set: Partial<typeof subtasks.$inferInsert>): Promise<SubtaskRow | null> {
    const [row] = await this.deps.db
      .update(subtasks)
      .set(set)
      .where(and(eq(subtasks.id, id), eq(subtasks.status, 'pending')))
      .returning();
    return row ?? null;
  }

  async updateSubtask(id: number, set: Partial<typeof subtasks.$inferInsert>): Promise<SubtaskRow> {
    const [row] = await this.deps.db.update(subtasks).set(set).where(eq(subtasks.id, id)).returning();
    return row!;
  }

  /** Records a verdict for the task's current round. */
  async insertVerdict(task: TaskRow, agentId: number | null, v: Verdict): Promise<VerdictRow> {
    const [row] = await this.deps.db
      .insert(verdicts)
      .values({ taskId: task.id, round: task.round, agentId, verdict: v.verdict, reasons: v.reasons, redo: v.redo, createdAt: this.deps.now() })
      .returning();
    return row!;
  }

  /** The latest verdict of a task, if any. */
  async latestVerdict(taskId: number): Promise<VerdictRow | null> {
    const [row] = await this.deps.db.select().from(verdicts).where(eq(verdicts.taskId, taskId)).orderBy(desc(verdicts.id)).limit(1);
    return row ?? null;
  }

  /**
   * The task with its sub-tasks (current round and history), assignments and verdicts.
   * @throws {AppError} TASK_NOT_FOUND
   */
  async view(id: number): Promise<TaskView> {
    const task = await this.get(id);
    const db = this.deps.db;
    const agentRows = new Map((await db.select().from(agents)).map((a) => [a.id, a]));
    const agentOf = (agentId: number | null) => {
      const a = agentId === null ? undefined : agentRows.get(agentId);
      return a ? { id: a.id, name: a.name, kind: a.kind, botId: a.botId, role: a.role } : null;
    };
    const subs = (await db.select().from(subtasks).where(eq(subtasks.taskId, id)).orderBy(asc(subtasks.round), asc(subtasks.position))).map((s) => ({ ...s, agent: agentOf(s.agentId) }));
    const assignmentRows = await db.select().from(assignments).where(eq(assignments.taskId, id)).orderBy(asc(assignments.id));
    const verdictRows = await db.select().from(verdicts).where(eq(verdicts.taskId, id)).orderBy(asc(verdicts.id));
    const current = subs.filter((s) => s.round === task.round);
    const done = current.filter((s) => s.output !== null);
    return {
      task,
      subtasks: current,
      history: subs.filter((s) => s.round !== task.round),
      assignments: assignmentRows.map((a) => {
          const ag = agentOf(a.agentId);
          return { ...a, agentName: ag?.name ?? null, agentKind: ag?.kind ?? null, agentBotId: ag?.botId ?? null };
        }),
      verdicts: verdictRows.map((v) => ({ ...v, agentName: agentOf(v.agentId)?.name ?? null })),
      output: done.length ? done.map((s) => `## ${s.key} — ${s.description}\n${s.output}`).join('\n\n') : null,
    };
  }

  /** `text` with the redaction patterns applied (activity lines may be seen by anyone on the dashboard). */
  safe(text: string): string {
    return redactText(text, this.deps.rules);
  }
}

function firstLine(s: string): string {
  const l = s.split('\n')[0] ?? '';
  return l.length > 160 ? `${l.slice(0, 159)}…` : l;
}
