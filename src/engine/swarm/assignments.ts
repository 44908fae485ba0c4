import { and, asc, eq, inArray, isNotNull, lt, sql } from 'drizzle-orm';
import type { Db } from '../db/database.ts';
import { assignments, type AssignmentRow } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import type { AssignmentKind, AssignmentStatus } from './task-status.ts';

const ACTIVE: AssignmentStatus[] = ['offered', 'working'];

/**
 * Assignments and their leases. An external agent's assignment is `offered` until the agent
 * polls for it, then `working`; either way it carries a lease (`lease_expires_at`) that every
 * poll, heartbeat or result of the agent renews. When it passes, {@link AssignmentStore.expired}
 * finds it and the orchestrator returns the work to the pool. An enrolled bot's assignment is a
 * run: `working` from the start, without lease (the runner's timeout bounds it).
 *
 * Agents waiting in a long poll are woken through {@link AssignmentStore.wake}.
 */
export class AssignmentStore {
  private readonly waiters = new Map<number, Set<() => void>>();

  constructor(
    private readonly db: Db,
    private readonly opts: { leaseMs: number; now: () => number },
  ) {}

  /** Inserts an assignment: `offered` with a lease for an external agent, `working` for a bot. */
  insert(v: { taskId: number; round: number; kind: AssignmentKind; agentId: number; subtaskId: number | null; input: string; external: boolean }): AssignmentRow {
    const now = this.opts.now();
    return this.db
      .insert(assignments)
      .values({
        taskId: v.taskId,
        round: v.round,
        kind: v.kind,
        agentId: v.agentId,
        subtaskId: v.subtaskId,
        input: v.input,
        status: v.external ? 'offered' : 'working',
        leaseExpiresAt: v.external ? now + this.opts.leaseMs : null,
        createdAt: now,
        startedAt: v.external ? null : now,
      })
      .returning()
      .get();
  }

  /** @throws {AppError} ASSIGNMENT_NOT_FOUND */
  get(id: number): AssignmentRow {
    const row = Number.isSafeInteger(id) ? this.db.select().from(assignments).where(eq(assignments.id, id)).get() : undefined;
    if (!row) throw new AppError('ASSIGNMENT_NOT_FOUND', `No assignment with id ${id}.`);
    return row;
  }

  /** The assignment a run is doing, if any. */
  byRun(runId: number): AssignmentRow | undefined {
    return this.db.select().from(assignments).where(eq(assignments.runId, runId)).get();
  }

  /** Links an enrolled bot's assignment to its run. */
  setRun(id: number, runId: number): void {
    this.db.update(assignments).set({ runId }).where(eq(assignments.id, id)).run();
  }

  /** Stores what a run handed in (plan or verdict) while it still works. */
  setResult(id: number, result: Record<string, unknown>): void {
    this.db.update(assignments).set({ result }).where(and(eq(assignments.id, id), eq(assignments.status, 'working'))).run();
  }

  /** The open (offered or working) assignments of a task, oldest first; with `kind`, only those. */
  activeForTask(taskId: number, kind?: AssignmentKind): AssignmentRow[] {
    const open = and(eq(assignments.taskId, taskId), inArray(assignments.status, ACTIVE));
    return this.db
      .select()
      .from(assignments)
      .where(kind ? and(open, eq(assignments.kind, kind)) : open)
      .orderBy(asc(assignments.id))
      .all();
  }

  /** The open assignments of an agent, oldest first. */
  activeForAgent(agentId: number): AssignmentRow[] {
    return this.db.select().from(assignments).where(and(eq(assignments.agentId, agentId), inArray(assignments.status, ACTIVE))).orderBy(asc(assignments.id)).all();
  }

  /** Open assignments per agent id. */
  loads(): Map<number, number> {
    const rows = this.db
      .select({ agentId: assignments.agentId, n: sql<number>`count(*)` })
      .from(assignments)
      .where(and(inArray(assignments.status, ACTIVE), isNotNull(assignments.agentId)))
      .groupBy(assignments.agentId)
      .all();
    return new Map(rows.map((r) => [r.agentId!, r.n]));
  }

  /**
   * The agent takes its oldest offered assignment: it becomes `working`, its lease renewed.
   * @returns the assignment, or undefined when none is offered to the agent.
   */
  claimNext(agentId: number): AssignmentRow | undefined {
    const now = this.opts.now();
    const next = this.db
      .select()
      .from(assignments)
      .where(and(eq(assignments.agentId, agentId), eq(assignments.status, 'offered')))
      .orderBy(asc(assignments.id))
      .limit(1)
      .get();
    if (!next) return undefined;
    return this.db
      .update(assignments)
      .set({ status: 'working', startedAt: now, leaseExpiresAt: now + this.opts.leaseMs })
      .where(and(eq(assignments.id, next.id), eq(assignments.status, 'offered')))
      .returning()
      .get();
  }

  /** Renews the leases of an agent's open assignments; returns them. */
  renew(agentId: number): AssignmentRow[] {
    const until = this.opts.now() + this.opts.leaseMs;
    return this.db
      .update(assignments)
      .set({ leaseExpiresAt: until })
      .where(and(eq(assignments.agentId, agentId), inArray(assignments.status, ACTIVE), isNotNull(assignments.leaseExpiresAt)))
      .returning()
      .all();
  }

  /**
   * Ends an open assignment with `status` and fields.
   * @returns the row, or undefined when it had already ended (nothing is changed then).
   */
  settle(id: number, status: Exclude<AssignmentStatus, 'offered' | 'working'>, fields: { result?: Record<string, unknown> | null; error?: string | null } = {}): AssignmentRow | undefined {
    return this.db
      .update(assignments)
      .set({ status, finishedAt: this.opts.now(), ...(fields.result !== undefined ? { result: fields.result } : {}), ...(fields.error !== undefined ? { error: fields.error } : {}) })
      .where(and(eq(assignments.id, id), inArray(assignments.status, ACTIVE)))
      .returning()
      .get();
  }

  /** Open assignments whose lease has passed. */
  expired(): AssignmentRow[] {
    return this.db
      .select()
      .from(assignments)
      .where(and(inArray(assignments.status, ACTIVE), isNotNull(assignments.leaseExpiresAt), lt(assignments.leaseExpiresAt, this.opts.now())))
      .orderBy(asc(assignments.id))
      .all();
  }

  /** Wakes the long polls of `agentId` (something was offered to it). */
  wake(agentId: number): void {
    const set = this.waiters.get(agentId);
    if (!set) return;
    this.waiters.delete(agentId);
    for (const w of set) w();
  }

  /** Resolves after `ms`, when the agent is woken, or when `signal` aborts (the client went away). */
  wait(agentId: number, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiters.get(agentId);
      if (!set) this.waiters.set(agentId, (set = new Set()));
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.waiters.get(agentId)?.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      set.add(done);
    });
  }

  /** `true` while the agent has a long poll open. */
  isWaiting(agentId: number): boolean {
    return (this.waiters.get(agentId)?.size ?? 0) > 0;
  }

  /** Ends every long poll (at shutdown). */
  wakeAll(): void {
    for (const id of [...this.waiters.keys()]) this.wake(id);
  }
}
