import { AppError } from '../../engine/errors.ts';
import type { TaskView } from '../../engine/swarm/tasks.ts';
import { TASK_STATUS_INFO, type TaskStatus } from '../../engine/swarm/task-status.ts';
import { bold, excerpt, line, pre, type Block, type Message } from '../message.ts';
import type { Command } from './types.ts';

/** Longest title taken from the first line of a `/task` description, in characters. */
const MAX_TITLE = 120;

const ICON: Record<TaskStatus, string> = { CREATED: '🆕', PLANNED: '🗺', IN_PROGRESS: '⏳', COMPLETED: '✅', FAILED: '❌', CANCELLED: '⏹', ARCHIVED: '🗄' };

/**
 * A task as chat shows it: its state, its sub-tasks with their executors, the latest verdict and,
 * once it ended, the outputs or the reasons it failed. Also the outcome message for the chat a
 * task was started from (`tasks.origin_chat`), once a delivery posts it there.
 */
export function taskMessage(v: TaskView): Message {
  const t = v.task;
  const info = TASK_STATUS_INFO[t.status];
  const blocks: Block[] = [line(`${ICON[t.status]} `, bold(`Task #${t.id}`), ` ${t.title} — ${info.label}`, info.active ? ` (round ${t.round}/${t.maxRounds}, ${t.phase})` : '')];
  for (const s of v.subtasks) blocks.push(line(`• ${s.key} ${excerpt(s.description, 80)} — ${s.status}${s.agent ? ` · ${s.agent.name}` : ''}`));
  const verdict = v.verdicts.at(-1);
  if (verdict) blocks.push(line(verdict.verdict === 'pass' ? '✅ Verdict: pass' : '❌ Verdict: fail', verdict.reasons.length ? ` — ${excerpt(verdict.reasons.join('; '), 300)}` : ''));
  if (t.status === 'COMPLETED' && v.output) blocks.push(pre(excerpt(v.output, 3000)));
  if ((t.status === 'FAILED' || t.status === 'CANCELLED') && t.error) blocks.push(pre(excerpt(t.error, 1500)));
  return { blocks };
}

/**
 * `/task <description>`: starts a swarm task (the first line is its title, the whole text its
 * description): the planner splits it, executors do it, the evaluator judges it. `/task #12`
 * shows task 12 as it is now, its outcome once it ended.
 */
export const taskCommand: Command = {
  name: 'task',
  creates: true,
  description: 'Start a swarm task (planner, executors, evaluator), or show one: /task #12',
  params: [{ name: 'input', kind: 'text', required: true, description: 'What the swarm should do, or #<id> of a task to show' }],
  async run(ctx, args) {
    const text = args.input?.trim();
    if (!text) throw new AppError('VALIDATION_FAILED', `What should the swarm do? Usage: ${ctx.usage('task')}`);
    const swarm = ctx.engine.swarm;
    const shown = /^#(\d{1,15})$/.exec(text);
    if (shown) {
      const task = await swarm.tasks.view(Number(shown[1]));
      if (!ctx.mayRead(task.task.ownerId)) throw new AppError('TASK_NOT_FOUND', `No task #${shown[1]}.`);
      return taskMessage(task);
    }
    const first = text.split('\n')[0]!.trim();
    const title = first.length > MAX_TITLE ? `${first.slice(0, MAX_TITLE - 1)}…` : first;
    const task = await swarm.createTask({ title, description: text }, `${ctx.caller.platform}:${ctx.caller.userId}`, { originChat: `${ctx.caller.platform}:${ctx.caller.chatId}`, ownerId: ctx.account.userId });
    return {
      blocks: [
        line('📋 Started ', bold(`task #${task.id}`), ` ${task.title}.`),
        line('The planner splits it, executors do the parts, the evaluator judges them. ', `Send /task #${task.id} to see where it is.`),
      ],
    };
  },
};
