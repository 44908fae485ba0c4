import type { FastifyPluginAsync } from 'fastify';
import type { Engine } from '../engine/engine.ts';
import { agentRoutes } from './api/agents.ts';
import { keyRoutes } from './api/keys.ts';
import { taskRoutes } from './api/tasks.ts';
import { taskPages } from './task-pages.ts';

/** Everything of swarm tasks on the web: `/api/tasks`, `/api/agents`, `/api/keys`, and the Tasks and API-keys pages. */
export const swarmWeb = (engine: Engine, viewsDir: string): FastifyPluginAsync =>
  async (app) => {
    await app.register(taskRoutes(engine), { prefix: '/api' });
    await app.register(agentRoutes(engine), { prefix: '/api' });
    await app.register(keyRoutes(engine), { prefix: '/api' });
    await app.register(taskPages(engine, viewsDir));
  };
