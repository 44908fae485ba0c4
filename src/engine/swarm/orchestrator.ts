import type { Logger } from 'pino';
import { validationError, type BotService } from '../bots.ts';
import type { AgentRow, AssignmentRow, RunRow, SubtaskRow, TaskRow } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import type { EngineEvents, EventBus } from '../event-bus.ts';
import { isFinalRunStatus } from '../run-status.ts';
import type { RunSubmissions } from '../runner/protocol.ts';
import type { RunRequest } from '../runner/runner.ts';
import type { AgentService } from './agents.ts';
import type { AssignmentStore } from './assignments.ts';
import type { AuditLog } from './audit.ts';
import { evaluatorInput, executorInput, plannerInput } from './role-inputs.ts';
import { planSchema, verdictSchema, type AgentRole, type Plan, type Verdict } from './schemas.ts';
import { TASK_STATUS_INFO, type AssignmentKind } from './task-status.ts';
import type { TaskStore } from './tasks.ts';

/** How many times a sub-task is given to an executor before its failure fails the round. */
export const MAX_SUBTASK_ATTEMPTS = 3;

/** The resources the orchestrator works with. */
export interface OrchestratorDeps {
  bus: EventBus;
  bots: BotService;
  tasks: TaskStore;
  assignments: AssignmentStore;
  agents: AgentService;
  audit: AuditLog;
  /** Queues a run (the engine's `startRun`). */
  startRun(botId: number, req: RunRequest): RunRow;
  /** Reads a run (`runner.get`). @throws {AppError} RUN_NOT_FOUND */
  getRun(runId: number): RunRow;
  /** Cancels a queued or running run (`runner.cancel`). */
  cancelRun(runId: number, reason: string): Promise<unknown>;
  log: Logger;
  now: () => number;
  leaseMs: number;
}

/** The outcome of an assignment, as an agent or a run reports it. */
type Outcome =
  | { status: 'completed'; result: Record<string, unknown> }
  | { status: 'failed' | 'expired' | 'cancelled'; error: string };

/**
 * Moves swarm tasks along (seed 004's "central orchestrator"): asks a planner for a plan, gives
 * ready sub-tasks to executors whose skills match (in parallel where their dependencies allow),
 * asks an evaluator for a verdict, and on a failing verdict redoes sub-tasks or re-plans up to
 * the task's `max_rounds`, then fails it with the evaluator's reasons.
 *
 * It hears about finished runs on the bus (`run.finished`, handled later, never inside the
 * runner's call stack) and reads the run itself; external agents report through `settleExternal`.
 * Each task's next step is computed by {@link Orchestrator.advance}, which is idempotent: it looks
 * at what is stored and starts what is missing, so a restart or a repeated event does no harm.
 */
export class Orchestrator implements RunSubmissions {
  private readonly offs: (() => void)[] = [];
  private readonly scheduled = new Set<number>();
  private running = false;

  constructor(private readonly deps: OrchestratorDeps) {}

  /** Picks up what a previous process left, listens to finished runs and advances every active task. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.offs.push(this.deps.bus.on('run.finished', (e) => setImmediate(() => this.guard('run.finished', () => this.onRunFinished(e)))));
    this.recover();
    for (const t of this.deps.tasks.active()) this.kick(t.id);
  }

  /** Stops listening; tasks no longer advance. */
  stop(): void {
    this.running = false;
    for (const off of this.offs.splice(0)) off();
  }

  /** Advances a task soon (coalesced: once per tick however often asked). */
  kick(taskId: number): void {
    if (!this.running || this.scheduled.has(taskId)) return;
    this.scheduled.add(taskId);
    setImmediate(() => {
      this.scheduled.delete(taskId);
      if (this.running) this.guard(`advance task ${taskId}`, () => this.advance(taskId));
    });
  }

  /** Advances every active task now (an agent came to ask for work). */
  advanceAll(): void {
    for (const t of this.deps.tasks.active()) this.guard(`advance task ${t.id}`, () => this.advance(t.id));
  }

