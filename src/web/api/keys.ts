import type { FastifyPluginAsync } from 'fastify';
import type { Engine } from '../../engine/engine.ts';
import { requestActor } from '../api-key-auth.ts';
import { pathId } from '../params.ts';
import { apiKeyJson } from './swarm-json.ts';

/**
 * API keys over REST (mounted under `/api`, scope `admin`): `GET /keys`, `POST /keys {name, scopes}`
 * (answers with the key itself, once), `DELETE /keys/:id` (revokes it; the row stays listed).
 */
export const keyRoutes = (engine: Engine): FastifyPluginAsync =>
  async (app) => {
    const keys = engine.swarm.keys;
    app.get('/keys', async () => keys.list().map(apiKeyJson));

    app.post('/keys', async (req, reply) => {
      const { row, key } = keys.create(req.body ?? {}, requestActor(req));
      reply.code(201).header('location', `/api/keys/${row.id}`);
      return { ...apiKeyJson(row), key };
    });

    app.delete<{ Params: { id: string } }>('/keys/:id', async (req) => apiKeyJson(keys.revoke(pathId(req.params.id, 'API_KEY_NOT_FOUND', 'API key'), requestActor(req))));
  };
