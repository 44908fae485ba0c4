import type { AgentRow, ApiKeyRow, AuditRow, TaskRow } from '../../engine/db/schema.ts';
import type { AgentAssignment } from '../../engine/swarm/swarm.ts';
import { z } from 'zod';
import { AGENT_ROLES } from '../../engine/swarm/schemas.ts';
import { ASSIGNMENT_STATUSES, SUBTASK_STATUSES, TASK_PHASES, TASK_PRIORITIES, TASK_STATUSES } from '../../engine/swarm/task-status.ts';
import type { AssignmentView, SubtaskView, TaskView, VerdictView } from '../../engine/swarm/tasks.ts';

// Swarm tasks, agents, keys and audit rows as the API shows them: snake_case, ISO-8601 times.
// Each serializer has its zod schema below it: the routes' response schemas (they serialize the
// answers and describe them in /api/openapi.json), so the description cannot drift from the JSON.

/** An ISO-8601 UTC time as the API writes it (`2026-07-21T10:30:00.000Z`). */
const time = z.iso.datetime();
const nullableTime = time.nullable();

function iso(ms: number): string;
function iso(ms: number | null | undefined): string | null;
function iso(ms: number | null | undefined): string | null {
  return ms == null ? null : new Date(ms).toISOString();
}

/** A task without its sub-tasks (lists). */
export function taskSummaryJson(t: TaskRow) {
  return {
    id: t.id,
    title: t.title,
    description: t.description,
    priority: t.priority,
    status: t.status,
    phase: t.phase,
    round: t.round,
    max_rounds: t.maxRounds,
    created_by: t.createdBy,
    origin_chat: t.originChat,
    error: t.error,
    created_at: iso(t.createdAt),
    updated_at: iso(t.updatedAt),
    finished_at: iso(t.finishedAt),
    archived_at: iso(t.archivedAt),
  };
}

function subtaskJson(s: SubtaskView) {
  return {
    id: s.id,
    key: s.key,
    round: s.round,
    description: s.description,
    skills: s.skills,
    depends_on: s.dependsOn,
    status: s.status,
    agent: s.agent ? { id: s.agent.id, name: s.agent.name, kind: s.agent.kind, bot_id: s.agent.botId } : null,
    run_id: s.runId,
    output: s.output,
    error: s.error,
    feedback: s.feedback,
    attempts: s.attempts,
    started_at: iso(s.startedAt),
    finished_at: iso(s.finishedAt),
  };
}

function assignmentJson(a: AssignmentView) {
  return {
    id: a.id,
    kind: a.kind,
    round: a.round,
    subtask_id: a.subtaskId,
    agent_id: a.agentId,
    agent_name: a.agentName,
    agent_kind: a.agentKind,
    status: a.status,
    run_id: a.runId,
    error: a.error,
    lease_expires_at: iso(a.leaseExpiresAt),
    created_at: iso(a.createdAt),
    started_at: iso(a.startedAt),
    finished_at: iso(a.finishedAt),
  };
}

function verdictJson(v: VerdictView) {
  return { round: v.round, verdict: v.verdict, reasons: v.reasons, redo: v.redo, agent_id: v.agentId, agent_name: v.agentName, created_at: iso(v.createdAt) };
}

/** A task with its sub-tasks (current round, and earlier rounds as `history`), assignments, verdicts and combined output. */
export function taskJson(v: TaskView) {
  return {
    ...taskSummaryJson(v.task),
    subtasks: v.subtasks.map(subtaskJson),
    history: v.history.map(subtaskJson),
    assignments: v.assignments.map(assignmentJson),
    verdicts: v.verdicts.map(verdictJson),
    verdict: v.verdicts.length ? verdictJson(v.verdicts.at(-1)!) : null,
    output: v.output,
  };
}

/** An agent; `online` and `load` say whether it can take work now and how much it has. */
export function agentJson(a: AgentRow, extra: { load: number; online: boolean }) {
  return {
    id: a.id,
    name: a.name,
    role: a.role,
    skills: a.skills,
    version: a.version,
    kind: a.kind,
    bot_id: a.botId,
    online: extra.online,
    load: extra.load,
    last_seen_at: iso(a.lastSeenAt),
    created_at: iso(a.createdAt),
  };
}