  /** Starts what the task's current phase is missing: a planner's or evaluator's turn, executors for ready sub-tasks. */
  advance(taskId: number): void {
    const task = this.deps.tasks.get(taskId);
    if (!TASK_STATUS_INFO[task.status].active) return;
    switch (task.phase) {
      case 'planning':
        this.ensureTurn(task, 'plan');
        return;
      case 'executing':
        this.dispatch(task);
        return;
      case 'evaluating':
        this.ensureTurn(task, 'evaluate');
        return;
      case 'done':
        return;
    }
  }

  /** Gives the task's plan or evaluation to a planner or evaluator, unless one has it already. */
  private ensureTurn(task: TaskRow, kind: 'plan' | 'evaluate'): void {
    if (this.deps.assignments.activeForTask(task.id, kind).length > 0) return;
    const agent = this.pick(kind === 'plan' ? 'planner' : 'evaluator', [], task.ownerId);
    if (!agent) return; // waits until one is free (an external one polls, a bot is resumed)
    const input = kind === 'plan' ? this.plannerInputFor(task) : evaluatorInput(task, this.deps.tasks.subtasksOf(task.id, task.round));
    this.assign(task, kind, agent, null, input);
  }

  private plannerInputFor(task: TaskRow): string {
    const executors = this.deps.agents.listFor('executor', task.ownerId);
    if (task.round === 1) return plannerInput(task, executors);
    const verdict = this.deps.tasks.latestVerdict(task.id);
    return plannerInput(task, executors, { subtasks: this.deps.tasks.subtasksOf(task.id, task.round - 1), verdict, reasons: verdict?.reasons ?? [] });
  }

  /** Gives each ready sub-task (pending, dependencies completed) to a free executor with its skills. */
  private dispatch(task: TaskRow): void {
    const subs = this.deps.tasks.subtasksOf(task.id, task.round);
    if (subs.length > 0 && subs.every((s) => s.status === 'completed')) {
      const evaluating = this.deps.tasks.update(task, { phase: 'evaluating' }, 'phase:evaluating');
      this.ensureTurn(evaluating, 'evaluate');
      return;
    }
    const byKey = new Map(subs.map((s) => [s.key, s]));
    let assigned = false;
    for (const s of subs) {
      if (s.status !== 'pending') continue;
      const deps = s.dependsOn.map((k) => byKey.get(k));
      if (!deps.every((d) => d?.status === 'completed')) continue;
      const agent = this.pick('executor', s.skills, task.ownerId);
      if (!agent) continue;
      this.assign(task, 'execute', agent, s, executorInput(task, s, deps as SubtaskRow[]));
      assigned = true;
    }
    if (assigned && task.status === 'PLANNED') this.deps.tasks.transition(this.deps.tasks.get(task.id), 'IN_PROGRESS', 'system', { reason: 'sub-tasks were given to executors' });
  }

  /**
   * The agent to give a turn of `role` needing `skills`: live agents holding every skill that are
   * available (a bot not paused; an external agent heard from within the lease and not busy),
   * the least loaded first, then the oldest; only bots of the task's owner (`ownerId`) or external agents.
   */
  private pick(role: AgentRole, skills: readonly string[], ownerId: number): AgentRow | undefined {
    const loads = this.deps.assignments.loads();
    return this.deps.agents
      .listFor(role, ownerId)
      .filter((a) => skills.every((k) => a.skills.includes(k)) && this.available(a, loads.get(a.id) ?? 0))
      .sort((a, b) => (loads.get(a.id) ?? 0) - (loads.get(b.id) ?? 0) || a.id - b.id)[0];
  }

  private available(a: AgentRow, load: number): boolean {
    // An external agent does one thing at a time.
    return this.isOnline(a) && (a.kind === 'bot' || load === 0);
  }

  /** `true` for a bot that is not paused, and for an external agent polling now or heard from within the lease. */
  isOnline(a: AgentRow): boolean {
    if (a.kind === 'bot') {
      if (a.botId === null) return false;
      try {
        return !this.deps.bots.get(a.botId).paused;
      } catch {
        return false;
      }
    }
    return this.deps.assignments.isWaiting(a.id) || (a.lastSeenAt !== null && this.deps.now() - a.lastSeenAt <= this.deps.leaseMs);
  }

