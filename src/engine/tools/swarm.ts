import { planSchema, verdictSchema, type Plan, type Verdict } from '../swarm/schemas.ts';
import { defineTool, ToolError, type ToolContext } from './tool.ts';

/**
 * The swarm's structured answers: a planner's run hands in its plan through `submit_plan`, an
 * evaluator's run its verdict through `submit_verdict`. Only runs of a swarm task's planner or
 * evaluator are offered them (the runner asks the swarm, see `RunSubmissions`). Like
 * `report_result`, the child sends the arguments to the parent, which validates and stores them
 * and answers; a refusal (a plan naming a skill no executor has, …) goes back to the model.
 */

async function submit(ctx: ToolContext, kind: 'plan' | 'verdict', data: unknown): Promise<string> {
  if (!ctx.submit) throw new ToolError('this run cannot hand in a swarm plan or verdict');
  return ctx.submit(kind, data);
}

/** `submit_plan`: the planner's decomposition of the task into sub-tasks. */
export const submitPlan = defineTool({
  name: 'submit_plan',
  description:
    'Hand in your plan for the task: the sub-tasks executors will do, each with a short id, a self-contained description, ' +
    'the skills it needs and the ids of sub-tasks it depends on. Sub-tasks without dependencies run in parallel. Call it once; ' +
    'if it answers with an error, fix the plan and call it again.',
  schema: planSchema,
  offline: (input) => echoPlan(input),
  run: (args, ctx) => submit(ctx, 'plan', args),
});

/** `submit_verdict`: the evaluator's judgement of the sub-tasks' outputs. */
export const submitVerdict = defineTool({
  name: 'submit_verdict',
  description:
    'Hand in your verdict on the outputs: "pass" when together they solve the task well, safely and within the rules; ' +
    'else "fail" with your reasons and, optionally, the ids of the sub-tasks to redo (none: the task is planned anew). Call it once.',
  schema: verdictSchema,
  offline: () => ECHO_VERDICT,
  run: (args, ctx) => submit(ctx, 'verdict', args),
});

/** The offline `echo` model's verdict: it passes every round. */
export const ECHO_VERDICT: Verdict = { verdict: 'pass', reasons: ['echo: every sub-task returned an output'], redo: [] };

/**
 * The offline `echo` model's plan: always the same two independent sub-tasks (any executor may do
 * them), named after the task's title (the first line of the planner's input, `Task #N: <title>`).
 */
export function echoPlan(input: string): Plan {
  const first = input.split('\n').find((l) => l.trim()) ?? '';
  const title = first.replace(/^Task #\d+:\s*/, '').trim() || 'the task';
  return {
    subtasks: [
      { id: 's1', description: `Part 1 of 2 of "${title}": work out the first half.`, skills: [], depends_on: [] },
      { id: 's2', description: `Part 2 of 2 of "${title}": work out the second half.`, skills: [], depends_on: [] },
    ],
    summary: 'echo: a fixed plan of two independent sub-tasks',
  };
}
