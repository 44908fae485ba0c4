import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { assertAccess, assertMayCreate, mayRead } from '../../engine/access.ts';
import type { Engine } from '../../engine/engine.ts';
import { apiKeyInputSchema } from '../../engine/swarm/schemas.ts';
import { requestActor } from '../api-key-auth.ts';
import { pathId } from '../params.ts';
import { errorResponses, idParams, json } from './schemas.ts';
import { ApiKeyJson, apiKeyJson } from './swarm-json.ts';
import { KEY_ERRORS } from './tasks.ts';

const NewApiKeyJson = ApiKeyJson.extend({ key: z.string().meta({ description: 'the key itself (send as X-API-Key); shown only this once' }) }).meta({ id: 'NewApiKey' });

/**
 * API keys over REST (mounted under `/api`, scope `admin`): `GET /keys`, `POST /keys {name, scopes}`
 * (answers with the key itself, once), `DELETE /keys/:id` (revokes it; the row stays listed).
 */
export const keyRoutes = (engine: Engine): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<ZodTypeProvider>();
    const keys = engine.swarm.keys;

    app.get(
      '/keys',
      { schema: { tags: ['keys'], summary: 'All API keys, revoked ones too (without their secrets)', response: { 200: json(z.array(ApiKeyJson), 'the keys'), ...errorResponses(...KEY_ERRORS) } } },
      // An operator's own keys; admins and viewers see every key (never a secret).
      async (req) => keys.list().filter((k) => mayRead(req.caller, k.userId)).map(apiKeyJson),
    );

    app.post(
      '/keys',
      {
        schema: {
          tags: ['keys'],
          summary: 'Create an API key with scopes (tasks, agents, admin); the answer carries the key, shown once',
          body: apiKeyInputSchema,
          response: { 201: json(NewApiKeyJson, 'the new key (Location: /api/keys/{id})'), ...errorResponses('VALIDATION_FAILED', ...KEY_ERRORS) },
        },
      },
      async (req, reply) => {
        // A key acts as the user who made it, never as more (a viewer makes none).
        assertMayCreate(req.caller);
        const { row, key } = keys.create(req.body, requestActor(req), null, req.caller.userId);
        reply.code(201).header('location', `/api/keys/${row.id}`);
        return { ...apiKeyJson(row), key };
      },
    );

    app.delete(
      '/keys/:id',
      {
        schema: {
          tags: ['keys'],
          summary: 'Revoke an API key (it stays listed, revoked)',
          params: idParams,
          response: { 200: json(ApiKeyJson, 'the key, now revoked'), ...errorResponses('API_KEY_NOT_FOUND', ...KEY_ERRORS) },
        },
      },
      async (req) => {
        const id = pathId(req.params.id, 'API_KEY_NOT_FOUND', 'API key');
        assertAccess(req.caller, keys.get(id).userId, 'write', { code: 'API_KEY_NOT_FOUND', message: `No API key with id ${id}.` });
        return apiKeyJson(keys.revoke(id, requestActor(req)));
      },
    );
  };
