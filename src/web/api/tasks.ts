import { assertMayCreate, readScope } from '../../engine/access.ts';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Engine } from '../../engine/engine.ts';
import { AppError, type ErrorCode } from '../../engine/errors.ts';
import { resultInputSchema, taskInputSchema } from '../../engine/swarm/schemas.ts';
import { TASK_STATUSES, type TaskStatus } from '../../engine/swarm/task-status.ts';
import { requestActor } from '../api-key-auth.ts';
import { pathId } from '../params.ts';
import { errorResponses, idParams, json, limitQuery } from './schemas.ts';
import { AuditJson, auditJson, TaskJson, taskJson, TaskSummaryJson, taskSummaryJson } from './swarm-json.ts';

/** The agent a request acts as: the one its key belongs to. @throws {AppError} UNAUTHORIZED */
export function agentOfRequest(req: FastifyRequest): number {
  const id = req.apiKey?.agentId;
  if (id == null) throw new AppError('UNAUTHORIZED', "An agent's own key is required (X-API-Key, as issued by POST /api/agents/register).");
  return id;
}

/**
 * What any swarm route can answer because of its `X-API-Key` (see src/web/api-key-auth.ts): 401
 * for an unknown or revoked key, 403 for a key without the route's scope.
 */
export const KEY_ERRORS: ErrorCode[] = ['UNAUTHORIZED', 'FORBIDDEN_SCOPE'];

const STATUS_ONE_OF = `status must be one of ${TASK_STATUSES.join(', ')}`;

const listQuery = z.object({
  status: z
    .string({ error: STATUS_ONE_OF })
    .transform((s) => s.toUpperCase())
    .pipe(z.enum(TASK_STATUSES, { error: STATUS_ONE_OF }))
    .optional()
    .meta({ description: `only tasks in this status (case-insensitive): ${TASK_STATUSES.join(', ')}` }),
  archived: z
    .enum(['1', 'true', '0', 'false'], { error: 'archived must be 1, true, 0 or false' })
    .optional()
    .meta({ description: '1 or true: archived tasks too' }),
  limit: limitQuery(100, 500),
});

const auditQuery = z.object({
  after: z.coerce
    .number({ error: 'after must be an audit entry id (0 or more)' })
    .int('after must be an audit entry id (0 or more)')
    .min(0, 'after must be an audit entry id (0 or more)')
    .max(Number.MAX_SAFE_INTEGER, 'after must be an audit entry id (0 or more)')
    .default(0)
    .meta({ description: 'only entries with a greater id (to read on from the last one seen)' }),
});

/**
 * Swarm tasks over REST (mounted under `/api`): `GET /tasks` (`?status=`, `?archived=1`),
 * `POST /tasks {title, description, priority, max_rounds}`, `GET /tasks/:id` (sub-tasks,
 * assignments, outputs, verdicts), `POST /tasks/:id/cancel`, `POST /tasks/:id/archive`,
 * `POST /tasks/:id/results` (an external agent's outcome, with its key), `GET /tasks/:id/audit`.
 */
