import { AsyncLocalStorage } from 'node:async_hooks';
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
  startRun(botId: number, req: RunRequest): Promise<RunRow>;
  /** Reads a run (`runner.get`). @throws {AppError} RUN_NOT_FOUND */
  getRun(runId: number): Promise<RunRow>;
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
  /** The step the current async flow is inside (see {@link Orchestrator.exclusive}). */
  private readonly inStep = new AsyncLocalStorage<{ open: boolean }>();
  /** The tail of the chain of steps waiting for their turn. */
  private turn: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: OrchestratorDeps) {}

  /** Picks up what a previous process left, listens to finished runs and advances every active task. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.offs.push(
      this.deps.bus.on('run.finished', (e) =>
        setImmediate(() => this.detached(() => this.guard('run.finished', () => this.exclusive(() => this.onRunFinished(e))))),
      ),
    );
    await this.exclusive(() => this.recover());
    for (const t of await this.deps.tasks.active()) this.kick(t.id);
  }

  /** Stops listening; tasks no longer advance. */
  stop(): void {
    this.running = false;
    for (const off of this.offs.splice(0)) off();
  }

  /**
   * Runs `fn` as one step of the orchestrator. Steps take turns: no two interleave their reads and
   * writes (a step reads what is stored and starts what is missing, so two at once could both
   * start it). A call from inside a step joins it (runs at once).
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.inStep.getStore()?.open) return fn();
    const step = this.turn.then(async () => {
      const state = { open: true };
      try {
        return await this.inStep.run(state, fn);
      } finally {
        state.open = false;
      }
    });
    this.turn = step.catch(() => {});
    return step;
  }

  /** Advances a task soon (coalesced: once per tick however often asked). */
  kick(taskId: number): void {
    if (!this.running || this.scheduled.has(taskId)) return;
    this.scheduled.add(taskId);
    setImmediate(() => {
      this.scheduled.delete(taskId);
      if (this.running) this.detached(() => this.guard(`advance task ${taskId}`, () => this.exclusive(() => this.advanceNow(taskId))));
    });
  }

  /** Advances every active task now (an agent came to ask for work). */
  async advanceAll(): Promise<void> {
    await this.exclusive(async () => {
      for (const t of await this.deps.tasks.active()) await this.guard(`advance task ${t.id}`, () => this.advanceNow(t.id));
    });
  }

  /** Starts what the task's current phase is missing: a planner's or evaluator's turn, executors for ready sub-tasks. */
  async advance(taskId: number): Promise<void> {
    await this.exclusive(() => this.advanceNow(taskId));
  }

  private async advanceNow(taskId: number): Promise<void> {
    const task = await this.deps.tasks.get(taskId);
    if (!TASK_STATUS_INFO[task.status].active) return;
    switch (task.phase) {
      case 'planning':
        await this.ensureTurn(task, 'plan');
        return;
      case 'executing':
        await this.dispatch(task);
        return;
      case 'evaluating':
        await this.ensureTurn(task, 'evaluate');
        return;
      case 'done':
        return;
    }
  }

  /** Gives the task's plan or evaluation to a planner or evaluator, unless one has it already. */
  private async ensureTurn(task: TaskRow, kind: 'plan' | 'evaluate'): Promise<void> {
    if ((await this.deps.assignments.activeForTask(task.id, kind)).length > 0) return;
    const agent = await this.pick(kind === 'plan' ? 'planner' : 'evaluator', [], task.ownerId);
    if (!agent) return; // waits until one is free (an external one polls, a bot is resumed)
    const input = kind === 'plan' ? await this.plannerInputFor(task) : evaluatorInput(task, await this.deps.tasks.subtasksOf(task.id, task.round));
    await this.assign(task, kind, agent, null, input);
  }

  private async plannerInputFor(task: TaskRow): Promise<string> {
    const executors = await this.deps.agents.listFor('executor', task.ownerId);
    if (task.round === 1) return plannerInput(task, executors);
    const verdict = await this.deps.tasks.latestVerdict(task.id);
    return plannerInput(task, executors, { subtasks: await this.deps.tasks.subtasksOf(task.id, task.round - 1), verdict, reasons: verdict?.reasons ?? [] });
  }

  /** Gives each ready sub-task (pending, dependencies completed) to a free executor with its skills. */
  private async dispatch(task: TaskRow): Promise<void> {
    const subs = await this.deps.tasks.subtasksOf(task.id, task.round);
    if (subs.length > 0 && subs.every((s) => s.status === 'completed')) {
      const evaluating = await this.deps.tasks.update(task, { phase: 'evaluating' }, 'phase:evaluating');
      await this.ensureTurn(evaluating, 'evaluate');
      return;
    }
    const byKey = new Map(subs.map((s) => [s.key, s]));
    let assigned = false;
    for (const s of subs) {
      if (s.status !== 'pending') continue;
      const deps = s.dependsOn.map((k) => byKey.get(k));
      if (!deps.every((d) => d?.status === 'completed')) continue;
      const agent = await this.pick('executor', s.skills, task.ownerId);
      if (!agent) continue;
      await this.assign(task, 'execute', agent, s, executorInput(task, s, deps as SubtaskRow[]));
      assigned = true;
    }
    if (assigned && task.status === 'PLANNED') await this.deps.tasks.transition(await this.deps.tasks.get(task.id), 'IN_PROGRESS', 'system', { reason: 'sub-tasks were given to executors' });
  }

  /**
   * The agent to give a turn of `role` needing `skills`: live agents holding every skill that are
   * available (a bot not paused; an external agent heard from within the lease and not busy),
   * the least loaded first, then the oldest; only bots of the task's owner (`ownerId`) or external agents.
   */
  private async pick(role: AgentRole, skills: readonly string[], ownerId: number): Promise<AgentRow | undefined> {
    const loads = await this.deps.assignments.loads();
    const fit: AgentRow[] = [];
    for (const a of await this.deps.agents.listFor(role, ownerId)) {
      if (skills.every((k) => a.skills.includes(k)) && (await this.available(a, loads.get(a.id) ?? 0))) fit.push(a);
    }
    return fit.sort((a, b) => (loads.get(a.id) ?? 0) - (loads.get(b.id) ?? 0) || a.id - b.id)[0];
  }

  private async available(a: AgentRow, load: number): Promise<boolean> {
    // An external agent does one thing at a time.
    return (await this.isOnline(a)) && (a.kind === 'bot' || load === 0);
  }

  /** `true` for a bot that is not paused, and for an external agent polling now or heard from within the lease. */
  async isOnline(a: AgentRow): Promise<boolean> {
    if (a.kind === 'bot') {
      if (a.botId === null) return false;
      try {
        return !(await this.deps.bots.get(a.botId)).paused;
      } catch {
        return false;
      }
    }
    return this.deps.assignments.isWaiting(a.id) || (a.lastSeenAt !== null && this.deps.now() - a.lastSeenAt <= this.deps.leaseMs);
  }

  /** Gives a turn to an agent: a run for a bot, an offer (woken long poll) for an external agent. */
  private async assign(task: TaskRow, kind: AssignmentKind, agent: AgentRow, subtask: SubtaskRow | null, input: string): Promise<void> {
    const external = agent.kind === 'external';
    // The sub-task first: whoever moves it out of `pending` gives it out (another process may be dispatching it too).
    if (
      subtask &&
      !(await this.deps.tasks.claimSubtask(subtask.id, {
        status: external ? 'assigned' : 'running',
        agentId: agent.id,
        runId: null,
        attempts: subtask.attempts + 1,
        startedAt: external ? null : this.deps.now(),
      }))
    ) {
      return;
    }
    const a = await this.deps.assignments.insert({ taskId: task.id, round: task.round, kind, agentId: agent.id, subtaskId: subtask?.id ?? null, input, external });
    await this.deps.audit.record({
      taskId: task.id,
      actor: 'system',
      event: 'assignment.created',
      payload: { assignment_id: a.id, kind, round: task.round, agent_id: agent.id, agent: agent.name, ...(subtask ? { subtask: subtask.key } : {}), input },
    });
    if (external) {
      this.deps.assignments.wake(agent.id);
    } else {
      try {
        const run = await this.deps.startRun(agent.botId!, { input, trigger: `task:${task.id}` });
        await this.deps.assignments.setRun(a.id, run.id);
        if (subtask) await this.deps.tasks.updateSubtask(subtask.id, { runId: run.id });
      } catch (err) {
        this.deps.log.warn({ err, taskId: task.id, agentId: agent.id }, 'could not start a swarm run');
        const settled = await this.deps.assignments.settle(a.id, 'failed', { error: err instanceof Error ? err.message : String(err) });
        if (subtask) await this.deps.tasks.updateSubtask(subtask.id, { status: 'pending', agentId: null, runId: null });
        if (settled) await this.deps.audit.record({ taskId: task.id, actor: 'system', event: 'assignment.failed', payload: { assignment_id: a.id, error: settled.error } });
      }
    }
    this.deps.tasks.changed(await this.deps.tasks.get(task.id), `assignment:${a.id}`);
  }

  // ── outcomes ────────────────────────────────────────────────────────────────────────────────

  /** A run ended: if it did a swarm turn, that turn ends with the run's output (or its plan or verdict). */
  private async onRunFinished(e: EngineEvents['run.finished']): Promise<void> {
    const a = await this.deps.assignments.byRun(e.runId);
    if (!a || a.status !== 'working') return;
    await this.settleFromRun(a, await this.deps.getRun(e.runId));
  }

  private async settleFromRun(a: AssignmentRow, run: RunRow): Promise<void> {
    const who = await this.actorOf(a.agentId);
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
    await this.settle(a, outcome, who);
  }

  /**
   * An external agent reports the outcome of its working assignment (already checked to be its own).
   * @throws {AppError} VALIDATION_FAILED (bad plan or verdict; the assignment stays the agent's),
   *   ASSIGNMENT_NOT_ACTIVE (it ended meanwhile)
   */
  async settleExternal(a: AssignmentRow, body: { status: 'completed' | 'failed'; output?: string; error?: string; plan?: unknown; verdict?: unknown }, actor: string): Promise<void> {
    await this.exclusive(async () => {
      let outcome: Outcome;
      if (body.status === 'failed') {
        outcome = { status: 'failed', error: body.error?.trim() || 'the agent reported a failure' };
      } else if (a.kind === 'execute') {
        if (body.output === undefined) throw new AppError('VALIDATION_FAILED', 'output is required to complete an execute assignment', { fields: [{ field: 'output', message: 'required' }] });
        outcome = { status: 'completed', result: { output: body.output } };
      } else if (a.kind === 'plan') {
        outcome = { status: 'completed', result: { plan: await this.checkPlan(body.plan, 'plan', (await this.deps.tasks.get(a.taskId)).ownerId) } };
      } else {
        outcome = { status: 'completed', result: { verdict: await this.checkVerdict(a, body.verdict, 'verdict') } };
      }
      if (!(await this.settle(a, outcome, actor))) throw new AppError('ASSIGNMENT_NOT_ACTIVE', `Assignment #${a.id} already ended.`);
    });
  }

  /** Returns every lease that has passed to the pool. */
  async sweepLeases(): Promise<number> {
    return this.exclusive(async () => {
      const expired = await this.deps.assignments.expired();
      const now = this.deps.now();
      for (const a of expired) await this.settle(a, { status: 'expired', error: `the lease of ${this.deps.leaseMs} ms passed without a word from the agent` }, 'system', now);
      return expired.length;
    });
  }

  /** Returns an agent's open assignments to the pool (the agent was removed). */
  async releaseAgent(agentId: number, actor: string): Promise<void> {
    await this.exclusive(async () => {
      for (const a of await this.deps.assignments.activeForAgent(agentId)) {
        if (a.runId !== null) void this.deps.cancelRun(a.runId, 'its agent was removed').catch(() => {});
        await this.settle(a, { status: 'expired', error: 'the agent was removed' }, actor);
      }
    });
  }

  /**
   * Ends an assignment and moves its task on.
   * @returns false when the assignment had already ended (nothing done).
   */
  /** @param leaseBefore for a lease's expiry: only while the lease is still past this time (epoch ms). */
  private async settle(a: AssignmentRow, outcome: Outcome, actor: string, leaseBefore?: number): Promise<boolean> {
    const settled = await this.deps.assignments.settle(a.id, outcome.status, outcome.status === 'completed' ? { result: outcome.result } : { error: outcome.error }, leaseBefore);
    if (!settled) return false;
    const task = await this.deps.tasks.get(a.taskId);
    if (outcome.status !== 'completed') {
      await this.deps.audit.record({ taskId: task.id, actor, event: outcome.status === 'expired' ? 'assignment.expired' : 'assignment.failed', payload: { assignment_id: a.id, kind: a.kind, error: outcome.error } });
    }
    // A turn of an ended task or of an earlier round changes nothing any more.
    if (!TASK_STATUS_INFO[task.status].active || a.round !== task.round || outcome.status === 'cancelled') {
      this.deps.tasks.changed(task, `assignment:${a.id}`);
      return true;
    }
    switch (a.kind) {
      case 'plan':
        if (outcome.status === 'completed') await this.planned(task, outcome.result.plan as Plan, actor);
        else if (outcome.status === 'expired') this.kick(task.id);
        else await this.roundFailed(task, [`The planner gave no plan: ${outcome.error}`], []);
        return true;
      case 'execute':
        await this.executed(task, a, outcome, actor);
        return true;
      case 'evaluate':
        if (outcome.status === 'completed') await this.judged(task, a, outcome.result.verdict as Verdict, actor);
        else if (outcome.status === 'expired') this.kick(task.id);
        else await this.roundFailed(task, [`The evaluator gave no verdict: ${outcome.error}`], []);
        return true;
    }
  }

  private async planned(task: TaskRow, plan: Plan, actor: string): Promise<void> {
    await this.deps.tasks.insertPlan(task, plan);
    await this.deps.audit.record({ taskId: task.id, actor, event: 'task.planned', payload: { round: task.round, plan } });
    await this.deps.tasks.transition(task, 'PLANNED', actor, { phase: 'executing', reason: `a plan of ${plan.subtasks.length} sub-task${plan.subtasks.length === 1 ? '' : 's'}` });
    this.kick(task.id);
  }

  private async executed(task: TaskRow, a: AssignmentRow, outcome: Outcome, actor: string): Promise<void> {
    const sub = await this.deps.tasks.subtask(a.subtaskId!);
    const now = this.deps.now();
    if (outcome.status === 'completed') {
      const output = String(outcome.result.output ?? '');
      await this.deps.tasks.updateSubtask(sub.id, { status: 'completed', output, error: null, finishedAt: now });
      await this.deps.audit.record({ taskId: task.id, actor, event: 'result', payload: { assignment_id: a.id, subtask: sub.key, output } });
    } else if (outcome.status === 'failed' && sub.attempts >= MAX_SUBTASK_ATTEMPTS) {
      await this.deps.tasks.updateSubtask(sub.id, { status: 'failed', error: outcome.error, finishedAt: now });
      await this.roundFailed(task, [`Sub-task ${sub.key} failed ${sub.attempts} times; last: ${outcome.error}`], [sub.key]);
      return;
    } else {
      // Back to the pool: a lost lease, or a failure with attempts left.
      await this.deps.tasks.updateSubtask(sub.id, { status: 'pending', agentId: null, runId: null, error: outcome.error });
    }
    this.deps.tasks.changed(task, `subtask:${sub.id}`);
    this.kick(task.id);
  }

  private async judged(task: TaskRow, a: AssignmentRow, verdict: Verdict, actor: string): Promise<void> {
    await this.deps.tasks.insertVerdict(task, a.agentId, verdict);
    await this.deps.audit.record({ taskId: task.id, actor, event: 'verdict', payload: { assignment_id: a.id, round: task.round, ...verdict } });
    if (verdict.verdict === 'pass') {
      await this.deps.tasks.transition(task, 'COMPLETED', actor, { error: null, reason: 'the evaluator passed the outputs' });
      return;
    }
    await this.roundFailed(task, verdict.reasons, verdict.redo, true);
  }

  /**
   * The current round failed: with rounds left, the next one redoes the named sub-tasks (or, with
   * none named, starts from a new plan); after the last round the task is FAILED with `reasons`.
   */
  private async roundFailed(task: TaskRow, reasons: string[], redo: string[], verdictStored = false): Promise<void> {
    if (!verdictStored) await this.deps.tasks.insertVerdict(task, null, { verdict: 'fail', reasons, redo });
    await this.cancelOpen(task, 'its round ended');
    const subs = await this.deps.tasks.subtasksOf(task.id, task.round);
    for (const s of subs) if (s.status === 'pending' || s.status === 'assigned' || s.status === 'running') await this.deps.tasks.updateSubtask(s.id, { status: 'cancelled' });
    if (task.round >= task.maxRounds) {
      await this.deps.tasks.transition(task, 'FAILED', 'system', { error: reasons.join('\n'), reason: `round ${task.round} of ${task.maxRounds} failed` });
      return;
    }
    const keys = new Set(subs.map((s) => s.key));
    const again = new Set(redo.filter((k) => keys.has(k)));
    const plannedTask = subs.length > 0;
    if (again.size > 0 && plannedTask) {
      for (const s of subs) if (s.status !== 'completed') again.add(s.key);
      const next = await this.deps.tasks.update(task, { round: task.round + 1, phase: 'executing' }, 'round');
      await this.deps.tasks.copyForRedo(next, subs, again, reasons.join('\n'));
    } else {
      await this.deps.tasks.update(task, { round: task.round + 1, phase: 'planning' }, 'round');
    }
    this.kick(task.id);
  }

  /** Ends a task's open assignments (its runs are cancelled). */
  async cancelOpen(task: TaskRow, reason: string): Promise<void> {
    await this.exclusive(async () => {
      for (const a of await this.deps.assignments.activeForTask(task.id)) {
        await this.deps.assignments.settle(a.id, 'cancelled', { error: reason });
        if (a.runId !== null) void this.deps.cancelRun(a.runId, `swarm task #${task.id}: ${reason}`).catch(() => {});
      }
    });
  }

  // ── plans and verdicts handed in by runs (RunSubmissions) ─────────────────────────────────────
  // Not steps (see exclusive): the runner asks while a step may be starting that very run.

  /** `submit_plan` for the runs of a task's planner, `submit_verdict` for its evaluator's. */
  async toolsFor(run: { id: number; botId: number; trigger: string }): Promise<string[]> {
    if (!/^task:\d+$/.test(run.trigger)) return [];
    try {
      const role = (await this.deps.agents.forBot(run.botId))?.role;
      return role === 'planner' ? ['submit_plan'] : role === 'evaluator' ? ['submit_verdict'] : [];
    } catch (err) {
      this.deps.log.error({ err, runId: run.id }, 'could not look up the swarm role of a run');
      return [];
    }
  }

  /** Takes a plan or verdict a run hands in; it counts once the run completes. @throws {AppError} with the reason the model is told */
  async accept(runId: number, kind: 'plan' | 'verdict', data: unknown): Promise<string> {
    const a = await this.deps.assignments.byRun(runId);
    if (!a || a.status !== 'working') throw new AppError('ASSIGNMENT_NOT_ACTIVE', 'This run has no open swarm assignment (its task may have ended).');
    const wanted = a.kind === 'plan' ? 'plan' : a.kind === 'evaluate' ? 'verdict' : null;
    if (kind !== wanted) throw new AppError('VALIDATION_FAILED', `This run is to ${a.kind === 'execute' ? 'do a sub-task and answer with its result' : `hand in a ${wanted}`}, not a ${kind}.`);
    if (kind === 'plan') {
      const plan = await this.checkPlan(data, '', (await this.deps.tasks.get(a.taskId)).ownerId);
      await this.deps.assignments.setResult(a.id, { plan });
      return `Plan accepted: ${plan.subtasks.length} sub-task${plan.subtasks.length === 1 ? '' : 's'} (${plan.subtasks.map((s) => s.id).join(', ')}). End your turn now with a one-line summary.`;
    }
    const verdict = await this.checkVerdict(a, data, '');
    await this.deps.assignments.setResult(a.id, { verdict });
    return `Verdict accepted: ${verdict.verdict}. End your turn now with a one-line summary.`;
  }

  /**
   * A valid plan whose skills some executor of the task's owner (`ownerId`) has.
   * @throws {AppError} VALIDATION_FAILED naming each problem (`prefix` before field paths)
   */
  private async checkPlan(data: unknown, prefix: string, ownerId: number): Promise<Plan> {
    const parsed = planSchema.safeParse(data);
    if (!parsed.success) throw validationError(prefixed(parsed.error, prefix));
    const executors = await this.deps.agents.listFor('executor', ownerId);
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
  private async checkVerdict(a: AssignmentRow, data: unknown, prefix: string): Promise<Verdict> {
    const parsed = verdictSchema.safeParse(data);
    if (!parsed.success) throw validationError(prefixed(parsed.error, prefix));
    const keys = new Set((await this.deps.tasks.subtasksOf(a.taskId, a.round)).map((s) => s.key));
    const unknown = parsed.data.redo.filter((k) => !keys.has(k));
    if (unknown.length) throw new AppError('VALIDATION_FAILED', `redo names no sub-task of this round: ${unknown.join(', ')} (they are ${[...keys].join(', ')}).`);
    return parsed.data;
  }

  // ── restart ─────────────────────────────────────────────────────────────────────────────────

  /** Turns of bots whose runs ended while the process was down (interrupted at start) end now. */
  private async recover(): Promise<void> {
    for (const task of await this.deps.tasks.active()) {
      for (const a of await this.deps.assignments.activeForTask(task.id)) {
        if (a.leaseExpiresAt !== null) continue; // external: its lease decides
        if (a.runId === null) {
          await this.settle(a, { status: 'failed', error: 'the process stopped before its run started' }, 'system');
          continue;
        }
        const run = await this.tryRun(a.runId);
        if (!run) await this.settle(a, { status: 'failed', error: `run #${a.runId} is gone` }, 'system');
        else if (isFinalRunStatus(run.status)) await this.settleFromRun(a, run);
      }
    }
  }

  private async tryRun(runId: number): Promise<RunRow | null> {
    try {
      return await this.deps.getRun(runId);
    } catch {
      return null;
    }
  }

  private async actorOf(agentId: number | null): Promise<string> {
    const a = agentId === null ? undefined : await this.deps.agents.find(agentId);
    if (!a) return 'system';
    return a.kind === 'bot' ? `bot:${a.name}` : `agent:${a.id} ${a.name}`;
  }

  /** Runs `fn`, logging (never rethrowing) what it throws. */
  private async guard(what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.deps.log.error({ err }, `swarm: ${what} failed`);
    }
  }

  /** Starts `fn` outside any step (a timer's callback would otherwise inherit the step that set it). */
  private detached(fn: () => Promise<void>): void {
    void this.inStep.exit(fn);
  }
}

/** The zod error with `prefix` before each path (the field names of the route body). */
function prefixed<E extends { issues: { path: PropertyKey[] }[] }>(error: E, prefix: string): E {
  if (prefix) for (const i of error.issues) i.path = [prefix, ...i.path];
  return error;
}
