import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyPluginAsync, type FastifyRequest, type RouteOptions } from 'fastify';
import { hasZodFastifySchemaValidationErrors, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import formbody from '@fastify/formbody';
import helmet from '@fastify/helmet';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import type { Logger } from 'pino';
import type { Engine } from '../engine/engine.ts';
import { isLoopbackHost } from '../config.ts';
import { AppError, isAppError, uniqueClash } from '../engine/errors.ts';
import { MAX_DOC_BYTES } from '../engine/docs.ts';
import { validationFailed } from '../engine/bots.ts';
import { apiRoutes } from './api/routes.ts';
import { botSecretRoutes } from './api/bot-secrets.ts';
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
import { redactToken } from './auth.ts';
import { registerApiKeyAuth } from './api-key-auth.ts';
import { registerCaller } from './caller.ts';
import { accountPages, installUserMenu } from './account-pages.ts';
import { userRoutes } from './api/users.ts';
import { swarmWeb } from './swarm-web.ts';
import { healthRoutes, type ChatStatus } from './health.ts';
import { AppMetrics, installMetrics } from './metrics.ts';
import { originGuard } from './origin-guard.ts';
import { createLive, pageRoutes, type Live } from './pages.ts';
import { subscriptionPages } from './subscription-pages.ts';
import { chatPairingWeb } from './chat-pairing.ts';
import { secretPages } from './secret-pages.ts';
import { StreamHub } from './live/hub.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** The dashboard's live stream (hub, parts, event subscriber), for tests and benchmarks. */
    live: Live;
  }
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const require = createRequire(import.meta.url);

export interface AppOptions {
  engine: Engine;
  logger: Logger;
  /**
   * Routes that authenticate themselves, such as the Telegram webhook (it checks its secret
   * token): mounted at `path`, outside the dashboard token and the loopback Host check (Telegram
   * reaches them through a proxy under the public name).
   */
  webhooks?: { path: string; routes: FastifyPluginAsync }[];
  /** Called with every route as it is registered (fastify's `onRoute` hook), e.g. to list them. */
  onRoute?: (route: RouteOptions) => void;
  /** The process's metrics (main.ts shares them with the chat adapters); else the app makes its own. */
  metrics?: AppMetrics;
  /** The chat adapters' connections, for `/health`; none: a configured adapter counts as not started. */
  chatStatus?: () => readonly ChatStatus[];
  /** In a cluster, whether this process runs the chat adapters (see `ChatHealthSource.leader`). */
  chatLeader?: () => boolean | null;
}

/**
 * Builds the HTTP app (dashboard, REST API, SSE) without listening, so tests can `inject()` or
 * `listen()` it as they need.
 */
