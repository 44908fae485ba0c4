import { and, asc, count, eq, inArray, isNotNull, lt } from 'drizzle-orm';
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
  async insert(v: { taskId: number; round: number; kind: AssignmentKind; agentId: number; subtaskId: number | null; input: string; external: boolean }): Promise<AssignmentRow> {
    const now = this.opts.now();
    const [row] = await this.db
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
      .returning();
    return row!;
  }

  /** @throws {AppError} ASSIGNMENT_NOT_FOUND */
  async get(id: number): Promise<AssignmentRow> {
    const [row] = Number.isSafeInteger(id) ? await this.db.select().from(assignments).where(eq(assignments.id, id)) : [];
    if (!row) throw new AppError('ASSIGNMENT_NOT_FOUND', `No assignment with id ${id}.`);
    return row;
  }

  /** The assignment a run is doing, if any. */
  async byRun(runId: number): Promise<AssignmentRow | undefined> {
    const [row] = await this.db.select().from(assignments).where(eq(assignments.runId, runId)).limit(1);
    return row;
  }

  /** Links an enrolled bot's assignment to its run. */
  async setRun(id: number, runId: number): Promise<void> {
    await this.db.update(assignments).set({ runId }).where(eq(assignments.id, id));
  }

  /** Stores what a run handed in (plan or verdict) while it still works. */
  async setResult(id: number, result: Record<string, unknown>): Promise<void> {
    await this.db.update(assignments).set({ result }).where(and(eq(assignments.id, id), eq(assignments.status, 'working')));
  }

  /** The open (offered or working) assignments of a task, oldest first; with `kind`, only those. */
  async activeForTask(taskId: number, kind?: AssignmentKind): Promise<AssignmentRow[]> {
    const open = and(eq(assignments.taskId, taskId), inArray(assignments.status, ACTIVE));
    return this.db
      .select()
      .from(assignments)
      .where(kind ? and(open, eq(assignments.kind, kind)) : open)
      .orderBy(asc(assignments.id));
  }

  /** The open assignments of an agent, oldest first. */
  async activeForAgent(agentId: number): Promise<AssignmentRow[]> {
    return this.db.select().from(assignments).where(and(eq(assignments.agentId, agentId), inArray(assignments.status, ACTIVE))).orderBy(asc(assignments.id));
  }

  /** Open assignments per agent id. */
  async loads(): Promise<Map<number, number>> {
    const rows = await this.db
      .select({ agentId: assignments.agentId, n: count() })
      .from(assignments)
      .where(and(inArray(assignments.status, ACTIVE), isNotNull(assignments.agentId)))
      .groupBy(assignments.agentId);
    return new Map(rows.map((r) => [r.agentId!, r.n]));
  }

  /**
   * The agent takes its oldest offered assignment: it becomes `working`, its lease renewed.
   * @returns the assignment, or undefined when none is offered to the agent.
   */
  async claimNext(agentId: number): Promise<AssignmentRow | undefined> {
    const now = this.opts.now();
    const [next] = await this.db
      .select()
      .from(assignments)
      .where(and(eq(assignments.agentId, agentId), eq(assignments.status, 'offered')))
      .orderBy(asc(assignments.id))
      .limit(1);
    if (!next) return undefined;
    const [claimed] = await this.db
      .update(assignments)
      .set({ status: 'working', startedAt: now, leaseExpiresAt: now + this.opts.leaseMs })
      .where(and(eq(assignments.id, next.id), eq(assignments.status, 'offered')))
      .returning();
    return claimed;
  }

  /** Renews the leases of an agent's open assignments; returns them. */
  async renew(agentId: number): Promise<AssignmentRow[]> {
    const until = this.opts.now() + this.opts.leaseMs;
    return this.db
      .update(assignments)
      .set({ leaseExpiresAt: until })
      .where(and(eq(assignments.agentId, agentId), inArray(assignments.status, ACTIVE), isNotNull(assignments.leaseExpiresAt)))
      .returning();
  }

  /**
   * Ends an open assignment with `status` and fields.
   * @returns the row, or undefined when it had already ended (nothing is changed then).
   */
  async settle(
    id: number,
    status: Exclude<AssignmentStatus, 'offered' | 'working'>,
    fields: { result?: Record<string, unknown> | null; error?: string | null } = {},
    /** Only while the lease is still past this time (epoch ms): a lease renewed meanwhile (on another process) stays. */
    leaseBefore?: number,
  ): Promise<AssignmentRow | undefined> {
    const [row] = await this.db
      .update(assignments)
      .set({ status, finishedAt: this.opts.now(), ...(fields.result !== undefined ? { result: fields.result } : {}), ...(fields.error !== undefined ? { error: fields.error } : {}) })
      .where(and(eq(assignments.id, id), inArray(assignments.status, ACTIVE), leaseBefore === undefined ? undefined : lt(assignments.leaseExpiresAt, leaseBefore)))
      .returning();
    return row;
  }

  /** Open assignments whose lease has passed. */
  async expired(): Promise<AssignmentRow[]> {
    return this.db
      .select()
      .from(assignments)
      .where(and(inArray(assignments.status, ACTIVE), isNotNull(assignments.leaseExpiresAt), lt(assignments.leaseExpiresAt, this.opts.now())))
      .orderBy(asc(assignments.id));
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
