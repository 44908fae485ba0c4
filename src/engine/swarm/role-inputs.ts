import type { AgentRow, SubtaskRow, TaskRow, VerdictRow } from '../db/schema.ts';

// What each role is given: the text of its assignment (a run's input, or what an external agent
// fetches beside the structured fields). The first line of the planner's input is always
// `Task #<id>: <title>` (the offline echo planner names its sub-tasks after it).

/** Longest output of one sub-task quoted in another role's input, in characters. */
const MAX_QUOTED_OUTPUT = 8000;

function quote(output: string | null): string {
  const s = (output ?? '').trim() || '(no output)';
  return s.length > MAX_QUOTED_OUTPUT ? `${s.slice(0, MAX_QUOTED_OUTPUT)}\n[… cut]` : s;
}

function header(task: TaskRow): string[] {
  return [`Task #${task.id}: ${task.title}`, `Priority ${task.priority} · round ${task.round} of ${task.maxRounds}`, '', task.description.trim() || '(no description)', ''];
}

/** The planner's input: the task, the executors and their skills, and after a failed round what went wrong. */
export function plannerInput(task: TaskRow, executors: readonly AgentRow[], previous?: { subtasks: SubtaskRow[]; verdict: VerdictRow | null; reasons: string[] }): string {
  const lines = header(task);
  lines.push('Executors available:');
  for (const e of executors) lines.push(`- ${e.name}: ${e.skills.length ? e.skills.join(', ') : 'any work (no particular skills)'}`);
  if (executors.length === 0) lines.push('- none yet');
  lines.push('');
  if (previous) {
    lines.push(`The previous round's plan was not good enough. Reasons:`);
    for (const r of previous.reasons) lines.push(`- ${r}`);
    lines.push('', 'Its sub-tasks and outputs:');
    for (const s of previous.subtasks) lines.push(`## ${s.key} — ${s.description}`, quote(s.output ?? s.error), '');
    lines.push('Make a new plan that fixes this.');
  }
  lines.push(
    'Split the task into sub-tasks an executor can do on its own; independent ones run in parallel. ' +
      "Give each the skills it needs (from the executors' skills, or none) and the ids of the sub-tasks whose output it needs. " +
      'Hand in the plan by calling the submit_plan tool once.',
  );
  return lines.join('\n');
}

/** An executor's input: its sub-task, the task around it, the outputs it depends on, and the evaluator's feedback on a redo. */
export function executorInput(task: TaskRow, subtask: SubtaskRow, dependencies: readonly SubtaskRow[]): string {
  const lines = [`Sub-task ${subtask.key} of task #${task.id} "${task.title}":`, subtask.description, ''];
  if (subtask.skills.length) lines.push(`Skills asked: ${subtask.skills.join(', ')}`, '');
  lines.push('The whole task, for context:', task.description.trim() || '(no description)', '');
  if (dependencies.length) {
    lines.push('Outputs of the sub-tasks this one builds on:');
    for (const d of dependencies) lines.push(`## ${d.key} — ${d.description}`, quote(d.output), '');
  }
  if (subtask.feedback) lines.push('The evaluator asked for this to be redone:', subtask.feedback, '');
  lines.push('Do this sub-task and answer with its result.');
  return lines.join('\n');
}

/** The evaluator's input: the task and every sub-task's output of the round. */
export function evaluatorInput(task: TaskRow, subtasks: readonly SubtaskRow[]): string {
  const lines = header(task);
  lines.push(`Outputs of its ${subtasks.length} sub-task${subtasks.length === 1 ? '' : 's'}:`, '');
  for (const s of subtasks) lines.push(`## ${s.key} — ${s.description}`, quote(s.output), '');
  lines.push(
    'Judge whether these outputs together solve the task well, safely and within the rules. ' +
      'Hand in your verdict by calling the submit_verdict tool once: "pass", or "fail" with your reasons and, ' +
      'if only some sub-tasks need work, their ids in "redo".',
  );
  return lines.join('\n');
}