export async function buildApp({ engine, logger, onRoute, metrics, chatStatus = () => [], chatLeader, webhooks = [] }: AppOptions): Promise<FastifyInstance> {
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
  const selfAuthenticated = new Set(webhooks.map((w) => w.path));
  const isWebhook = (req: FastifyRequest) => req.method === 'POST' && selfAuthenticated.has(req.url.split('?')[0]!);
  const guard = originGuard({ loopbackOnly: isLoopbackHost(engine.config.host) });
  app.addHook('onRequest', async (req, reply) => (isWebhook(req) ? undefined : guard(req, reply)));
  // same-origin, not helmet's no-referrer: under no-referrer browsers send `Origin: null` with the
  // dashboard's own form posts, which the origin guard must refuse. Other sites still get nothing.
  await app.register(helmet, { contentSecurityPolicy: { directives: CSP }, referrerPolicy: { policy: 'same-origin' }, strictTransportSecurity: false });
  // Before the token check too, so guessing the token is as limited as everything else.
  if (engine.config.rateLimitPerMin > 0) {
    await app.register(rateLimit, { global: false });
    app.addHook('onRequest', app.rateLimit({ max: engine.config.rateLimitPerMin, timeWindow: 60_000, allowList: notRateLimited, errorResponseBuilder: rateLimited }));
  }

  // X-API-Key (swarm clients and agents), checked before the dashboard token it may stand in for.
  registerApiKeyAuth(app, engine);
  // Who the request acts as: API key, HTTP Basic, session cookie or DASHBOARD_TOKEN (src/web/caller.ts).
  await registerCaller(app, engine, { isWebhook });

  // After the token check: /metrics is guarded like the API.
  const appMetrics = metrics ?? new AppMetrics(engine);
  if (!metrics) app.addHook('onClose', async () => appMetrics.close());
  installMetrics(app, appMetrics);

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
  // A monochrome emoji font (SIL OFL 1.1), split by unicode-range: a browser fetches only the
  // parts for the emoji a page shows, and only when no font of its own has them.
  await app.register(fastifyStatic, {
    root: path.dirname(require.resolve('@fontsource/noto-emoji/400.css')),
    prefix: '/vendor/noto-emoji/',
    allowedPath: (p) => p === '/400.css' || /^\/files\/noto-emoji-\d+-400-normal\.woff2?$/.test(p),
    maxAge: '7d',
    decorateReply: false,
  });

  await app.register(healthRoutes(engine, { statuses: chatStatus, leader: chatLeader }));
  // Before every route plugin: each page's header (its bell) joins the live stream (`req.server.live`).
  const live = createLive(engine, new StreamHub(), path.join(ROOT, 'views'), (err) => logger.error({ err }, 'live page update failed'));
  app.decorate('live', live);
  live.view.start();
  app.addHook('onClose', async () => {
    await live.view.stop();
    live.hub.close();
  });
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
      await api.register(userRoutes(engine));
      await api.register(botSecretRoutes(engine));
      await api.register(openApiRoutes(path.join(ROOT, 'views')));
    },
    { prefix: '/api' },
  );
  installUserMenu(app, engine, path.join(ROOT, 'views'));
  await app.register(accountPages(engine, path.join(ROOT, 'views')));
  await app.register(pageRoutes(engine, live));
  await app.register((await import('./docs-pages.ts')).docsPageRoutes(engine, path.join(ROOT, 'views')));
  await app.register(orchestrationPages(engine, path.join(ROOT, 'views')));
  await app.register(approvalPages(engine, path.join(ROOT, 'views'), live.hub));
  await app.register(pipelinePages(engine, path.join(ROOT, 'views'), live.hub));
  await app.register(recipePages(engine, path.join(ROOT, 'views'), live.hub));
  await app.register(swarmWeb(engine, path.join(ROOT, 'views')));
  await app.register(runsPage(engine, path.join(ROOT, 'views')));
  await app.register(subscriptionPages(engine, path.join(ROOT, 'views')));
  await app.register(chatPairingWeb(engine, path.join(ROOT, 'views')));
  await app.register(secretPages(engine, path.join(ROOT, 'views')));
  for (const w of webhooks) await app.register(w.routes);
  return app;
}

/**
 * The Content-Security-Policy of every response (@fastify/helmet). Scripts only from this site:
 * htmx, its SSE extension and `public/app.js` (so no inline handlers or `<script>` in views, and
 * no eval: `views/layout.eta` sets `htmx.config.allowEval`, `allowScriptTags` and
 * `includeIndicatorStyles` off, the indicator CSS is in `public/app.css`). Style attributes are
 * allowed (the views use them), `<style>` elements are not. `connect-src 'self'` covers htmx
 * requests and the live log streams (EventSource). No `upgrade-insecure-requests`: the dashboard
 * is served over plain HTTP (HTTPS, if any, is a reverse proxy's business, as is HSTS).
 */
const CSP = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  styleSrcAttr: ["'unsafe-inline'"],
  imgSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  fontSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  scriptSrcAttr: ["'none'"],
  upgradeInsecureRequests: null,
};

/**
 * Requests the per-client rate limit (`RATE_LIMIT_PER_MIN`) does not count: everything but the
 * API (the dashboard's pages and its polling, static files), and the API's live log streams (one
 * long request each, which a person watching several runs should not run out of).
 */
function notRateLimited(req: FastifyRequest): boolean {
  return !req.url.startsWith('/api/') || req.routeOptions.url === '/api/runs/:id/events' || (req.headers.accept ?? '').includes('text/event-stream');
}

/** The 429 of a client over its limit, in the API's error shape (thrown to the error handler). */
function rateLimited(_req: FastifyRequest, ctx: { max: number; after: string }): AppError {
  return new AppError('RATE_LIMITED', `Too many requests: at most ${ctx.max} API requests a minute from one client. Try again in ${ctx.after}.`);
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
  const clash = uniqueClash(err);
  if (clash) return clash;
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
  return !url.startsWith('/api/') && !url.startsWith('/health') && !url.startsWith('/metrics') && (accept ?? '').includes('text/html');
}

function errorPage(e: AppError): string {
  const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html><meta charset="utf-8"><title>${e.status} · openOrchestrator</title><link rel="stylesheet" href="/static/app.css"><main class="page"><div class="error-page"><h1>${e.status}</h1><p>${esc(e.message)}</p><p><a href="/">Back to the dashboard</a></p></div></main>`;
}