  /** Gives a turn to an agent: a run for a bot, an offer (woken long poll) for an external agent. */
  private assign(task: TaskRow, kind: AssignmentKind, agent: AgentRow, subtask: SubtaskRow | null, input: string): void {
    const external = agent.kind === 'external';
    const a = this.deps.assignments.insert({ taskId: task.id, round: task.round, kind, agentId: agent.id, subtaskId: subtask?.id ?? null, input, external });
    this.deps.audit.record({
      taskId: task.id,
      actor: 'system',
      event: 'assignment.created',
      payload: { assignment_id: a.id, kind, round: task.round, agent_id: agent.id, agent: agent.name, ...(subtask ? { subtask: subtask.key } : {}), input },
    });
    if (subtask) {
      this.deps.tasks.updateSubtask(subtask.id, {
        status: external ? 'assigned' : 'running',
        agentId: agent.id,
        runId: null,
        attempts: subtask.attempts + 1,
        startedAt: external ? null : this.deps.now(),
      });
    }
    if (external) {
      this.deps.assignments.wake(agent.id);
    } else {
      try {
        const run = this.deps.startRun(agent.botId!, { input, trigger: `task:${task.id}` });
        this.deps.assignments.setRun(a.id, run.id);
        if (subtask) this.deps.tasks.updateSubtask(subtask.id, { runId: run.id });
      } catch (err) {
        this.deps.log.warn({ err, taskId: task.id, agentId: agent.id }, 'could not start a swarm run');
        const settled = this.deps.assignments.settle(a.id, 'failed', { error: err instanceof Error ? err.message : String(err) });
        if (subtask) this.deps.tasks.updateSubtask(subtask.id, { status: 'pending', agentId: null, runId: null });
        if (settled) this.deps.audit.record({ taskId: task.id, actor: 'system', event: 'assignment.failed', payload: { assignment_id: a.id, error: settled.error } });
      }
    }
    this.deps.tasks.changed(this.deps.tasks.get(task.id), `assignment:${a.id}`);
  }

  // ── outcomes ────────────────────────────────────────────────────────────────────────────────

  /** A run ended: if it did a swarm turn, that turn ends with the run's output (or its plan or verdict). */
  private onRunFinished(e: EngineEvents['run.finished']): void {
    const a = this.deps.assignments.byRun(e.runId);
    if (!a || a.status !== 'working') return;
    this.settleFromRun(a, this.deps.getRun(e.runId));
  }

  private settleFromRun(a: AssignmentRow, run: RunRow): void {
    const who = this.actorOf(a.agentId);
    let outcome: Outcome;
    if (run.status === 'interrupted') {
      // A restart is nobody's failure: the turn goes back to the pool, no round is lost.
      outcome = { status: 'expired', error: `run #${run.id} was interrupted: ${run.error ?? 'the process stopped'}` };
    } else if (run.status !== 'completed') {
      outcome = { status: 'failed', error: `run #${run.id} ${run.status}${run.error ? `: ${run.error}` : ''}` };
    } else if (a.kind === 'execute') {
      outcome = { status: 'completed', result: { output: run.output ?? '' } };
    } else {
      const field = a.kind === 'plan' ? 'plan' : 'verdict';
      outcome = a.result?.[field]
        ? { status: 'completed', result: a.result }
        : { status: 'failed', error: `run #${run.id} ended without calling ${a.kind === 'plan' ? 'submit_plan' : 'submit_verdict'}` };
    }
    this.settle(a, outcome, who);
  }

  /**
   * An external agent reports the outcome of its working assignment (already checked to be its own).
   * @throws {AppError} VALIDATION_FAILED (bad plan or verdict; the assignment stays the agent's),
   *   ASSIGNMENT_NOT_ACTIVE (it ended meanwhile)
   */
  settleExternal(a: AssignmentRow, body: { status: 'completed' | 'failed'; output?: string; error?: string; plan?: unknown; verdict?: unknown }, actor: string): void {
    let outcome: Outcome;
    if (body.status === 'failed') {
      outcome = { status: 'failed', error: body.error?.trim() || 'the agent reported a failure' };
    } else if (a.kind === 'execute') {
      if (body.output === undefined) throw new AppError('VALIDATION_FAILED', 'output is required to complete an execute assignment', { fields: [{ field: 'output', message: 'required' }] });
      outcome = { status: 'completed', result: { output: body.output } };
    } else if (a.kind === 'plan') {
      outcome = { status: 'completed', result: { plan: this.checkPlan(body.plan, 'plan', this.deps.tasks.get(a.taskId).ownerId) } };
    } else {
      outcome = { status: 'completed', result: { verdict: this.checkVerdict(a, body.verdict, 'verdict') } };
    }
    if (!this.settle(a, outcome, actor)) throw new AppError('ASSIGNMENT_NOT_ACTIVE', `Assignment #${a.id} already ended.`);
  }

