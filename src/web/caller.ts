import type { FastifyInstance } from 'fastify';
import type { Caller } from '../engine/access.ts';
import { FIRST_ADMIN_ID } from '../engine/access.ts';
import type { Engine } from '../engine/engine.ts';

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
    const user = (req.apiKey ? engine.users.get(req.apiKey.userId) : undefined) ?? engine.users.get(FIRST_ADMIN_ID) ?? engine.users.ensureFirstAdmin();
    req.caller = engine.users.callerOf(user);
  });
}
