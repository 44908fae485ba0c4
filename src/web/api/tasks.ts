import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Engine } from '../../engine/engine.ts';
import { AppError } from '../../engine/errors.ts';
import { TASK_STATUSES, type TaskStatus } from '../../engine/swarm/task-status.ts';
import { requestActor } from '../api-key-auth.ts';
import { pathId } from '../params.ts';
import { auditJson, taskJson, taskSummaryJson } from './swarm-json.ts';

/** The agent a request acts as: the one its key belongs to. @throws {AppError} UNAUTHORIZED */
export function agentOfRequest(req: FastifyRequest): number {
  const id = req.apiKey?.agentId;
  if (id == null) throw new AppError('UNAUTHORIZED', "An agent's own key is required (X-API-Key, as issued by POST /api/agents/register).");
  return id;
}

/**
 * Swarm tasks over REST (mounted under `/api`): `GET /tasks` (`?status=`, `?archived=1`),
 * `POST /tasks {title, description, priority, max_rounds}`, `GET /tasks/:id` (sub-tasks,
 * assignments, outputs, verdicts), `POST /tasks/:id/cancel`, `POST /tasks/:id/archive`,
 * `POST /tasks/:id/results` (an external agent's outcome, with its key), `GET /tasks/:id/audit`.
 */
export const taskRoutes = (engine: Engine): FastifyPluginAsync =>
  async (app) => {
    const swarm = engine.swarm;
    const taskId = (raw: string) => pathId(raw, 'TASK_NOT_FOUND', 'task');

    app.get<{ Querystring: { status?: string; archived?: string; limit?: string } }>('/tasks', async (req) => {
      const status = req.query.status?.toUpperCase();
      if (status !== undefined && !(TASK_STATUSES as readonly string[]).includes(status)) {
        throw new AppError('VALIDATION_FAILED', `status must be one of ${TASK_STATUSES.join(', ')}`);
      }
      return swarm.tasks.list({ status: status as TaskStatus | undefined, archived: req.query.archived === '1' || req.query.archived === 'true', limit: Number(req.query.limit) || 100 }).map(taskSummaryJson);
    });

    app.post('/tasks', async (req, reply) => {
      const task = swarm.createTask(req.body ?? {}, requestActor(req));
      reply.code(201).header('location', `/api/tasks/${task.id}`);
      return taskJson(swarm.tasks.view(task.id));
    });

    app.get<{ Params: { id: string } }>('/tasks/:id', async (req) => taskJson(swarm.tasks.view(taskId(req.params.id))));

    app.post<{ Params: { id: string } }>('/tasks/:id/cancel', async (req) => {
      const id = taskId(req.params.id);
      swarm.cancelTask(id, requestActor(req));
      return taskJson(swarm.tasks.view(id));
    });

    app.post<{ Params: { id: string } }>('/tasks/:id/archive', async (req) => {
      const id = taskId(req.params.id);
      swarm.archiveTask(id, requestActor(req));
      return taskJson(swarm.tasks.view(id));
    });

    app.post<{ Params: { id: string } }>('/tasks/:id/results', async (req) => {
      const id = taskId(req.params.id);
      swarm.submitResult(id, agentOfRequest(req), req.body ?? {});
      return taskJson(swarm.tasks.view(id));
    });

    app.get<{ Params: { id: string }; Querystring: { after?: string } }>('/tasks/:id/audit', async (req) => {
      const id = swarm.tasks.get(taskId(req.params.id)).id;
      return swarm.audit.forTask(id, Number(req.query.after) || 0, 1000).map(auditJson);
    });
  };
