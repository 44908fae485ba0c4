import type { FastifyPluginAsync } from 'fastify';
import type { Engine } from '../engine/engine.ts';
import { agentRoutes } from './api/agents.ts';
import { keyRoutes } from './api/keys.ts';
import { emptyBodyAsObject } from './api/schemas.ts';
import { taskRoutes } from './api/tasks.ts';
import { taskPages } from './task-pages.ts';

/** Everything of swarm tasks on the web: `/api/tasks`, `/api/agents`, `/api/keys`, and the Tasks and API-keys pages. */
export const swarmWeb = (engine: Engine, viewsDir: string): FastifyPluginAsync =>
  async (app) => {
    await app.register(
      async (api) => {
        api.addHook('preValidation', emptyBodyAsObject);
        await api.register(taskRoutes(engine));
        await api.register(agentRoutes(engine));
        await api.register(keyRoutes(engine));
      },
      { prefix: '/api' },
    );
    await app.register(taskPages(engine, viewsDir));
  };
