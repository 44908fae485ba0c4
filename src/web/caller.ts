import type { FastifyInstance } from 'fastify';
import type { Caller } from '../engine/access.ts';
import { FIRST_ADMIN_ID } from '../engine/access.ts';
import type { Engine } from '../engine/engine.ts';
import { AppError } from '../engine/errors.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request acts as (src/engine/access.ts); every route scopes what it reads and changes by it. */
    caller: Caller;
  }
}

/**
 * Sets `req.caller` on every request, after the API key check: a request with a valid
 * `X-API-Key` acts as the key's user; any other request, until sign-in exists, as the first
 * admin (the dashboard token or a loopback server let it in as today).
 */
export function registerCaller(app: FastifyInstance, engine: Engine): void {
  app.decorateRequest('caller', null as unknown as Caller);
  app.addHook('onRequest', async (req) => {
    if (req.apiKey) {
      const owner = engine.users.get(req.apiKey.userId);
      if (!owner) throw new AppError('UNAUTHORIZED', 'The API key is not valid: its user was deleted.');
      req.caller = engine.users.callerOf(owner);
      return;
    }
    req.caller = engine.users.callerOf(engine.users.get(FIRST_ADMIN_ID) ?? engine.users.ensureFirstAdmin());
  });
}
