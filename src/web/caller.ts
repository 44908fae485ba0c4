import cookie from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Caller } from '../engine/access.ts';
import { FIRST_ADMIN_ID } from '../engine/access.ts';
import type { Engine } from '../engine/engine.ts';
import { AppError } from '../engine/errors.ts';
import { SESSION_TTL_MS } from '../engine/sessions.ts';
import { FIRST_ADMIN_NAME } from '../engine/users.ts';
import { isLoopbackHost } from '../config.ts';
import { checkToken, withoutToken } from './auth.ts';
import { HEALTH_PATHS } from './health.ts';

/** How a request proved who it is (`req.signedInBy`). */
export type SignInMethod = 'api-key' | 'basic' | 'session' | 'token' | 'loopback' | null;

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request acts as (src/engine/access.ts); every route scopes what it reads and changes by it. */
    caller: Caller;
    /**
     * How `caller` was established: a credential, `loopback` (a loopback server where no user
     * has a password acts as the first admin), or null (no credentials: an open route such as
     * /health, /login or /setup, where `caller` is the first admin but nothing may be done as them).
     */
    signedInBy: SignInMethod;
  }
}

/** The session cookie: a random token whose SHA-256 is a row of `sessions`. */
export const SESSION_COOKIE = 'oo_session';
/** The sign-in page. */
export const LOGIN_PATH = '/login';
/** The first-run page that gives the first admin a name and password. */
export const SETUP_PATH = '/setup';
/** `WWW-Authenticate` of a refused HTTP Basic sign-in (RFC 7617 §2, with its `charset` parameter). */
export const BASIC_CHALLENGE = 'Basic realm="openOrchestrator", charset="UTF-8"';

/** Served to anyone, signed in or not: health checks, the stylesheet and scripts, vendored libraries. */
function isOpenPath(path: string): boolean {
  return HEALTH_PATHS.includes(path) || path.startsWith('/static/') || path.startsWith('/vendor/');
}

/** The sign-in pages: reachable without credentials once accounts are configured. */
function isSignInPath(path: string): boolean {
  return path === LOGIN_PATH || path === SETUP_PATH || path === '/logout';
}

/** User name and password of an `Authorization: Basic base64(user:password)` header (RFC 7617), or null when malformed. */
export function parseBasic(header: string): { username: string; password: string } | null {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1) return null;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * Sets the session cookie: HttpOnly (no script reads it), SameSite=Lax (not sent on other sites'
 * POSTs), Path=/, Secure when the request came over TLS, kept {@link SESSION_TTL_MS}.
 */
export function setSessionCookie(req: FastifyRequest, reply: FastifyReply, token: string): void {
  reply.setCookie(SESSION_COOKIE, token, { httpOnly: true, sameSite: 'lax', path: '/', secure: req.protocol === 'https', maxAge: Math.floor(SESSION_TTL_MS / 1000) });
}

/** A page request a browser navigates to (GET/HEAD of a non-API path asking for HTML): answered with a redirect rather than JSON. */
function isPageRequest(req: FastifyRequest, path: string): boolean {
  return (req.method === 'GET' || req.method === 'HEAD') && !path.startsWith('/api/') && (req.headers.accept ?? '').includes('text/html');
}

/** `next` for the sign-in page: a path of this site only (`/x?y`), never `//host` or `/\host`. */
export function safeNext(next: unknown): string {
  return typeof next === 'string' && /^\/(?![/\\])/.test(next) ? next : '/';
}

/**
 * Registers @fastify/cookie and sets `req.caller` and `req.signedInBy` on every request, after
 * the API key check (src/web/api-key-auth.ts). First match wins:
 * 1. a valid `X-API-Key`: the key's user (a key whose user is gone is 401);
 * 2. `Authorization: Basic` (RFC 7617): that user; a wrong name or password is 401 `LOGIN_FAILED`
 *    with `WWW-Authenticate`;
 * 3. the `oo_session` cookie of a live session: its user (the expiry slides forward);
 * 4. `DASHBOARD_TOKEN` (bearer, `oo_token` cookie, `?token=`): the first admin, for scripts.
 *
 * /health, /static/*, /vendor/* and webhooks are served without looking at credentials (their
 * `caller` is a stand-in for the first admin, read from nowhere). Without credentials: once accounts are
 * configured (some user has a password), pages redirect (303) to /login?next=… and everything
 * else is 401 `UNAUTHORIZED`; before that, a server off loopback refuses all but /setup with 403
 * `SETUP_REQUIRED`; with a `DASHBOARD_TOKEN` the token is required (401) as it always was; a
 * loopback server acts as the first admin (the two-command quickstart).
 * @param opts.isWebhook routes that authenticate themselves (the Telegram webhook): served without credentials.
 */
