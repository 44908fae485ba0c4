import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { FIRST_ADMIN_ID, ROLES } from '../engine/access.ts';
import type { Engine } from '../engine/engine.ts';
import { AppError, isAppError } from '../engine/errors.ts';
import { validationError } from '../engine/bots.ts';
import { MIN_PASSWORD_LENGTH, passwordSchema, usernameSchema } from '../engine/users.ts';
import { isLoopbackHost } from '../config.ts';
import { LOGIN_PATH, safeNext, SESSION_COOKIE, setSessionCookie, SETUP_PATH } from './caller.ts';
import { pathId } from './params.ts';
import { viewRenderer, type Renderer } from './render.ts';

type Form = Record<string, string | string[] | undefined>;

/** The marker in views/layout.eta that {@link installUserMenu} replaces with the header's user menu. */
export const USER_MENU_MARKER = '<!--oo-user-menu-->';

/** Sign-in attempts (POST /login, POST /setup) one client may make a minute, when RATE_LIMIT_PER_MIN is on. */
const SIGN_IN_ATTEMPTS_PER_MIN = 10;

const str = (v: unknown): string => (Array.isArray(v) ? String(v[0] ?? '') : typeof v === 'string' ? v : '');
const form = (req: FastifyRequest): Form => (req.body ?? {}) as Form;
const html = (reply: FastifyReply, body: string, status = 200) => reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(body);

/**
 * Puts the user menu (views/partials/user-menu.eta: name, role, Settings, Users for admins, Log
 * out) into every HTML page that carries {@link USER_MENU_MARKER}, for `req.caller`, so no page
 * route has to pass the caller to the layout. Registered on the root instance (an `onSend` hook).
 */
export function installUserMenu(app: FastifyInstance, engine: Engine, viewsDir: string): void {
  const render = viewRenderer(viewsDir);
  app.addHook('onSend', async (req, reply, payload) => {
    if (typeof payload !== 'string' || !payload.includes(USER_MENU_MARKER) || !req.caller) return payload;
    const type = String(reply.getHeader('content-type') ?? '');
    if (!type.startsWith('text/html')) return payload;
    const user = await engine.users.get(req.caller.userId);
    const menu = render('partials/user-menu', {
      caller: req.caller,
      needsPassword: !!user && !user.passwordHash,
      canLogOut: req.signedInBy === 'session' || req.signedInBy === 'token',
    });
    return payload.replace(USER_MENU_MARKER, menu);
  });
}

/**
 * Sign-in and account pages: `/login` (form; POST starts a session), `POST /logout`, `/setup`
 * (first run: the first admin's name and password, while they have none), `/users` (admins: list,
 * create, change role, delete), `/settings` (the account; change password).
 */
