import { FIRST_ADMIN_ID } from '../access.ts';
import type { Caller } from '../access.ts';
import type { Logger } from 'pino';
import { validationError, type BotService } from '../bots.ts';
import type { Config } from '../../config.ts';
import type { Db } from '../db/database.ts';
import type { AgentRow, AssignmentRow, RunRow, TaskRow } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import type { EventBus } from '../event-bus.ts';
import type { Runner, RunRequest } from '../runner/runner.ts';
import { AgentService } from './agents.ts';
import { ApiKeyService } from './api-keys.ts';
import { AssignmentStore } from './assignments.ts';
import { AuditLog } from './audit.ts';
import { Orchestrator } from './orchestrator.ts';
import { redactionRules, type RedactionRules } from './redaction.ts';
import { AGENT_ROLES, resultInputSchema, taskInputSchema } from './schemas.ts';
import { TaskStore } from './tasks.ts';

/** The resources the swarm is built from (the engine passes its own). */
export interface SwarmDeps {
  db: Db;
  bus: EventBus;
  runner: Runner;
  bots: BotService;
  startRun(botId: number, req: RunRequest): Promise<RunRow>;
  log: Logger;
  config: Config['swarm'];
  /** The clock, in epoch ms (tests may inject one). */
  now?: () => number;
}

/** What an external agent receives for one assignment (`GET /api/agents/:id/assignments/next`). */
export interface AgentAssignment {
  assignment: AssignmentRow;
  task: TaskRow;
  /** The sub-task of an `execute` assignment. */
  subtask: { id: number; key: string; description: string; skills: string[]; dependsOn: string[]; feedback: string | null } | null;
  /** Outputs it may use: the dependencies of a sub-task, or every sub-task of the round for an evaluator. */
  outputs: { key: string; description: string; output: string | null }[];
}

/**
 * Swarm tasks (seed 004): tasks, agents, assignments with leases, the audit trail and API keys,
 * and the {@link Orchestrator} that moves tasks along. The web and chat adapters call this facade.
 */
export class Swarm {
  readonly rules: RedactionRules;
  readonly audit: AuditLog;
  readonly keys: ApiKeyService;
  readonly agents: AgentService;
  readonly tasks: TaskStore;
  readonly assignments: AssignmentStore;
  readonly orchestrator: Orchestrator;
  private sweeper: NodeJS.Timeout | null = null;
  private readonly now: () => number;
  private readonly polls = new AbortController();

  /** @throws {SyntaxError} when a configured redaction pattern is not a valid regular expression (config.ts checks first). */
  constructor(private readonly deps: SwarmDeps) {
    const now = (this.now = deps.now ?? Date.now);
    this.rules = redactionRules(deps.config.redactFields, deps.config.redactPatterns);
    this.audit = new AuditLog(deps.db, this.rules, now);
    this.keys = new ApiKeyService(deps.db, this.audit, now);
    this.agents = new AgentService({ db: deps.db, bots: deps.bots, keys: this.keys, audit: this.audit, now });
    this.tasks = new TaskStore({ db: deps.db, bus: deps.bus, audit: this.audit, rules: this.rules, now });
    this.assignments = new AssignmentStore(deps.db, { leaseMs: deps.config.leaseMs, now });
    this.orchestrator = new Orchestrator({
      bus: deps.bus,
      bots: deps.bots,
      tasks: this.tasks,
      assignments: this.assignments,
      agents: this.agents,
      audit: this.audit,
      startRun: deps.startRun,
      getRun: (id) => deps.runner.get(id),
      cancelRun: (id, reason) => deps.runner.cancel(id, reason),
      log: deps.log,
      now,
      leaseMs: deps.config.leaseMs,
    });
  }

  /** Offers the role tools to runs, resumes active tasks and starts the lease sweeper. Call once. */
  async start(): Promise<void> {
    this.deps.runner.useSubmissions(this.orchestrator);
    await this.orchestrator.start();
    const every = Math.min(Math.max(Math.floor(this.deps.config.leaseMs / 4), 50), 5000);
    this.sweeper = setInterval(() => {
      void this.orchestrator.sweepLeases().catch((err: unknown) => this.deps.log.error({ err }, 'swarm: lease sweep failed'));
    }, every);
    this.sweeper.unref();
  }