  /** Returns every lease that has passed to the pool. */
  sweepLeases(): number {
    const expired = this.deps.assignments.expired();
    for (const a of expired) this.settle(a, { status: 'expired', error: `the lease of ${this.deps.leaseMs} ms passed without a word from the agent` }, 'system');
    return expired.length;
  }

  /** Returns an agent's open assignments to the pool (the agent was removed). */
  releaseAgent(agentId: number, actor: string): void {
    for (const a of this.deps.assignments.activeForAgent(agentId)) {
      if (a.runId !== null) void this.deps.cancelRun(a.runId, 'its agent was removed').catch(() => {});
      this.settle(a, { status: 'expired', error: 'the agent was removed' }, actor);
    }
  }

  /**
   * Ends an assignment and moves its task on.
   * @returns false when the assignment had already ended (nothing done).
   */
  private settle(a: AssignmentRow, outcome: Outcome, actor: string): boolean {
    const settled = this.deps.assignments.settle(a.id, outcome.status, outcome.status === 'completed' ? { result: outcome.result } : { error: outcome.error });
    if (!settled) return false;
    const task = this.deps.tasks.get(a.taskId);
    if (outcome.status !== 'completed') {
      this.deps.audit.record({ taskId: task.id, actor, event: outcome.status === 'expired' ? 'assignment.expired' : 'assignment.failed', payload: { assignment_id: a.id, kind: a.kind, error: outcome.error } });
    }
    // A turn of an ended task or of an earlier round changes nothing any more.
    if (!TASK_STATUS_INFO[task.status].active || a.round !== task.round || outcome.status === 'cancelled') {
      this.deps.tasks.changed(task, `assignment:${a.id}`);
      return true;
    }
    switch (a.kind) {
      case 'plan':
        if (outcome.status === 'completed') this.planned(task, outcome.result.plan as Plan, actor);
        else if (outcome.status === 'expired') this.kick(task.id);
        else this.roundFailed(task, [`The planner gave no plan: ${outcome.error}`], []);
        return true;
      case 'execute':
        this.executed(task, a, outcome, actor);
        return true;
      case 'evaluate':
        if (outcome.status === 'completed') this.judged(task, a, outcome.result.verdict as Verdict, actor);
        else if (outcome.status === 'expired') this.kick(task.id);
        else this.roundFailed(task, [`The evaluator gave no verdict: ${outcome.error}`], []);
        return true;
    }
  }

  private planned(task: TaskRow, plan: Plan, actor: string): void {
    this.deps.tasks.insertPlan(task, plan);
    this.deps.audit.record({ taskId: task.id, actor, event: 'task.planned', payload: { round: task.round, plan } });
    this.deps.tasks.transition(task, 'PLANNED', actor, { phase: 'executing', reason: `a plan of ${plan.subtasks.length} sub-task${plan.subtasks.length === 1 ? '' : 's'}` });
    this.kick(task.id);
  }

  private executed(task: TaskRow, a: AssignmentRow, outcome: Outcome, actor: string): void {
    const sub = this.deps.tasks.subtask(a.subtaskId!);
    const now = this.deps.now();
    if (outcome.status === 'completed') {
      const output = String(outcome.result.output ?? '');
      this.deps.tasks.updateSubtask(sub.id, { status: 'completed', output, error: null, finishedAt: now });
      this.deps.audit.record({ taskId: task.id, actor, event: 'result', payload: { assignment_id: a.id, subtask: sub.key, output } });
    } else if (outcome.status === 'failed' && sub.attempts >= MAX_SUBTASK_ATTEMPTS) {
      this.deps.tasks.updateSubtask(sub.id, { status: 'failed', error: outcome.error, finishedAt: now });
      this.roundFailed(task, [`Sub-task ${sub.key} failed ${sub.attempts} times; last: ${outcome.error}`], [sub.key]);
      return;
    } else {
      // Back to the pool: a lost lease, or a failure with attempts left.
      this.deps.tasks.updateSubtask(sub.id, { status: 'pending', agentId: null, runId: null, error: outcome.error });
    }
    this.deps.tasks.changed(task, `subtask:${sub.id}`);
    this.kick(task.id);
  }

