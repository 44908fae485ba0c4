/**
 * What goes in and out of the swarm, validated with zod: the planner's plan and the evaluator's
 * verdict (handed in through the `submit_plan` / `submit_verdict` tools or by an external agent),
 * and the bodies of the task, agent and key routes. Pure: the run's child process imports it too.
 */
import { z } from 'zod';
import { TASK_PRIORITIES } from './task-status.ts';

/** Most sub-tasks in one plan. */
export const MAX_SUBTASKS = 12;
/** Most rounds (plan → execute → evaluate) a task may be given. */
export const MAX_ROUNDS = 5;

/** A skill name: lower-cased, 1–40 characters of letters, digits, space, `_ . + -`. */
export const skillSchema = z
  .string()
  .trim()
  .toLowerCase()
  .min(1, 'a skill has at least one character')
  .max(40, 'a skill has at most 40 characters')
  .regex(/^[\p{L}\p{N}][\p{L}\p{N} _.+-]*$/u, 'a skill is made of letters, digits, spaces and _ . + -');

const skillsSchema = z.array(skillSchema).max(20, 'at most 20 skills').default([]);

/** One sub-task of a plan. `id` is the planner's own short name for it (`s1`), used by `depends_on`. */
export const planSubtaskSchema = z.object({
  id: z
    .string()
    .trim()
    .min(1)
    .max(32)
    .regex(/^[A-Za-z0-9_-]+$/, 'id is letters, digits, _ and - (e.g. "s1")')
    .describe('Short id of this sub-task, unique in the plan, e.g. "s1"'),
  description: z.string().trim().min(1, 'description is required').max(4000).describe('What the executor must do, self-contained'),
  skills: z.array(skillSchema).max(10).default([]).describe('Skills the executor needs (empty: any executor), e.g. ["research"]'),
  depends_on: z.array(z.string().trim()).max(MAX_SUBTASKS).default([]).describe('Ids of sub-tasks whose output this one needs first'),
});

/**
 * A plan: 1–{@link MAX_SUBTASKS} sub-tasks with unique ids whose dependencies name other sub-tasks
 * of the plan and form no cycle (so every sub-task can run once those before it are done).
 */
export const planSchema = z
  .object({
    subtasks: z.array(planSubtaskSchema).min(1, 'a plan has at least one sub-task').max(MAX_SUBTASKS, `a plan has at most ${MAX_SUBTASKS} sub-tasks`),
    summary: z.string().trim().max(2000).optional().describe('One or two sentences on how the plan solves the task'),
  })
  .superRefine((plan, ctx) => {
    const ids = new Set<string>();
    plan.subtasks.forEach((s, i) => {
      if (ids.has(s.id)) ctx.addIssue({ code: 'custom', path: ['subtasks', i, 'id'], message: `id "${s.id}" is used twice` });
      ids.add(s.id);
    });
    plan.subtasks.forEach((s, i) =>
      s.depends_on.forEach((d, j) => {
        if (d === s.id) ctx.addIssue({ code: 'custom', path: ['subtasks', i, 'depends_on', j], message: `"${s.id}" cannot depend on itself` });
        else if (!ids.has(d)) ctx.addIssue({ code: 'custom', path: ['subtasks', i, 'depends_on', j], message: `"${d}" is not a sub-task of this plan` });
      }),
    );
    const cycle = findCycle(plan.subtasks);
    if (cycle) ctx.addIssue({ code: 'custom', path: ['subtasks'], message: `the dependencies form a cycle: ${cycle.join(' → ')}` });
  });

/** A validated plan. */
export type Plan = z.output<typeof planSchema>;

/**
 * The evaluator's verdict: `pass`, or `fail` with at least one reason; `redo` names the sub-tasks
 * (plan ids) to do again; a fail without `redo` asks for a new plan.
 */
export const verdictSchema = z
  .object({
    verdict: z.enum(['pass', 'fail']).describe('"pass" when the outputs together solve the task well and safely, else "fail"'),
    reasons: z.array(z.string().trim().min(1).max(2000)).max(20).default([]).describe('Why: what is good, what is wrong or missing'),
    redo: z.array(z.string().trim().min(1).max(32)).max(MAX_SUBTASKS).default([]).describe('On "fail": ids of the sub-tasks to redo; empty: make a new plan'),
  })
  .refine((v) => v.verdict === 'pass' || v.reasons.length > 0, { message: 'a failing verdict needs at least one reason', path: ['reasons'] });