/** An API key without its secret (only its prefix). */
export function apiKeyJson(k: ApiKeyRow) {
  return {
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    scopes: k.scopes,
    agent_id: k.agentId,
    user_id: k.userId,
    revoked: k.revokedAt !== null,
    created_at: iso(k.createdAt),
    last_used_at: iso(k.lastUsedAt),
    revoked_at: iso(k.revokedAt),
  };
}

/** An audit row (its payload was redacted before it was stored). */
export function auditJson(r: AuditRow) {
  return { id: r.id, task_id: r.taskId, actor: r.actor, event: r.event, payload: r.payload, redacted_fields: r.redactedFields, created_at: iso(r.createdAt) };
}

/** What an external agent receives for one assignment. */
export function agentAssignmentJson(x: AgentAssignment) {
  const a = x.assignment;
  return {
    id: a.id,
    kind: a.kind,
    task_id: a.taskId,
    round: a.round,
    input: a.input,
    lease_expires_at: iso(a.leaseExpiresAt),
    task: { id: x.task.id, title: x.task.title, description: x.task.description, priority: x.task.priority },
    subtask: x.subtask ? { id: x.subtask.id, key: x.subtask.key, description: x.subtask.description, skills: x.subtask.skills, depends_on: x.subtask.dependsOn, feedback: x.subtask.feedback } : null,
    outputs: x.outputs,
  };
}

// ——— the same shapes as zod schemas (response schemas of the swarm routes) ———

const agentKind = z.enum(['bot', 'external']).meta({ description: '`bot`: a bot of this server in a swarm role; `external`: a registered outside agent' });
const assignmentKind = z.enum(['plan', 'execute', 'evaluate']);

/** {@link taskSummaryJson}. */
export const TaskSummaryJson = z
  .object({
    id: z.int(),
    title: z.string(),
    description: z.string(),
    priority: z.enum(TASK_PRIORITIES),
    status: z.enum(TASK_STATUSES),
    phase: z.enum(TASK_PHASES),
    round: z.int().meta({ description: 'the current round (1, 2, …); a failing verdict starts the next one, up to max_rounds' }),
    max_rounds: z.int(),
    created_by: z.string().meta({ description: '`dashboard`, `api`, `key:<name>`, `telegram:<user>`, …' }),
    origin_chat: z.string().nullable().meta({ description: 'the chat it was started from (`telegram:<chat id>`, `discord:<channel id>`), else null' }),
    error: z.string().nullable().meta({ description: 'why it failed or was cancelled' }),
    created_at: time,
    updated_at: time,
    finished_at: nullableTime,
    archived_at: nullableTime,
  })
  .meta({ id: 'TaskSummary', description: 'a swarm task without its sub-tasks' });

const SubtaskJson = z
  .object({
    id: z.int(),
    key: z.string().meta({ description: "the planner's id of the sub-task (`s1`), used by depends_on" }),
    round: z.int(),
    description: z.string(),
    skills: z.array(z.string()),
    depends_on: z.array(z.string()),
    status: z.enum(SUBTASK_STATUSES),
    agent: z.object({ id: z.int(), name: z.string(), kind: agentKind, bot_id: z.int().nullable() }).nullable(),
    run_id: z.int().nullable(),
    output: z.string().nullable(),
    error: z.string().nullable(),
    feedback: z.string().nullable().meta({ description: "the evaluator's reasons when it is done again" }),
    attempts: z.int(),
    started_at: nullableTime,
    finished_at: nullableTime,
  })
  .meta({ id: 'Subtask' });

const AssignmentJson = z
  .object({
    id: z.int(),
    kind: assignmentKind,
    round: z.int(),
    subtask_id: z.int().nullable(),
    agent_id: z.int().nullable(),
    agent_name: z.string().nullable(),
    agent_kind: agentKind.nullable(),
    status: z.enum(ASSIGNMENT_STATUSES),
    run_id: z.int().nullable(),
    error: z.string().nullable(),
    lease_expires_at: nullableTime,
    created_at: time,
    started_at: nullableTime,
    finished_at: nullableTime,
  })
  .meta({ id: 'Assignment', description: 'one turn of an agent on a task: plan, execute a sub-task, or evaluate' });

