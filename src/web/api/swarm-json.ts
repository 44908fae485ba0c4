import type { AgentRow, ApiKeyRow, AuditRow, TaskRow } from '../../engine/db/schema.ts';
import type { AgentAssignment } from '../../engine/swarm/swarm.ts';
import type { AssignmentView, SubtaskView, TaskView, VerdictView } from '../../engine/swarm/tasks.ts';

// Swarm tasks, agents, keys and audit rows as the API shows them: snake_case, ISO-8601 times.

const iso = (ms: number | null | undefined) => (ms == null ? null : new Date(ms).toISOString());

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