/** A validated verdict. */
export type Verdict = z.output<typeof verdictSchema>;

/** The dependency cycle among `subtasks` (ids, first repeated at the end), or null. */
function findCycle(subtasks: readonly { id: string; depends_on: readonly string[] }[]): string[] | null {
  const deps = new Map(subtasks.map((s) => [s.id, s.depends_on]));
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (id: string): string[] | null => {
    if (state.get(id) === 'done' || !deps.has(id)) return null;
    if (state.get(id) === 'visiting') return [...path.slice(path.indexOf(id)), id];
    state.set(id, 'visiting');
    path.push(id);
    for (const d of deps.get(id)!) {
      const c = visit(d);
      if (c) return c;
    }
    path.pop();
    state.set(id, 'done');
    return null;
  };
  for (const s of subtasks) {
    const c = visit(s.id);
    if (c) return c;
  }
  return null;
}

const title = z
  .string({ error: 'title is required' })
  .trim()
  .min(1, 'title is required')
  .max(200, 'title must be at most 200 characters')
  .refine((s) => !/[\u0000-\u001f]/.test(s), 'title must not contain control characters');

/** `POST /api/tasks`. */
export const taskInputSchema = z.object({
  title,
  description: z.string().max(20_000, 'description must be at most 20000 characters').default(''),
  priority: z.enum(TASK_PRIORITIES, { error: `priority must be one of ${TASK_PRIORITIES.join(', ')}` }).default('normal'),
  max_rounds: z.number().int().min(1).max(MAX_ROUNDS, `max_rounds must be at most ${MAX_ROUNDS}`).default(2),
});
export type TaskInput = z.input<typeof taskInputSchema>;

/** The swarm roles an agent can have. */
export const AGENT_ROLES = ['planner', 'executor', 'evaluator'] as const;
export type AgentRole = (typeof AGENT_ROLES)[number];

const agentName = z
  .string({ error: 'name is required' })
  .trim()
  .min(1, 'name is required')
  .max(64, 'name must be at most 64 characters')
  .refine((s) => !/[\u0000-\u001f]/.test(s), 'name must not contain control characters');
const role = z.enum(AGENT_ROLES, { error: `role must be one of ${AGENT_ROLES.join(', ')}` });

/** `POST /api/agents/register`: an external bot introduces itself. */
export const agentRegisterSchema = z.object({
  name: agentName,
  role,
  skills: skillsSchema,
  version: z.string().trim().max(40, 'version must be at most 40 characters').default(''),
});

/** `POST /api/agents`: give a bot of this server a swarm role. `bot` is its id or name. */
export const agentEnrolSchema = z.object({
  bot: z.union([z.number().int().positive(), z.string().trim().min(1, 'bot is required').max(64)], { error: 'bot (an id or a name) is required' }),
  role,
  skills: skillsSchema,
});

/** Scopes of an API key: `tasks` (create and read tasks), `agents` (register, poll, report), `admin` (everything). */
export const API_KEY_SCOPES = ['tasks', 'agents', 'admin'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/** `POST /api/keys`. */
export const apiKeyInputSchema = z.object({
  name: agentName,
  scopes: z
    .array(z.enum(API_KEY_SCOPES, { error: `scopes are ${API_KEY_SCOPES.join(', ')}` }), { error: 'scopes must be a list' })
    .min(1, 'a key needs at least one scope')
    .max(API_KEY_SCOPES.length),
});

/** `POST /api/tasks/:id/results`: an external agent hands in its assignment's outcome. */
export const resultInputSchema = z.object({
  assignment_id: z.number({ error: 'assignment_id is required' }).int().positive(),
  status: z.enum(['completed', 'failed']).default('completed'),
  /** An executor's output. */
  output: z.string().max(100_000, 'output must be at most 100000 characters').optional(),
  /** Why it failed (`status: failed`). */
  error: z.string().max(4000).optional(),
  /** A planner's plan (see {@link planSchema}). */
  plan: z.unknown().optional(),
  /** An evaluator's verdict (see {@link verdictSchema}). */
  verdict: z.unknown().optional(),
});