const VerdictJson = z
  .object({
    round: z.int(),
    verdict: z.enum(['pass', 'fail']),
    reasons: z.array(z.string()),
    redo: z.array(z.string()).meta({ description: 'keys of the sub-tasks to redo; empty on a fail: a new plan' }),
    agent_id: z.int().nullable(),
    agent_name: z.string().nullable(),
    created_at: time,
  })
  .meta({ id: 'Verdict' });

/** {@link taskJson}. */
export const TaskJson = TaskSummaryJson.extend({
  subtasks: z.array(SubtaskJson).meta({ description: "the current round's sub-tasks, in plan order" }),
  history: z.array(SubtaskJson).meta({ description: 'sub-tasks of earlier rounds, oldest round first' }),
  assignments: z.array(AssignmentJson).meta({ description: 'oldest first' }),
  verdicts: z.array(VerdictJson).meta({ description: 'oldest first' }),
  verdict: VerdictJson.nullable().meta({ description: 'the latest verdict' }),
  output: z.string().nullable().meta({ description: "the current round's sub-task outputs as one text" }),
}).meta({ id: 'Task', description: 'a swarm task with its sub-tasks, assignments, verdicts and combined output' });

/** {@link agentJson}. */
export const AgentJson = z
  .object({
    id: z.int(),
    name: z.string(),
    role: z.enum(AGENT_ROLES),
    skills: z.array(z.string()),
    version: z.string(),
    kind: agentKind,
    bot_id: z.int().nullable(),
    online: z.boolean().meta({ description: 'whether it can take work now' }),
    load: z.int().meta({ description: 'its open assignments' }),
    last_seen_at: nullableTime,
    created_at: time,
  })
  .meta({ id: 'Agent', description: 'a bot in a swarm role (planner, executor or evaluator)' });

/** {@link apiKeyJson}. */
export const ApiKeyJson = z
  .object({
    id: z.int(),
    name: z.string(),
    prefix: z.string().meta({ description: "the key's first characters, to tell keys apart" }),
    scopes: z.array(z.string()).meta({ description: 'tasks, agents, admin' }),
    agent_id: z.int().nullable().meta({ description: 'the external agent this key identifies (its registration key)' }),
    user_id: z.int().meta({ description: 'the user the key acts as' }),
    revoked: z.boolean(),
    created_at: time,
    last_used_at: nullableTime,
    revoked_at: nullableTime,
  })
  .meta({ id: 'ApiKey', description: 'an API key without its secret' });

/** {@link auditJson}. */
export const AuditJson = z
  .object({
    id: z.int(),
    task_id: z.int().nullable(),
    actor: z.string(),
    event: z.string(),
    payload: z.unknown().meta({ description: 'what happened, redacted before it was stored' }),
    redacted_fields: z.array(z.string()),
    created_at: time,
  })
  .meta({ id: 'AuditEntry' });

/** {@link agentAssignmentJson}. */
export const AgentAssignmentJson = z
  .object({
    id: z.int(),
    kind: assignmentKind,
    task_id: z.int(),
    round: z.int(),
    input: z.string().meta({ description: 'what to do, as one text' }),
    lease_expires_at: nullableTime.meta({ description: 'report or heartbeat before this, or the work goes back to the pool' }),
    task: z.object({ id: z.int(), title: z.string(), description: z.string(), priority: z.enum(TASK_PRIORITIES) }),
    subtask: z
      .object({ id: z.int(), key: z.string(), description: z.string(), skills: z.array(z.string()), depends_on: z.array(z.string()), feedback: z.string().nullable() })
      .nullable()
      .meta({ description: 'the sub-task of an `execute` assignment' }),
    outputs: z.array(z.object({ key: z.string(), description: z.string(), output: z.string().nullable() })).meta({ description: 'outputs it may use: the dependencies of a sub-task, or every sub-task of the round for an evaluator' }),
  })
  .meta({ id: 'AgentAssignment', description: 'an assignment as its external agent receives it' });
