import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiKeyRow } from '../engine/db/schema.ts';
import type { Engine } from '../engine/engine.ts';
import { AppError } from '../engine/errors.ts';
import { hasScope } from '../engine/swarm/api-keys.ts';
import type { ApiKeyScope } from '../engine/swarm/schemas.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The API key the request came with (`X-API-Key`), once verified; null without one. */
    apiKey: ApiKeyRow | null;
  }
}

/** The header API clients and external agents send their key in (seed 004: `X-API-KEY`; header names are case-insensitive). */
export const API_KEY_HEADER = 'x-api-key';

/**
 * What a route needs of a key: `tasks` for `/api/tasks…` (except an agent's results, `agents`),
 * `agents` for registering, listing and polling agents, `admin` for the rest (keys, bots, enrolling
 * a bot as agent, the dashboard pages).
 */
export function scopeFor(method: string, path: string): ApiKeyScope {
  if (method === 'POST' && /^\/api\/tasks\/\d+\/results$/.test(path)) return 'agents';
  if (path === '/api/tasks' || path.startsWith('/api/tasks/')) return 'tasks';
  if (path === '/api/agents' && method === 'POST') return 'admin';
  if (/^\/api\/agents\/\d+$/.test(path) && method === 'DELETE') return 'admin';
  if (path === '/api/agents' || path.startsWith('/api/agents/')) return 'agents';
  return 'admin';
}

/**
 * An agent's own key may only act as that agent: its own `/api/agents/<id>…` routes and the
 * results of its assignments.
 */
function allowedForAgentKey(agentId: number, method: string, path: string): boolean {
  if (method === 'POST' && /^\/api\/tasks\/\d+\/results$/.test(path)) return true;
  const m = /^\/api\/agents\/(\d+)(?:\/|$)/.exec(path);
  return m !== null && Number(m[1]) === agentId && !(method === 'DELETE' && /^\/api\/agents\/\d+$/.test(path));
}

/**
 * Checks `X-API-Key` on every request that sends one, before the dashboard token: an unknown or
 * revoked key is 401 whatever else the request carries; a valid key without the route's scope is
 * 403; a valid key with it lets the request through (`req.apiKey`), in place of the dashboard token.
 * Requests without the header are left to the dashboard token (or, on a loopback server without
 * one, to nothing, as before). Mutating requests made with a key are audited as `key.used`.
 */
export function registerApiKeyAuth(app: FastifyInstance, engine: Engine): void {
  app.decorateRequest('apiKey', null);
  app.addHook('onRequest', async (req) => {
    const header = req.headers[API_KEY_HEADER];
    if (header === undefined) return;
    const key = await engine.swarm.keys.verify(Array.isArray(header) ? (header[0] ?? '') : header.trim());
    if (!key) throw new AppError('UNAUTHORIZED', 'The API key is not valid: it is unknown or was revoked.');
    const path = req.url.split('?')[0] ?? '';
    const needed = scopeFor(req.method, path);
    if (key.agentId !== null ? !allowedForAgentKey(key.agentId, req.method, path) : !hasScope(key.scopes, needed)) {
      throw new AppError('FORBIDDEN_SCOPE', key.agentId !== null ? `This key belongs to agent #${key.agentId} and may only act as that agent.` : `This key has the scopes ${key.scopes.join(', ')}; ${req.method} ${path} needs "${needed}".`);
    }
    req.apiKey = key;
    if (req.method !== 'GET' && req.method !== 'HEAD' && !path.endsWith('/heartbeat')) {
      await engine.swarm.audit.record({ taskId: await existingTaskId(engine, path), actor: `key:${key.name}`, event: 'key.used', payload: { key_id: key.id, method: req.method, path } });
    }
  });
}

/** The id of the task a `/api/tasks/<id>…` path names, when that task exists. */
async function existingTaskId(engine: Engine, path: string): Promise<number | null> {
  const m = /^\/api\/tasks\/(\d{1,15})(?:\/|$)/.exec(path);
  if (!m) return null;
  try {
    return (await engine.swarm.tasks.get(Number(m[1]))).id;
  } catch {
    return null;
  }
}

/** Who made a request, as the audit names it: `key:<name>`, else `dashboard` for pages and `api` for the API. */
export function requestActor(req: FastifyRequest): string {
  if (req.apiKey) return `key:${req.apiKey.name}`;
  return req.url.startsWith('/api/') ? 'api' : 'dashboard';
}
