import type { FastifyPluginAsync } from 'fastify';
import type { Engine } from '../../engine/engine.ts';
import { AppError } from '../../engine/errors.ts';
import { requestActor } from '../api-key-auth.ts';
import { pathId } from '../params.ts';
import { agentAssignmentJson, agentJson } from './swarm-json.ts';
import { agentOfRequest } from './tasks.ts';

/**
 * Swarm agents over REST (mounted under `/api`): `GET /agents`, `POST /agents {bot, role, skills}`
 * (give a bot of this server a role), `POST /agents/register {name, role, skills, version}` (an
 * external bot: answers with its id and key, shown once), `GET /agents/:id`, `DELETE /agents/:id`,
 * and, with the agent's own key, `GET /agents/:id/assignments/next?wait=<s>` (long poll: 200 with
 * the assignment, 204 when none came within the wait) and `POST /agents/:id/heartbeat`.
 */
export const agentRoutes = (engine: Engine): FastifyPluginAsync =>
  async (app) => {
    const swarm = engine.swarm;
    const agentId = (raw: string) => pathId(raw, 'AGENT_NOT_FOUND', 'agent');
    const json = (id: number) => {
      const s = swarm.agentStates().find((x) => x.agent.id === id);
      if (!s) throw new AppError('AGENT_NOT_FOUND', `No agent with id ${id}.`);
      return agentJson(s.agent, s);
    };
    /** The agent the path names, which must be the one the key belongs to. */
    const self = (raw: string, key: number) => {
      const id = agentId(raw);
      if (id !== key) throw new AppError('UNAUTHORIZED', `This key is not agent #${id}'s.`);
      return id;
    };

    app.get('/agents', async () => swarm.agentStates().map((s) => agentJson(s.agent, s)));

    app.post('/agents', async (req, reply) => {
      const agent = swarm.enrol(req.body ?? {}, requestActor(req));
      reply.code(201).header('location', `/api/agents/${agent.id}`);
      return json(agent.id);
    });

    app.post('/agents/register', async (req, reply) => {
      const { agent, key } = swarm.register(req.body ?? {}, requestActor(req));
      reply.code(201).header('location', `/api/agents/${agent.id}`);
      return { id: agent.id, key, agent: json(agent.id), lease_ms: engine.config.swarm.leaseMs };
    });

    app.get<{ Params: { id: string } }>('/agents/:id', async (req) => json(agentId(req.params.id)));

    app.delete<{ Params: { id: string } }>('/agents/:id', async (req, reply) => {
      swarm.removeAgent(agentId(req.params.id), requestActor(req));
      return reply.code(204).send();
    });

    app.get<{ Params: { id: string }; Querystring: { wait?: string } }>('/agents/:id/assignments/next', async (req, reply) => {
      const id = self(req.params.id, agentOfRequest(req));
      const raw = req.query.wait ?? '0';
      const wait = /^\d{1,6}(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isFinite(wait)) throw new AppError('VALIDATION_FAILED', 'wait must be a number of seconds (0 or more)');
      const abort = new AbortController();
      reply.raw.once('close', () => abort.abort());
      const next = await swarm.nextAssignment(id, Math.min(wait, engine.config.swarm.maxWaitS) * 1000, abort.signal);
      if (!next) return reply.code(204).send();
      return agentAssignmentJson(next);
    });

    app.post<{ Params: { id: string } }>('/agents/:id/heartbeat', async (req) => {
      const id = self(req.params.id, agentOfRequest(req));
      const beat = swarm.heartbeat(id);
      return { assignments: beat.assignments, lease_expires_at: new Date(beat.leaseExpiresAt).toISOString() };
    });
  };