  private judged(task: TaskRow, a: AssignmentRow, verdict: Verdict, actor: string): void {
    this.deps.tasks.insertVerdict(task, a.agentId, verdict);
    this.deps.audit.record({ taskId: task.id, actor, event: 'verdict', payload: { assignment_id: a.id, round: task.round, ...verdict } });
    if (verdict.verdict === 'pass') {
      this.deps.tasks.transition(task, 'COMPLETED', actor, { error: null, reason: 'the evaluator passed the outputs' });
      return;
    }
    this.roundFailed(task, verdict.reasons, verdict.redo, true);
  }

  /**
   * The current round failed: with rounds left, the next one redoes the named sub-tasks (or, with
   * none named, starts from a new plan); after the last round the task is FAILED with `reasons`.
   */
  private roundFailed(task: TaskRow, reasons: string[], redo: string[], verdictStored = false): void {
    if (!verdictStored) this.deps.tasks.insertVerdict(task, null, { verdict: 'fail', reasons, redo });
    this.cancelOpen(task, 'its round ended');
    const subs = this.deps.tasks.subtasksOf(task.id, task.round);
    for (const s of subs) if (s.status === 'pending' || s.status === 'assigned' || s.status === 'running') this.deps.tasks.updateSubtask(s.id, { status: 'cancelled' });
    if (task.round >= task.maxRounds) {
      this.deps.tasks.transition(task, 'FAILED', 'system', { error: reasons.join('\n'), reason: `round ${task.round} of ${task.maxRounds} failed` });
      return;
    }
    const keys = new Set(subs.map((s) => s.key));
    const again = new Set(redo.filter((k) => keys.has(k)));
    const plannedTask = subs.length > 0;
    if (again.size > 0 && plannedTask) {
      for (const s of subs) if (s.status !== 'completed') again.add(s.key);
      const next = this.deps.tasks.update(task, { round: task.round + 1, phase: 'executing' }, 'round');
      this.deps.tasks.copyForRedo(next, subs, again, reasons.join('\n'));
    } else {
      this.deps.tasks.update(task, { round: task.round + 1, phase: 'planning' }, 'round');
    }
    this.kick(task.id);
  }

  /** Ends a task's open assignments (its runs are cancelled). */
  cancelOpen(task: TaskRow, reason: string): void {
    for (const a of this.deps.assignments.activeForTask(task.id)) {
      this.deps.assignments.settle(a.id, 'cancelled', { error: reason });
      if (a.runId !== null) void this.deps.cancelRun(a.runId, `swarm task #${task.id}: ${reason}`).catch(() => {});
    }
  }

  // ── plans and verdicts handed in by runs (RunSubmissions) ─────────────────────────────────────

  /** `submit_plan` for the runs of a task's planner, `submit_verdict` for its evaluator's. */
  toolsFor(run: { id: number; botId: number; trigger: string }): string[] {
    if (!/^task:\d+$/.test(run.trigger)) return [];
    try {
      const role = this.deps.agents.forBot(run.botId)?.role;
      return role === 'planner' ? ['submit_plan'] : role === 'evaluator' ? ['submit_verdict'] : [];
    } catch (err) {
      this.deps.log.error({ err, runId: run.id }, 'could not look up the swarm role of a run');
      return [];
    }
  }

