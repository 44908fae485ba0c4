import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Engine } from '../../engine/engine.ts';
import { AppError } from '../../engine/errors.ts';
import { agentEnrolSchema, agentRegisterSchema } from '../../engine/swarm/schemas.ts';
import { requestActor } from '../api-key-auth.ts';
import { pathId } from '../params.ts';
import { errorResponses, idParams, json, noContent } from './schemas.ts';
import { AgentAssignmentJson, agentAssignmentJson, AgentJson, agentJson } from './swarm-json.ts';
import { agentOfRequest, KEY_ERRORS } from './tasks.ts';

const WAIT = 'wait must be a number of seconds (0 or more)';

const nextQuery = z.object({
  wait: z
    .string({ error: WAIT })
    .regex(/^\d{1,6}(\.\d+)?$/, WAIT)
    .default('0')
    .transform(Number)
    .meta({ description: 'seconds to wait for an assignment (long poll; capped by the server, SWARM_MAX_WAIT_S); 0 (default): answer at once' }),
});

const RegisteredJson = z
  .object({
    id: z.int().meta({ description: "the agent's id" }),
    key: z.string().meta({ description: "the agent's own API key (send as X-API-Key); shown only this once" }),
    agent: AgentJson,
    lease_ms: z.int().meta({ description: 'how long an assignment stays the agent’s without a heartbeat, in milliseconds' }),
  })
  .meta({ id: 'AgentRegistration' });

const HeartbeatJson = z
  .object({
    assignments: z.array(z.int()).meta({ description: 'ids of its open assignments; one missing was taken back (stop working on it)' }),
    lease_expires_at: z.iso.datetime().meta({ description: 'the leases now end at this time' }),
  })
  .meta({ id: 'Heartbeat' });

/**
 * Swarm agents over REST (mounted under `/api`): `GET /agents`, `POST /agents {bot, role, skills}`
 * (give a bot of this server a role), `POST /agents/register {name, role, skills, version}` (an
 * external bot: answers with its id and key, shown once), `GET /agents/:id`, `DELETE /agents/:id`,
 * and, with the agent's own key, `GET /agents/:id/assignments/next?wait=<s>` (long poll: 200 with
 * the assignment, 204 when none came within the wait) and `POST /agents/:id/heartbeat`.
 */
export const agentRoutes = (engine: Engine): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<ZodTypeProvider>();
    const swarm = engine.swarm;
    const agentId = (raw: string) => pathId(raw, 'AGENT_NOT_FOUND', 'agent');
    const agentById = async (id: number) => {
      const s = (await swarm.agentStates()).find((x) => x.agent.id === id);
      if (!s) throw new AppError('AGENT_NOT_FOUND', `No agent with id ${id}.`);
      return agentJson(s.agent, s);
    };
    /** The agent the path names, which must be the one the key belongs to. */
    const self = (raw: string, key: number) => {
      const id = agentId(raw);
      if (id !== key) throw new AppError('UNAUTHORIZED', `This key is not agent #${id}'s.`);
      return id;
    };

    app.get(
      '/agents',
      { schema: { tags: ['agents'], summary: 'The swarm’s agents (bots of this server in a role, and registered external agents)', response: { 200: json(z.array(AgentJson), 'oldest first'), ...errorResponses(...KEY_ERRORS) } } },
      async () => (await swarm.agentStates()).map((s) => agentJson(s.agent, s)),
    );

    app.post(
      '/agents',
      {
        schema: {
          tags: ['agents'],
          summary: 'Give a bot of this server a swarm role (planner, executor or evaluator)',
          body: agentEnrolSchema,
          response: { 201: json(AgentJson, 'the new agent (Location: /api/agents/{id})'), ...errorResponses('VALIDATION_FAILED', 'BOT_NOT_FOUND', 'AGENT_BOT_TAKEN', ...KEY_ERRORS) },
        },
      },
      async (req, reply) => {
        const agent = await swarm.enrol(req.body, requestActor(req), req.caller);
        reply.code(201).header('location', `/api/agents/${agent.id}`);
        return await agentById(agent.id);
      },
    );

    app.post(
      '/agents/register',
      {
        schema: {
          tags: ['agents'],
          summary: 'Register an external agent; the answer carries its own API key, shown once',
          body: agentRegisterSchema,
          response: { 201: json(RegisteredJson, 'the agent and its key (Location: /api/agents/{id})'), ...errorResponses('VALIDATION_FAILED', ...KEY_ERRORS) },
        },
      },
      async (req, reply) => {
        const { agent, key } = await swarm.register(req.body, requestActor(req));
        reply.code(201).header('location', `/api/agents/${agent.id}`);
        return { id: agent.id, key, agent: await agentById(agent.id), lease_ms: engine.config.swarm.leaseMs };
      },
    );

    app.get(
      '/agents/:id',
      { schema: { tags: ['agents'], summary: 'One agent', params: idParams, response: { 200: json(AgentJson, 'the agent'), ...errorResponses('AGENT_NOT_FOUND', ...KEY_ERRORS) } } },
      async (req) => agentById(agentId(req.params.id)),
    );

    app.delete(
      '/agents/:id',
      {
        schema: {
          tags: ['agents'],
          summary: 'Remove an agent (its open assignments go back to the pool, its key is revoked)',
          params: idParams,
          response: { 204: noContent, ...errorResponses('AGENT_NOT_FOUND', ...KEY_ERRORS) },
        },
      },
      async (req, reply) => {
        await swarm.removeAgent(agentId(req.params.id), requestActor(req));
        return reply.code(204).send();
      },
    );

    app.get(
      '/agents/:id/assignments/next',
      {
        schema: {
          tags: ['agents'],
          summary: "Long poll of an external agent, with its own key: its next assignment, waiting up to `wait` seconds; 204 No Content when none came within the wait",
          params: idParams,
          querystring: nextQuery,
          // 204 (nothing came) is named in the summary: the description lists one success answer per operation.
          response: { 200: json(AgentAssignmentJson, 'the assignment, now the agent’s (working) until its lease ends'), ...errorResponses('VALIDATION_FAILED', 'BAD_REQUEST', 'AGENT_NOT_FOUND', ...KEY_ERRORS) },
        },
      },
      async (req, reply) => {
        const id = self(req.params.id, agentOfRequest(req));
        const abort = new AbortController();
        reply.raw.once('close', () => abort.abort());
        const next = await swarm.nextAssignment(id, Math.min(req.query.wait, engine.config.swarm.maxWaitS) * 1000, abort.signal);
        // Not among the typed answers (see above), so the reply is used untyped here.
        if (!next) return (reply as FastifyReply).code(204).send();
        return agentAssignmentJson(next);
      },
    );

    app.post(
      '/agents/:id/heartbeat',
      {
        schema: {
          tags: ['agents'],
          summary: 'Heartbeat of an external agent, with its own key: renews the leases of its open assignments',
          params: idParams,
          response: { 200: json(HeartbeatJson, 'its open assignments and when their leases end'), ...errorResponses('BAD_REQUEST', 'AGENT_NOT_FOUND', ...KEY_ERRORS) },
        },
      },
      async (req) => {
        const id = self(req.params.id, agentOfRequest(req));
        const beat = await swarm.heartbeat(id);
        return { assignments: beat.assignments, lease_expires_at: new Date(beat.leaseExpiresAt).toISOString() };
      },
    );
  };