  /** Stops the sweeper and the orchestrator and ends open long polls. */
  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    this.orchestrator.stop();
    this.deps.runner.useSubmissions(null);
    this.polls.abort();
    this.assignments.wakeAll();
  }

  /**
   * Creates a task (CREATED); the planner gets it at once. `originChat` (`telegram:<chat id>`,
   * `discord:<channel id>`) records the chat it was started from, for its outcome.
   * @throws {AppError} VALIDATION_FAILED, SWARM_INCOMPLETE (no planner, executor or evaluator exists)
   */
  async createTask(input: unknown, actor: string, opts: { originChat?: string; ownerId?: number } = {}): Promise<TaskRow> {
    const parsed = taskInputSchema.safeParse(input);
    if (!parsed.success) throw validationError(parsed.error);
    // The owner's own bots (or external agents) do the work: another user's bots never do.
    const missing: (typeof AGENT_ROLES)[number][] = [];
    for (const r of AGENT_ROLES) if ((await this.agents.listFor(r, opts.ownerId ?? FIRST_ADMIN_ID)).length === 0) missing.push(r);
    if (missing.length) {
      throw new AppError(
        'SWARM_INCOMPLETE',
        `A task needs a planner, an executor and an evaluator among your bots (or external agents); there is no ${missing.join(', no ')} yet. Give bots these roles on the Tasks page (or POST /api/agents), or register external agents.`,
        { missing },
      );
    }
    const v = parsed.data;
    const task = await this.tasks.insert({ title: v.title, description: v.description, priority: v.priority, maxRounds: v.max_rounds, originChat: opts.originChat, ownerId: opts.ownerId }, actor);
    this.orchestrator.kick(task.id);
    return task;
  }

  /**
   * Cancels an active task: its runs are cancelled and its assignments end.
   * @throws {AppError} TASK_NOT_FOUND, TASK_TRANSITION_INVALID (it already ended)
   */
  async cancelTask(id: number, actor: string, reason = 'cancelled'): Promise<TaskRow> {
    // One step of the orchestrator: it does not move the task on halfway through.
    return this.orchestrator.exclusive(async () => {
      const task = await this.tasks.get(id);
      const out = await this.tasks.transition(task, 'CANCELLED', actor, { error: `cancelled by ${actor}${reason === 'cancelled' ? '' : `: ${reason}`}`, reason });
      await this.orchestrator.cancelOpen(out, 'the task was cancelled');
      for (const s of await this.tasks.subtasksOf(id, out.round)) {
        if (s.status !== 'completed' && s.status !== 'failed') await this.tasks.updateSubtask(s.id, { status: 'cancelled' });
      }
      this.tasks.changed(out, 'cancelled');
      return out;
    });
  }

  /**
   * Archives an ended task (COMPLETED, FAILED or CANCELLED).
   * @throws {AppError} TASK_NOT_FOUND, TASK_TRANSITION_INVALID
   */
  async archiveTask(id: number, actor: string): Promise<TaskRow> {
    return this.tasks.transition(await this.tasks.get(id), 'ARCHIVED', actor);
  }

  /** Agents (not removed) with their open assignments (`load`) and whether they can take work now. */
  async agentStates(): Promise<{ agent: AgentRow; load: number; online: boolean }[]> {
    const loads = await this.assignments.loads();
    const out: { agent: AgentRow; load: number; online: boolean }[] = [];
    for (const agent of await this.agents.list()) out.push({ agent, load: loads.get(agent.id) ?? 0, online: await this.orchestrator.isOnline(agent) });
    return out;
  }

  /** Registers an external agent and issues its key. See {@link AgentService.register}. */
  async register(input: unknown, actor: string): Promise<{ agent: AgentRow; key: string }> {
    const out = await this.agents.register(input, actor);
    await this.orchestrator.advanceAll();
    return out;
  }

  /** Gives a bot a swarm role. See {@link AgentService.enrol}. */
  async enrol(input: unknown, actor: string, caller?: Caller): Promise<AgentRow> {
    const out = await this.agents.enrol(input, actor, caller);
    await this.orchestrator.advanceAll();
    return out;
  }

  /**
   * Removes an agent; its open assignments go back to the pool.
   * @throws {AppError} AGENT_NOT_FOUND
   */
  async removeAgent(id: number, actor: string): Promise<AgentRow> {
    const out = await this.agents.remove(id, actor);
    await this.orchestrator.releaseAgent(id, actor);
    return out;
  }

  /**
   * Long poll of an external agent: its next assignment (now `working`, lease renewed), waiting up
   * to `waitMs` for one to be offered; null when none came. Counts as a heartbeat.
   * @throws {AppError} AGENT_NOT_FOUND, BAD_REQUEST (a bot of this server does not poll)
   */
  async nextAssignment(agentId: number, waitMs: number, signal?: AbortSignal): Promise<AgentAssignment | null> {
    const agent = await this.externalAgent(agentId);
    const until = this.now() + Math.max(0, waitMs);
    const stop = signal ? AbortSignal.any([signal, this.polls.signal]) : this.polls.signal;
    let first = true;
    for (;;) {
      await this.agents.seen(agent.id);
      await this.assignments.renew(agent.id);
      let claimed = await this.assignments.claimNext(agent.id);
      if (!claimed && first) {
        // Work waiting for an agent like this one is offered now.
        await this.orchestrator.advanceAll();
        claimed = await this.assignments.claimNext(agent.id);
      }
      first = false;
      if (claimed) {
        const task = await this.tasks.get(claimed.taskId);
        await this.audit.record({ taskId: task.id, actor: actorOfAgent(agent), event: 'assignment.claimed', payload: { assignment_id: claimed.id, kind: claimed.kind } });
        if (claimed.subtaskId !== null) await this.tasks.updateSubtask(claimed.subtaskId, { status: 'running', startedAt: this.now() });
        this.tasks.changed(task, `assignment:${claimed.id}`);
        return this.agentAssignment(claimed);
      }
      const left = until - this.now();
      if (left <= 0 || stop.aborted) return null;
      await this.assignments.wait(agent.id, left, stop);
    }
  }

  /**
   * Heartbeat of an external agent: renews the leases of its open assignments.
   * @returns the ids of its open assignments (one missing was taken back: stop working on it) and when the lease ends.
   * @throws {AppError} AGENT_NOT_FOUND, BAD_REQUEST
   */
  async heartbeat(agentId: number): Promise<{ assignments: number[]; leaseExpiresAt: number }> {
    const agent = await this.externalAgent(agentId);
    await this.agents.seen(agent.id);
    await this.assignments.renew(agent.id);
    return { assignments: (await this.assignments.activeForAgent(agent.id)).map((a) => a.id), leaseExpiresAt: this.now() + this.deps.config.leaseMs };
  }

  /**
   * An external agent reports its assignment's outcome (`POST /api/tasks/:id/results`).
   * @throws {AppError} VALIDATION_FAILED, TASK_NOT_FOUND, ASSIGNMENT_NOT_FOUND (not this agent's or
   *   this task's), ASSIGNMENT_NOT_ACTIVE (its lease ran out, its task ended, or not fetched yet)
   */
  async submitResult(taskId: number, agentId: number, input: unknown): Promise<TaskRow> {
    const agent = await this.externalAgent(agentId);
    const task = await this.tasks.get(taskId);
    const parsed = resultInputSchema.safeParse(input);
    if (!parsed.success) throw validationError(parsed.error);
    const a = await this.assignments.get(parsed.data.assignment_id);
    if (a.taskId !== task.id || a.agentId !== agent.id) throw new AppError('ASSIGNMENT_NOT_FOUND', `Agent #${agent.id} has no assignment #${a.id} in task #${task.id}.`);
    await this.agents.seen(agent.id);
    if (a.status !== 'working') throw notActive(a);
    await this.assignments.renew(agent.id);
    await this.orchestrator.settleExternal(a, parsed.data, actorOfAgent(agent));
    return this.tasks.get(task.id);
  }

  /** The assignment as its agent receives it. */
  async agentAssignment(a: AssignmentRow): Promise<AgentAssignment> {
    const task = await this.tasks.get(a.taskId);
    const round = await this.tasks.subtasksOf(a.taskId, a.round);
    const sub = a.subtaskId === null ? undefined : round.find((s) => s.id === a.subtaskId);
    const outputs = a.kind === 'evaluate' ? round : sub ? round.filter((s) => sub.dependsOn.includes(s.key)) : [];
    return {
      assignment: a,
      task,
      subtask: sub ? { id: sub.id, key: sub.key, description: sub.description, skills: sub.skills, dependsOn: sub.dependsOn, feedback: sub.feedback } : null,
      outputs: outputs.map((s) => ({ key: s.key, description: s.description, output: s.output })),
    };
  }

  private async externalAgent(agentId: number): Promise<AgentRow> {
    const agent = await this.agents.get(agentId);
    if (agent.kind !== 'external') throw new AppError('BAD_REQUEST', `Agent #${agent.id} is a bot of this server: its assignments are runs, it does not poll.`);
    return agent;
  }
}

/** How an external agent is named as an actor in the audit. */
export function actorOfAgent(agent: Pick<AgentRow, 'id' | 'name'>): string {
  return `agent:${agent.id} ${agent.name}`;
}

function notActive(a: AssignmentRow): AppError {
  const why: Record<AssignmentRow['status'], string> = {
    offered: 'it has not been fetched yet (GET /api/agents/:id/assignments/next)',
    working: 'it is open',
    completed: 'it was already completed',
    failed: 'it already failed',
    expired: 'its lease ran out and the work went back to the pool',
    cancelled: 'its task or round ended',
  };
  return new AppError('ASSIGNMENT_NOT_ACTIVE', `Assignment #${a.id} is no longer open: ${why[a.status]}.`, { status: a.status });
}