export const taskRoutes = (engine: Engine): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<ZodTypeProvider>();
    const swarm = engine.swarm;
    const taskId = (raw: string) => pathId(raw, 'TASK_NOT_FOUND', 'task');

    app.get(
      '/tasks',
      {
        schema: {
          tags: ['tasks'],
          summary: 'Swarm tasks, newest first (without their sub-tasks)',
          querystring: listQuery,
          response: { 200: json(z.array(TaskSummaryJson), 'newest first'), ...errorResponses('VALIDATION_FAILED', ...KEY_ERRORS) },
        },
      },
      async (req) => {
        const archived = req.query.archived === '1' || req.query.archived === 'true';
        return (await swarm.tasks.list({ status: req.query.status as TaskStatus | undefined, archived, limit: req.query.limit, ownerId: readScope(req.caller) })).map(taskSummaryJson);
      },
    );

    app.post(
      '/tasks',
      {
        schema: {
          tags: ['tasks'],
          summary: 'Create a task: the planner splits it into sub-tasks, executors do them, the evaluator judges the outcome',
          body: taskInputSchema,
          response: { 201: json(TaskJson, 'the new task (Location: /api/tasks/{id})'), ...errorResponses('VALIDATION_FAILED', 'SWARM_INCOMPLETE', ...KEY_ERRORS) },
        },
      },
      async (req, reply) => {
        assertMayCreate(req.caller);
        const task = await swarm.createTask(req.body, requestActor(req), { ownerId: req.caller.userId });
        reply.code(201).header('location', `/api/tasks/${task.id}`);
        return taskJson(await swarm.tasks.view(task.id));
      },
    );

    app.get(
      '/tasks/:id',
      { schema: { tags: ['tasks'], summary: 'One task with its sub-tasks, assignments, verdicts and output', params: idParams, response: { 200: json(TaskJson, 'the task'), ...errorResponses('TASK_NOT_FOUND', ...KEY_ERRORS) } } },
      async (req) => taskJson(await swarm.tasks.view((await engine.scope.task(req.caller, taskId(req.params.id))).id)),
    );

    app.post(
      '/tasks/:id/cancel',
      {
        schema: {
          tags: ['tasks'],
          summary: 'Cancel an active task (its runs are cancelled, its assignments end)',
          params: idParams,
          response: { 200: json(TaskJson, 'the task, now cancelled'), ...errorResponses('TASK_NOT_FOUND', 'TASK_TRANSITION_INVALID', ...KEY_ERRORS) },
        },
      },
      async (req) => {
        const id = (await engine.scope.task(req.caller, taskId(req.params.id), 'write')).id;
        await swarm.cancelTask(id, requestActor(req));
        return taskJson(await swarm.tasks.view(id));
      },
    );

    app.post(
      '/tasks/:id/archive',
      {
        schema: {
          tags: ['tasks'],
          summary: 'Archive an ended task (completed, failed or cancelled)',
          params: idParams,
          response: { 200: json(TaskJson, 'the task, now archived'), ...errorResponses('TASK_NOT_FOUND', 'TASK_TRANSITION_INVALID', ...KEY_ERRORS) },
        },
      },
      async (req) => {
        const id = (await engine.scope.task(req.caller, taskId(req.params.id), 'write')).id;
        await swarm.archiveTask(id, requestActor(req));
        return taskJson(await swarm.tasks.view(id));
      },
    );

    app.post(
      '/tasks/:id/results',
      {
        schema: {
          tags: ['tasks'],
          summary: "An external agent hands in its assignment's outcome (output, plan or verdict), with its own key",
          params: idParams,
          body: resultInputSchema,
          response: {
            200: json(TaskJson, 'the task as it now is'),
            ...errorResponses('VALIDATION_FAILED', 'BAD_REQUEST', 'TASK_NOT_FOUND', 'AGENT_NOT_FOUND', 'ASSIGNMENT_NOT_FOUND', 'ASSIGNMENT_NOT_ACTIVE', ...KEY_ERRORS),
          },
        },
      },
      async (req) => {
        const id = taskId(req.params.id);
        await swarm.submitResult(id, agentOfRequest(req), req.body);
        return taskJson(await swarm.tasks.view(id));
      },
    );

    app.get(
      '/tasks/:id/audit',
      {
        schema: {
          tags: ['tasks'],
          summary: "The task's audit trail: every step with its actor (payloads redacted), oldest first, up to 1000 entries",
          params: idParams,
          querystring: auditQuery,
          response: { 200: json(z.array(AuditJson), 'oldest first'), ...errorResponses('VALIDATION_FAILED', 'TASK_NOT_FOUND', ...KEY_ERRORS) },
        },
      },
      async (req) => {
        const id = (await engine.scope.task(req.caller, taskId(req.params.id))).id;
        return (await swarm.audit.forTask(id, req.query.after, 1000)).map(auditJson);
      },
    );
  };