  /** Takes a plan or verdict a run hands in; it counts once the run completes. @throws {AppError} with the reason the model is told */
  accept(runId: number, kind: 'plan' | 'verdict', data: unknown): string {
    const a = this.deps.assignments.byRun(runId);
    if (!a || a.status !== 'working') throw new AppError('ASSIGNMENT_NOT_ACTIVE', 'This run has no open swarm assignment (its task may have ended).');
    const wanted = a.kind === 'plan' ? 'plan' : a.kind === 'evaluate' ? 'verdict' : null;
    if (kind !== wanted) throw new AppError('VALIDATION_FAILED', `This run is to ${a.kind === 'execute' ? 'do a sub-task and answer with its result' : `hand in a ${wanted}`}, not a ${kind}.`);
    if (kind === 'plan') {
      const plan = this.checkPlan(data, '', this.deps.tasks.get(a.taskId).ownerId);
      this.deps.assignments.setResult(a.id, { plan });
      return `Plan accepted: ${plan.subtasks.length} sub-task${plan.subtasks.length === 1 ? '' : 's'} (${plan.subtasks.map((s) => s.id).join(', ')}). End your turn now with a one-line summary.`;
    }
    const verdict = this.checkVerdict(a, data, '');
    this.deps.assignments.setResult(a.id, { verdict });
    return `Verdict accepted: ${verdict.verdict}. End your turn now with a one-line summary.`;
  }

  /**
   * A valid plan whose skills some executor of the task's owner (`ownerId`) has.
   * @throws {AppError} VALIDATION_FAILED naming each problem (`prefix` before field paths)
   */
  private checkPlan(data: unknown, prefix: string, ownerId: number): Plan {
    const parsed = planSchema.safeParse(data);
    if (!parsed.success) throw validationError(prefixed(parsed.error, prefix));
    const executors = this.deps.agents.listFor('executor', ownerId);
    const known = [...new Set(executors.flatMap((e) => e.skills))].sort();
    const problems = parsed.data.subtasks
      .filter((s) => !executors.some((e) => s.skills.every((k) => e.skills.includes(k))))
      .map((s) => `no executor has the skills ${s.skills.join(', ')} of sub-task ${s.id}`);
    if (problems.length) {
      throw new AppError('VALIDATION_FAILED', `${problems.join('; ')}. Skills the executors have: ${known.length ? known.join(', ') : 'none (use no skills)'}.`);
    }
    return parsed.data;
  }

  /** @throws {AppError} VALIDATION_FAILED (bad verdict, or `redo` naming no sub-task of the round) */
  private checkVerdict(a: AssignmentRow, data: unknown, prefix: string): Verdict {
    const parsed = verdictSchema.safeParse(data);
    if (!parsed.success) throw validationError(prefixed(parsed.error, prefix));
    const keys = new Set(this.deps.tasks.subtasksOf(a.taskId, a.round).map((s) => s.key));
    const unknown = parsed.data.redo.filter((k) => !keys.has(k));
    if (unknown.length) throw new AppError('VALIDATION_FAILED', `redo names no sub-task of this round: ${unknown.join(', ')} (they are ${[...keys].join(', ')}).`);
    return parsed.data;
  }

  // ── restart ─────────────────────────────────────────────────────────────────────────────────

  /** Turns of bots whose runs ended while the process was down (interrupted at start) end now. */
  private recover(): void {
    for (const task of this.deps.tasks.active()) {
      for (const a of this.deps.assignments.activeForTask(task.id)) {
        if (a.leaseExpiresAt !== null) continue; // external: its lease decides
        if (a.runId === null) {
          this.settle(a, { status: 'failed', error: 'the process stopped before its run started' }, 'system');
          continue;
        }
        const run = this.tryRun(a.runId);
        if (!run) this.settle(a, { status: 'failed', error: `run #${a.runId} is gone` }, 'system');
        else if (isFinalRunStatus(run.status)) this.settleFromRun(a, run);
      }
    }
  }

  private tryRun(runId: number): RunRow | null {
    try {
      return this.deps.getRun(runId);
    } catch {
      return null;
    }
  }

  private actorOf(agentId: number | null): string {
    const a = agentId === null ? undefined : this.deps.agents.find(agentId);
    if (!a) return 'system';
    return a.kind === 'bot' ? `bot:${a.name}` : `agent:${a.id} ${a.name}`;
  }

  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.deps.log.error({ err }, `swarm: ${what} failed`);
    }
  }
}

/** The zod error with `prefix` before each path (the field names of the route body). */
function prefixed<E extends { issues: { path: PropertyKey[] }[] }>(error: E, prefix: string): E {
  if (prefix) for (const i of error.issues) i.path = [prefix, ...i.path];
  return error;
}