export const accountPages = (engine: Engine, viewsDir: string): FastifyPluginAsync =>
  async (app) => {
    const render: Renderer = viewRenderer(viewsDir);
    // Counted by @fastify/rate-limit when it is on (RATE_LIMIT_PER_MIN > 0, src/web/app.ts), in a
    // count of its own per client address. (A route's `config.rateLimit` would not count: the
    // app-wide hook has already run for the request, and the plugin runs one limiter per request.)
    const attempts = engine.config.rateLimitPerMin > 0 && app.hasDecorator('createRateLimit')
      ? app.createRateLimit({ max: SIGN_IN_ATTEMPTS_PER_MIN, timeWindow: 60_000, keyGenerator: (req) => `sign-in:${req.ip}` })
      : null;
    /** @throws {AppError} RATE_LIMITED past {@link SIGN_IN_ATTEMPTS_PER_MIN} attempts a minute from this client. */
    const countAttempt = async (req: FastifyRequest) => {
      const r = attempts ? await attempts(req) : null;
      if (r && !r.isAllowed && r.isExceeded) throw new AppError('RATE_LIMITED', `Too many sign-in attempts from this address: at most ${SIGN_IN_ATTEMPTS_PER_MIN} a minute. Try again in ${r.ttlInSeconds} s.`);
    };
    const firstAdminHasPassword = async () => !!(await engine.users.get(FIRST_ADMIN_ID))?.passwordHash;
    const setupOpen = async () => !(await engine.users.accountsConfigured());

    const signIn = async (req: FastifyRequest, reply: FastifyReply, userId: number, next: string) => {
      setSessionCookie(req, reply, await engine.sessions.create(userId));
      return reply.redirect(safeNext(next), 303);
    };

    const loginPage = async (data: { next: string; error?: string; username?: string; notice?: string }) => render('login', { ...data, setupOpen: await setupOpen() });

    app.get<{ Querystring: { next?: string } }>(LOGIN_PATH, async (req, reply) => {
      if (req.signedInBy === 'session' || req.signedInBy === 'basic') return reply.redirect(safeNext(req.query.next), 303);
      return html(reply, await loginPage({ next: safeNext(req.query.next) }));
    });

    app.post(LOGIN_PATH, async (req, reply) => {
      await countAttempt(req);
      const f = form(req);
      const username = str(f.username).trim();
      const user = username ? await engine.users.verifyPassword(username, str(f.password)) : null;
      if (!user) return html(reply, await loginPage({ next: safeNext(str(f.next)), username, error: 'The user name or the password is wrong.' }), 401);
      return signIn(req, reply, user.id, str(f.next));
    });

    app.post('/logout', async (req, reply) => {
      const token = req.cookies[SESSION_COOKIE];
      if (token) await engine.sessions.delete(token);
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      reply.clearCookie('oo_token', { path: '/' });
      return reply.redirect(LOGIN_PATH, 303);
    });

    const setupPage = (data: { username: string; error?: string }) => render('setup', { ...data, min: MIN_PASSWORD_LENGTH });

    app.get(SETUP_PATH, async (_req, reply) => {
      if (await firstAdminHasPassword()) return reply.redirect(LOGIN_PATH, 303);
      return html(reply, setupPage({ username: (await engine.users.get(FIRST_ADMIN_ID))?.username ?? 'admin' }));
    });

    app.post(SETUP_PATH, async (req, reply) => {
      if (await firstAdminHasPassword()) return reply.redirect(LOGIN_PATH, 303);
      await countAttempt(req);
      const f = form(req);
      const username = str(f.username).trim();
      try {
        const name = usernameSchema.safeParse(username);
        if (!name.success) throw validationError(name.error);
        const pw = passwordSchema.safeParse(str(f.password));
        if (!pw.success) throw validationError(pw.error);
        if (str(f.password) !== str(f.confirm)) throw new AppError('VALIDATION_FAILED', 'The two passwords differ.');
        await engine.users.rename(FIRST_ADMIN_ID, name.data);
        await engine.users.setPassword(FIRST_ADMIN_ID, pw.data);
      } catch (err) {
        if (!isAppError(err)) throw err;
        return html(reply, setupPage({ username, error: err.message }), err.status);
      }
      return signIn(req, reply, FIRST_ADMIN_ID, '/');
    });

    // ——— users (admins) ———

    const requireAdmin = (req: FastifyRequest) => {
      if (req.caller.role !== 'admin') throw new AppError('FORBIDDEN_ROLE', 'Only admins manage users.');
    };
    const usersPage = async (req: FastifyRequest, extra: { error?: string; notice?: string; values?: Form } = {}) =>
      render('users', { caller: req.caller, users: await engine.users.list(), roles: ROLES, min: MIN_PASSWORD_LENGTH, values: extra.values ?? {}, error: extra.error, notice: extra.notice });
    const usersAction = async (req: FastifyRequest, reply: FastifyReply, act: () => Promise<string>) => {
      requireAdmin(req);
      try {
        const notice = await act();
        return html(reply, await usersPage(req, { notice }));
      } catch (err) {
        if (!isAppError(err) || err.code === 'USER_NOT_FOUND') throw err;
        return html(reply, await usersPage(req, { error: err.message, values: err.code === 'FORBIDDEN_ROLE' || err.code === 'LAST_ADMIN' ? {} : form(req) }), err.status);
      }
    };

    app.get('/users', async (req, reply) => {
      requireAdmin(req);
      return html(reply, await usersPage(req));
    });

    app.post('/users', async (req, reply) =>
      usersAction(req, reply, async () => {
        const f = form(req);
        const user = await engine.users.createWithPassword({ username: str(f.username).trim(), password: str(f.password), role: str(f.role) || undefined });
        return `${user.username} (${user.role}) was created.`;
      }),
    );

    app.post<{ Params: { id: string } }>('/users/:id/role', async (req, reply) =>
      usersAction(req, reply, async () => {
        const user = await engine.users.setRole(pathId(req.params.id, 'USER_NOT_FOUND', 'user'), str(form(req).role));
        return `${user.username} is now ${user.role === 'viewer' ? 'a' : 'an'} ${user.role}.`;
      }),
    );

    app.post<{ Params: { id: string } }>('/users/:id/delete', async (req, reply) =>
      usersAction(req, reply, async () => {
        const id = pathId(req.params.id, 'USER_NOT_FOUND', 'user');
        const name = (await engine.users.require(id)).username;
        await engine.deleteUser(id, req.caller);
        return `${name} and their bots were deleted.`;
      }),
    );

    // ——— own account ———

    const settingsPage = async (req: FastifyRequest, extra: { error?: string; notice?: string } = {}) =>
      render('settings', { caller: req.caller, hasPassword: !!(await engine.users.get(req.caller.userId))?.passwordHash, min: MIN_PASSWORD_LENGTH, loopback: isLoopbackHost(engine.config.host), ...extra });

    app.get('/settings', async (req, reply) => html(reply, await settingsPage(req)));

    app.post('/settings/password', async (req, reply) => {
      await countAttempt(req);
      const f = form(req);
      const me = await engine.users.require(req.caller.userId);
      try {
        if (me.passwordHash && !(await engine.users.verifyPassword(me.username, str(f.current)))) throw new AppError('LOGIN_FAILED', 'The current password is wrong.');
        if (str(f.password) !== str(f.confirm)) throw new AppError('VALIDATION_FAILED', 'The two new passwords differ.');
        await engine.users.setPassword(me.id, str(f.password));
      } catch (err) {
        if (!isAppError(err)) throw err;
        return html(reply, await settingsPage(req, { error: err.message }), err.status);
      }
      // Every other session of this user ends; this browser gets a fresh one.
      await engine.sessions.deleteForUser(me.id);
      setSessionCookie(req, reply, await engine.sessions.create(me.id));
      return html(reply, await settingsPage(req, { notice: 'Your password was saved.' }));
    });
  };
