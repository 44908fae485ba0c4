import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { assertAccess, mayCreate, mayRead } from '../../engine/access.ts';
import type { Engine } from '../../engine/engine.ts';
import { AppError } from '../../engine/errors.ts';
import { apiKeyInputSchema } from '../../engine/swarm/schemas.ts';
import { requestActor } from '../api-key-auth.ts';
import { pathId } from '../params.ts';
import { errorResponses, idParams, json } from './schemas.ts';
import { ApiKeyJson, apiKeyJson } from './swarm-json.ts';
import { KEY_ERRORS } from './tasks.ts';

/** `POST /api/keys`: a key's name and scopes, and (admins only) the user it acts as. */
const newKeyBody = apiKeyInputSchema.extend({
  user_id: z.int().positive().optional().meta({ description: 'the user the key acts as (admins only); default: the caller' }),
});

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
      async (req) => (await keys.list()).filter((k) => mayRead(req.caller, k.userId)).map(apiKeyJson),
    );

    app.post(
      '/keys',
      {
        schema: {
          tags: ['keys'],
          summary: 'Create an API key with scopes (tasks, agents, admin); the answer carries the key, shown once',
          body: newKeyBody,
          response: { 201: json(NewApiKeyJson, 'the new key (Location: /api/keys/{id})'), ...errorResponses('VALIDATION_FAILED', 'USER_NOT_FOUND', 'FORBIDDEN_ROLE', ...KEY_ERRORS) },
        },
      },
      async (req, reply) => {
        // A key acts as the caller; an admin may make one for another user. Viewers make none.
        const { user_id: forUser, ...input } = req.body;
        const userId = forUser ?? req.caller.userId;
        if (!mayCreate(req.caller) || (userId !== req.caller.userId && req.caller.role !== 'admin')) {
          throw new AppError('FORBIDDEN_ROLE', req.caller.role === 'viewer' ? 'A viewer creates no API keys.' : 'Only admins create keys for other users; yours act as you.');
        }
        await engine.users.require(userId);
        const { row, key } = await keys.create(input, requestActor(req), null, userId);
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
        assertAccess(req.caller, (await keys.get(id)).userId, 'write', { code: 'API_KEY_NOT_FOUND', message: `No API key with id ${id}.` });
        return apiKeyJson(await keys.revoke(id, requestActor(req)));
      },
    );
  };
