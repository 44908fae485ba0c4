import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyRequest, type RouteOptions } from 'fastify';
import { hasZodFastifySchemaValidationErrors, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import formbody from '@fastify/formbody';
import multipart from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import type { Logger } from 'pino';
import type { Engine } from '../engine/engine.ts';
import { isLoopbackHost } from '../config.ts';
import { AppError, isAppError } from '../engine/errors.ts';
import { MAX_DOC_BYTES } from '../engine/docs.ts';
import { validationFailed } from '../engine/bots.ts';
import { apiRoutes } from './api/routes.ts';
import { openApiRoutes, registerOpenApi } from './api/openapi.ts';
import { orchestrationRoutes } from './api/orchestration.ts';
import { approvalRoutes } from './api/approvals.ts';
import { recipeRoutes } from './api/recipes.ts';
import { runRoutes } from './api/runs.ts';
import { runsPage } from './runs-page.ts';
import { orchestrationPages } from './orchestration-pages.ts';
import { approvalPages } from './approval-pages.ts';
import { pipelinePages } from './pipeline-pages.ts';
import { recipePages } from './recipe-pages.ts';
import { checkToken, redactToken, withoutToken } from './auth.ts';
import { registerApiKeyAuth } from './api-key-auth.ts';
import { swarmWeb } from './swarm-web.ts';
import { originGuard } from './origin-guard.ts';
import { pageRoutes } from './pages.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const require = createRequire(import.meta.url);

export interface AppOptions {
  engine: Engine;
  logger: Logger;
  /** Called with every route as it is registered (fastify's `onRoute` hook), e.g. to list them. */
  onRoute?: (route: RouteOptions) => void;
}

/**
 * Builds the HTTP app (dashboard, REST API, SSE) without listening, so tests can `inject()` or
 * `listen()` it as they need.
 */
export async function buildApp({ engine, logger, onRoute }: AppOptions): Promise<FastifyInstance> {
  // forceCloseConnections: live log streams (SSE) would otherwise hold `close()` until their runs end.
  const app = Fastify({ loggerInstance: withRedactedRequests(logger) as FastifyBaseLogger, forceCloseConnections: true, bodyLimit: MAX_DOC_BYTES + 1024 * 1024 });

  if (onRoute) app.addHook('onRoute', onRoute);
  // The routes' zod schemas validate requests and serialize responses (fastify-type-provider-zod).
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  await registerOpenApi(app);

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const e = toAppError(err);
    if (e.status >= 500) req.log.error({ err }, 'request failed');
    if (wantsHtml(req.url, req.headers.accept)) {
      return reply.code(e.status).type('text/html; charset=utf-8').send(errorPage(e));
    }
    return reply.code(e.status).send({ error: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) } });
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new AppError('NOT_FOUND', `Nothing at ${req.method} ${req.url.split('?')[0]}.`);
    if (wantsHtml(req.url, req.headers.accept)) return reply.code(404).type('text/html; charset=utf-8').send(errorPage(e));
    return reply.code(404).send({ error: { code: e.code, message: e.message } });
  });

  // CSRF and DNS rebinding: before the token check, so a foreign page learns nothing from a 401.
  app.addHook('onRequest', originGuard({ loopbackOnly: isLoopbackHost(engine.config.host) }));

  // X-API-Key (swarm clients and agents), checked before the dashboard token it may stand in for.
  registerApiKeyAuth(app, engine);
  if (engine.config.dashboardToken) {
    const token = engine.config.dashboardToken;
    app.addHook('onRequest', async (req, reply) => {
      if (req.url === '/healthz' || req.url.startsWith('/static/') || req.apiKey) return;
      const r = checkToken(req, token);
      if (r.ok) {
        if (r.setCookie) reply.header('set-cookie', r.setCookie);
        // A page opened as /?token=… comes back without it, so the token leaves the address bar
        // and the history; API clients keep working with it (they should send a bearer token).
        const clean = withoutToken(req.url);
        if (req.method === 'GET' && clean !== req.url && !req.url.startsWith('/api/')) return reply.redirect(clean, 303);
        return;
      }
      throw new AppError('UNAUTHORIZED', 'A valid dashboard token is required (Authorization: Bearer <DASHBOARD_TOKEN>, or open /?token=<DASHBOARD_TOKEN> once).');
    });
  }

  await app.register(formbody);
  await app.register(multipart, { limits: { fileSize: MAX_DOC_BYTES, files: 20 } });
  await app.register(fastifyStatic, { root: path.join(ROOT, 'public'), prefix: '/static/' });
  await app.register(fastifyStatic, {
    root: path.dirname(require.resolve('htmx.org/dist/htmx.min.js')),
    prefix: '/vendor/htmx/',
    decorateReply: false,
  });
  await app.register(fastifyStatic, {
    root: path.dirname(require.resolve('sortablejs/Sortable.min.js')),
    prefix: '/vendor/sortablejs/',
    decorateReply: false,
  });
  await app.register(fastifyStatic, {
    root: path.dirname(require.resolve('htmx-ext-sse/dist/sse.min.js')),
    prefix: '/vendor/htmx-ext-sse/',
    decorateReply: false,
  });

  app.get('/healthz', async () => ({
    status: 'ok',
    runs: { running: engine.runner.runningCount, queued: engine.runner.queuedCount },
  }));
  await app.register(
    async (api) => {
      // A request without a body validates like an empty JSON object, so a missing field is named
      // ("name is required") instead of "expected object, received undefined".
      api.addHook('preValidation', async (req) => {
        if (req.body === undefined || req.body === null) req.body = {};
      });
      await api.register(apiRoutes(engine));
      await api.register(orchestrationRoutes(engine));
      await api.register(runRoutes(engine));
      await api.register(approvalRoutes(engine));
      await api.register(recipeRoutes(engine));
      await api.register(openApiRoutes(path.join(ROOT, 'views')));
    },
    { prefix: '/api' },
  );
  await app.register(pageRoutes(engine, path.join(ROOT, 'views')));
  await app.register((await import('./docs-pages.ts')).docsPageRoutes(engine, path.join(ROOT, 'views')));
  await app.register(orchestrationPages(engine, path.join(ROOT, 'views')));
  await app.register(approvalPages(engine, path.join(ROOT, 'views')));
  await app.register(pipelinePages(engine, path.join(ROOT, 'views')));
  await app.register(recipePages(engine, path.join(ROOT, 'views')));
  await app.register(swarmWeb(engine, path.join(ROOT, 'views')));
  await app.register(runsPage(engine, path.join(ROOT, 'views')));
  return app;
}

