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
 * Sets `req.caller` on every request. Until sign-in exists this is the first admin (the
 * dashboard token or a loopback server let the request in as today).
 */
export function registerCaller(app: FastifyInstance, engine: Engine): void {
  app.decorateRequest('caller', null as unknown as Caller);
  app.addHook('onRequest', async (req) => {
    const admin = engine.users.get(FIRST_ADMIN_ID) ?? engine.users.ensureFirstAdmin();
    req.caller = engine.users.callerOf(admin);
  });
}