export async function registerCaller(app: FastifyInstance, engine: Engine, opts: { isWebhook?: (req: FastifyRequest) => boolean } = {}): Promise<void> {
  await app.register(cookie);
  app.decorateRequest('caller', null as unknown as Caller);
  app.decorateRequest('signedInBy', null);
  const loopback = isLoopbackHost(engine.config.host);
  const token = engine.config.dashboardToken;
  const firstAdmin = async () => engine.users.callerOf((await engine.users.get(FIRST_ADMIN_ID)) ?? (await engine.users.ensureFirstAdmin()));

  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0] ?? '';
    if (!req.apiKey && (isOpenPath(path) || opts.isWebhook?.(req))) {
      // No database read: /health must answer while the database does not.
      req.caller = { userId: FIRST_ADMIN_ID, role: 'admin', username: FIRST_ADMIN_NAME };
      req.signedInBy = null;
      return;
    }
    if (req.apiKey) {
      const owner = await engine.users.get(req.apiKey.userId);
      if (!owner) throw new AppError('UNAUTHORIZED', 'The API key is not valid: its user was deleted.');
      req.caller = engine.users.callerOf(owner);
      req.signedInBy = 'api-key';
      return;
    }
    const authorization = req.headers.authorization;
    if (authorization && /^basic\s/i.test(authorization)) {
      const creds = parseBasic(authorization);
      const user = creds ? await engine.users.verifyPassword(creds.username, creds.password) : null;
      if (!user) {
        reply.header('www-authenticate', BASIC_CHALLENGE);
        throw new AppError('LOGIN_FAILED', 'HTTP Basic Auth: the user name or the password is wrong.');
      }
      req.caller = engine.users.callerOf(user);
      req.signedInBy = 'basic';
      return;
    }
    const sessionToken = req.cookies[SESSION_COOKIE];
    if (sessionToken) {
      const session = await engine.sessions.resolve(sessionToken);
      if (session) {
        if (session.touched) setSessionCookie(req, reply, sessionToken);
        req.caller = engine.users.callerOf(session.user);
        req.signedInBy = 'session';
        return;
      }
    }
    if (token) {
      const r = checkToken(req, token);
      if (r.ok) {
        req.caller = await firstAdmin();
        req.signedInBy = 'token';
        if (r.setCookie) reply.header('set-cookie', r.setCookie);
        // A page opened as /?token=… comes back without it, so the token leaves the address bar
        // and the history; API clients keep working with it (they should send a bearer token).
        const clean = withoutToken(req.url);
        if (req.method === 'GET' && clean !== req.url && !req.url.startsWith('/api/')) return reply.redirect(clean, 303);
        return;
      }
    }

    req.caller = await firstAdmin();
    req.signedInBy = null;
    if (await engine.users.accountsConfigured()) {
      if (isSignInPath(path)) return;
      if (isPageRequest(req, path)) return reply.redirect(`${LOGIN_PATH}?next=${encodeURIComponent(req.url)}`, 303);
      if (req.headers['hx-request']) reply.header('hx-redirect', LOGIN_PATH);
      throw new AppError('UNAUTHORIZED', 'Sign in first: a session (POST /login), HTTP Basic Auth, an X-API-Key or the DASHBOARD_TOKEN.');
    }
    if (token) {
      if (path === LOGIN_PATH) return;
      throw new AppError('UNAUTHORIZED', 'A valid dashboard token is required (Authorization: Bearer <DASHBOARD_TOKEN>, or open /?token=<DASHBOARD_TOKEN> once).');
    }
    if (!loopback) {
      if (path === SETUP_PATH) return;
      throw new AppError('SETUP_REQUIRED', `This server listens on ${engine.config.host} and no admin has a password yet. Open ${SETUP_PATH} to choose one (or set ADMIN_PASSWORD and restart).`);
    }
    req.signedInBy = 'loopback';
  });
}