/**
 * The app's logger with fastify's request serializer replaced by one that hides `?token=` values,
 * so the "incoming request" line never carries the dashboard token. Fastify takes a
 * `loggerInstance`'s own serializers over its defaults (lib/logger-pino.js), so a child with a
 * `req` serializer is enough.
 */
function withRedactedRequests(logger: Logger): Logger {
  return logger.child(
    {},
    {
      serializers: {
        req: (req: FastifyRequest) => ({
          method: req.method,
          url: redactToken(req.url),
          host: req.host,
          remoteAddress: req.ip,
          remotePort: req.socket?.remotePort,
        }),
      },
    },
  );
}

function toAppError(err: FastifyError | Error): AppError {
  if (isAppError(err)) return err;
  if (hasZodFastifySchemaValidationErrors(err)) {
    // A query parameter is named as such; a body field by its path ("steps.0"), like the engine does.
    const where = (err as FastifyError).validationContext;
    return validationFailed(
      err.validation.map((v) => {
        const field = v.instancePath.slice(1).replaceAll('/', '.');
        return { field: field || `(${where ?? 'body'})`, message: v.message ?? 'is not valid' };
      }),
    );
  }
  const fe = err as FastifyError;
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || fe.code === 'FST_REQ_FILE_TOO_LARGE' || fe.statusCode === 413) {
    return new AppError('PAYLOAD_TOO_LARGE', 'The request body is too large.');
  }
  if (fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500)) {
    return new AppError('BAD_REQUEST', fe.message || 'The request could not be read.');
  }
  return new AppError('INTERNAL', 'Something went wrong on our side; the server log has the details.');
}

function wantsHtml(url: string, accept: string | undefined): boolean {
  return !url.startsWith('/api/') && !url.startsWith('/healthz') && (accept ?? '').includes('text/html');
}

function errorPage(e: AppError): string {
  const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html><meta charset="utf-8"><title>${e.status} · openOrchestrator</title><link rel="stylesheet" href="/static/app.css"><main class="page"><div class="error-page"><h1>${e.status}</h1><p>${esc(e.message)}</p><p><a href="/">Back to the dashboard</a></p></div></main>`;
}
