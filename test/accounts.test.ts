import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, tempDataDir, type TestApp } from './helpers/app.ts';

const basic = (user: string, password: string) => ({ authorization: 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64') });

/** The `oo_session=…` pair of a response's Set-Cookie, and the whole header line. */
function sessionCookie(headers: Headers): { pair: string; line: string } | null {
  const line = headers.getSetCookie().find((c) => c.startsWith('oo_session='));
  if (!line) return null;
  return { pair: line.split(';')[0]!, line };
}

/** A form post as a browser sends it from this site (no redirect following). */
async function post(t: TestApp, p: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(t.url + p, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: t.url, ...headers }, body: new URLSearchParams(fields).toString() });
}

const page = (t: TestApp, p: string, headers: Record<string, string> = {}) => fetch(t.url + p, { redirect: 'manual', headers: { accept: 'text/html', ...headers } });

describe('accounts on loopback without passwords (the quickstart)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t?.close());

  it('every request acts as the first admin, and the header offers to set a password', async () => {
    const me = await t.api('GET', '/api/me');
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ id: 1, username: 'admin', role: 'admin', signed_in_by: 'loopback' });
    const res = await page(t, '/');
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('class="user-menu"');
    expect(html).toContain('Set a password');
    expect(html).not.toContain('<!--oo-user-menu-->');
    // /setup is there, optional.
    expect((await page(t, '/setup')).status).toBe(200);
  });
});

describe('sign-in with a password', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ ADMIN_PASSWORD: 'correct horse' });
  });
  afterAll(async () => t?.close());

  it('ADMIN_PASSWORD gives the first admin a password: without credentials the API is 401 and pages redirect to /login', async () => {
    const api = await t.api('GET', '/api/bots');
    expect(api.status).toBe(401);
    expect(api.body.error.code).toBe('UNAUTHORIZED');
    const res = await page(t, '/runs?status=failed');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/login?next=' + encodeURIComponent('/runs?status=failed'));
    expect((await page(t, '/login')).status).toBe(200);
    expect((await fetch(t.url + '/health')).status).toBe(200);
    expect((await fetch(t.url + '/static/app.css')).status).toBe(200);
    // Setup is done: /setup sends to the login page.
    expect((await page(t, '/setup')).headers.get('location')).toBe('/login');
  });

  it('a wrong password is 401 with a clear message and sets no cookie', async () => {
    const res = await post(t, '/login', { username: 'admin', password: 'wrong horse', next: '/' });
    expect(res.status).toBe(401);
    expect(await res.text()).toContain('The user name or the password is wrong.');
    expect(sessionCookie(res.headers)).toBeNull();
    const unknown = await post(t, '/login', { username: 'nobody', password: 'correct horse' });
    expect(unknown.status).toBe(401);
    expect(sessionCookie(unknown.headers)).toBeNull();
  });

  it('login sets an HttpOnly, SameSite=Lax session cookie (only its SHA-256 is stored), follows next, and logout ends it', async () => {
    const res = await post(t, '/login', { username: 'ADMIN', password: 'correct horse', next: '/runs' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/runs');
    const c = sessionCookie(res.headers)!;
    expect(c.line).toMatch(/HttpOnly/i);
    expect(c.line).toMatch(/SameSite=Lax/i);
    expect(c.line).toMatch(/Path=\//);
    expect(c.line).not.toMatch(/Secure/i); // plain HTTP here
    const token = decodeURIComponent(c.pair.slice('oo_session='.length));
    const rows = t.engine.db.$client.prepare('SELECT id, user_id FROM sessions').all() as { id: string; user_id: number }[];
    expect(rows).toHaveLength(1);
    expect(rows[0]!.id).not.toContain(token);
    expect(rows[0]!.id).toMatch(/^[0-9a-f]{64}$/);

    const me = await t.api('GET', '/api/me', undefined, { cookie: c.pair });
    expect(me.body).toMatchObject({ id: 1, username: 'admin', signed_in_by: 'session' });
    const dash = await page(t, '/', { cookie: c.pair });
    expect(dash.status).toBe(200);
    const html = await dash.text();
    expect(html).toContain('Log out');
    expect(html).not.toContain('Set a password');

    const out = await post(t, '/logout', {}, { cookie: c.pair });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/login');
    expect(out.headers.getSetCookie().some((l) => /^oo_session=;/.test(l))).toBe(true);
    expect((await t.api('GET', '/api/me', undefined, { cookie: c.pair })).status).toBe(401);
    expect(t.engine.db.$client.prepare('SELECT count(*) AS n FROM sessions').get()).toEqual({ n: 0 });
  });

  it('a session slides forward with use and ends when it expires', async () => {
    const res = await post(t, '/login', { username: 'admin', password: 'correct horse' });
    const c = sessionCookie(res.headers)!;
    expect(c.line).toMatch(/Max-Age=2592000/); // 30 days
    const db = t.engine.db.$client;
    const id = (db.prepare('SELECT id FROM sessions ORDER BY created_at DESC LIMIT 1').get() as { id: string }).id;
    // Last used ten minutes ago: the next request pushes the expiry to 30 days from now and renews the cookie.
    const before = Date.now();
    db.prepare('UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE id = ?').run(before - 600_000, before + 3_600_000, id);
    const used = await t.api('GET', '/api/me', undefined, { cookie: c.pair });
    expect(used.status).toBe(200);
    expect(used.headers.getSetCookie().some((l) => l.startsWith('oo_session='))).toBe(true);
    const row = db.prepare('SELECT expires_at FROM sessions WHERE id = ?').get(id) as { expires_at: number };
    expect(row.expires_at).toBeGreaterThanOrEqual(before + 30 * 24 * 3_600_000);
    // Expired: refused, and the row is gone.
    db.prepare('UPDATE sessions SET expires_at = ? WHERE id = ?').run(Date.now() - 1, id);
    expect((await t.api('GET', '/api/me', undefined, { cookie: c.pair })).status).toBe(401);
    expect(db.prepare('SELECT count(*) AS n FROM sessions WHERE id = ?').get(id)).toEqual({ n: 0 });
    // A browser that never comes back: its expired session goes at the next sign-in of anyone.
    const left = sessionCookie((await post(t, '/login', { username: 'admin', password: 'correct horse' })).headers)!;
    const leftId = (db.prepare('SELECT id FROM sessions ORDER BY created_at DESC, rowid DESC LIMIT 1').get() as { id: string }).id;
    db.prepare('UPDATE sessions SET expires_at = ? WHERE id = ?').run(Date.now() - 1, leftId);
    expect(left.pair).toBeTruthy();
    await post(t, '/login', { username: 'admin', password: 'correct horse' });
    expect(db.prepare('SELECT count(*) AS n FROM sessions WHERE id = ?').get(leftId)).toEqual({ n: 0 });
  });

  it('a next pointing at another site is not followed', async () => {
    const res = await post(t, '/login', { username: 'admin', password: 'correct horse', next: '//evil.example/x' });
    expect(res.headers.get('location')).toBe('/');
  });

  it('the session cookie is Secure when the request came over TLS', async () => {
    // The same app behind a real TLS socket (a self-signed certificate made by openssl for this test).
    const dir = tempDataDir();
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'k.pem'), '-out', path.join(dir, 'c.pem'), '-days', '1', '-subj', '/CN=localhost'], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    const server = https.createServer({ key: fs.readFileSync(path.join(dir, 'k.pem')), cert: fs.readFileSync(path.join(dir, 'c.pem')) }, (req, res) => t.app.routing(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const body = 'username=admin&password=correct+horse';
      const res = await new Promise<{ status: number; cookies: string[] }>((resolve, reject) => {
        const req = https.request(
          { host: '127.0.0.1', port, path: '/login', method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/x-www-form-urlencoded', origin: `https://127.0.0.1:${port}`, 'content-length': Buffer.byteLength(body) } },
          (r) => {
            r.resume();
            r.on('end', () => resolve({ status: r.statusCode ?? 0, cookies: r.headers['set-cookie'] ?? [] }));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
      expect(res.status).toBe(303);
      const line = res.cookies.find((l) => l.startsWith('oo_session='))!;
      expect(line).toMatch(/; Secure/);
      expect(line).toMatch(/HttpOnly/);
    } finally {
      await new Promise((r) => server.close(r));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('HTTP Basic Auth: the right password acts as that user; a wrong one is 401 LOGIN_FAILED with WWW-Authenticate', async () => {
    const ok = await t.api('GET', '/api/me', undefined, basic('admin', 'correct horse'));
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ username: 'admin', signed_in_by: 'basic' });
    const bad = await t.api('GET', '/api/bots', undefined, basic('admin', 'nope'));
    expect(bad.status).toBe(401);
    expect(bad.body.error.code).toBe('LOGIN_FAILED');
    expect(bad.headers.get('www-authenticate')).toMatch(/^Basic realm="openOrchestrator"/);
    expect(bad.headers.getSetCookie()).toEqual([]);
    const garbled = await t.api('GET', '/api/bots', undefined, { authorization: 'Basic !!!' });
    expect(garbled.status).toBe(401);
  });

  it('roles: an admin creates users; an operator gets 403 on /api/users and /users, and their API key acts as them', async () => {
    const admin = basic('admin', 'correct horse');
    const created = await t.api('POST', '/api/users', { username: 'olga', password: 'operator pw', role: 'operator' }, admin);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ username: 'olga', role: 'operator', has_password: true });
    expect(JSON.stringify(created.body)).not.toContain('argon2');
    expect((await t.api('POST', '/api/users', { username: 'OLGA', password: 'another pw', role: 'viewer' }, admin)).body.error.code).toBe('USERNAME_TAKEN');
    const short = await t.api('POST', '/api/users', { username: 'v', password: 'short', role: 'viewer' }, admin);
    expect(short.status).toBe(400);
    expect(short.body.error.code).toBe('VALIDATION_FAILED');

    const olga = basic('olga', 'operator pw');
    expect((await t.api('GET', '/api/users', undefined, olga)).status).toBe(403);
    expect((await t.api('POST', '/api/users', { username: 'x', password: 'xxxxxxxx' }, olga)).body.error.code).toBe('FORBIDDEN_ROLE');
    expect((await t.api('DELETE', '/api/users/1', undefined, olga)).status).toBe(403);
    expect((await page(t, '/users', olga)).status).toBe(403);

    // An operator's key acts as the operator; an admin may make one for them.
    const own = await t.api('POST', '/api/keys', { name: 'olga-ci', scopes: ['admin'] }, olga);
    expect(own.status).toBe(201);
    expect(own.body.user_id).toBe(created.body.id);
    expect((await t.api('GET', '/api/me', undefined, { 'x-api-key': own.body.key })).body).toMatchObject({ username: 'olga', signed_in_by: 'api-key' });
    expect((await t.api('POST', '/api/keys', { name: 'for-admin', scopes: ['admin'], user_id: 1 }, olga)).status).toBe(403);
    const forOlga = await t.api('POST', '/api/keys', { name: 'made-for-olga', scopes: ['admin'], user_id: created.body.id }, admin);
    expect(forOlga.status).toBe(201);
    expect((await t.api('GET', '/api/me', undefined, { 'x-api-key': forOlga.body.key })).body.username).toBe('olga');
  });

  it('role changes and deletion: the last admin stays; deleting a user deletes their bots and folders', async () => {
    const admin = basic('admin', 'correct horse');
    expect((await t.api('PATCH', '/api/users/1', { role: 'viewer' }, admin)).body.error.code).toBe('LAST_ADMIN');
    const v = await t.api('POST', '/api/users', { username: 'vera', password: 'viewer pw1', role: 'viewer' }, admin);
    const patched = await t.api('PATCH', `/api/users/${v.body.id}`, { role: 'operator' }, admin);
    expect(patched.body.role).toBe('operator');
    expect((await t.api('PATCH', '/api/users/999', { role: 'operator' }, admin)).status).toBe(404);

    const key = await t.api('POST', '/api/keys', { name: 'vera-key', scopes: ['admin'] }, basic('vera', 'viewer pw1'));
    expect(key.status).toBe(201);
    const bot = await t.api('POST', '/api/bots', { name: 'Vera bot', prompt: 'hi' }, basic('vera', 'viewer pw1'));
    expect(bot.status).toBe(201);
    // Owners are set by the scoping work (helper scope); here the row is given to vera directly.
    t.engine.db.$client.prepare('UPDATE bots SET owner_id = ? WHERE id = ?').run(v.body.id, bot.body.id);
    const folder = (await t.engine.bots.get(bot.body.id)).docsPath;
    expect(fs.existsSync(folder)).toBe(true);
    expect((await t.api('DELETE', `/api/users/${v.body.id}`, undefined, admin)).status).toBe(204);
    expect((await t.api('GET', `/api/bots/${bot.body.id}`, undefined, admin)).status).toBe(404);
    expect(fs.existsSync(folder)).toBe(false);
    expect((await t.api('GET', '/api/me', undefined, basic('vera', 'viewer pw1'))).status).toBe(401);
    expect((await t.engine.swarm.keys.list()).filter((k) => k.userId === v.body.id && k.revokedAt === null)).toEqual([]);
    expect((await t.api('DELETE', '/api/users/1', undefined, admin)).body.error.code).toMatch(/LAST_ADMIN|FORBIDDEN_ROLE/);
  });

  it('the users page: an admin creates, re-roles and deletes users through forms', async () => {
    const login = await post(t, '/login', { username: 'admin', password: 'correct horse' });
    const cookie = sessionCookie(login.headers)!.pair;
    const made = await post(t, '/users', { username: 'pia', password: 'page user pw', role: 'viewer' }, { cookie });
    expect(made.status).toBe(200);
    expect(await made.text()).toContain('pia (viewer) was created.');
    const pia = (await t.engine.users.byName('pia'))!;
    const re = await post(t, `/users/${pia.id}/role`, { role: 'operator' }, { cookie });
    expect(await re.text()).toContain('pia is now an operator.');
    const last = await post(t, '/users/1/role', { role: 'viewer' }, { cookie });
    expect(last.status).toBe(409);
    expect(await last.text()).toContain('last admin');
    const del = await post(t, `/users/${pia.id}/delete`, {}, { cookie });
    expect(await del.text()).toContain('pia and their bots were deleted.');
    expect(await t.engine.users.byName('pia')).toBeUndefined();
  });
});

describe('first-run setup and off-loopback refusal', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('off loopback without an admin password every route but /health, /static and /setup refuses; setup signs in and opens the rest', async () => {
    t = await startTestApp({ HOST: '0.0.0.0' });
    for (const p of ['/', '/runs', '/tasks', '/keys', '/users', '/settings', '/recipes', '/api/bots', '/api/me', '/api/openapi.json', '/metrics', '/login']) {
      const api = await t.api('GET', p);
      expect(api.status, p).toBe(403);
      expect(api.body.error.code, p).toBe('SETUP_REQUIRED');
      const html = await page(t, p);
      expect(html.status, p).toBe(403);
      expect(await html.text(), p).toContain('/setup');
    }
    expect((await t.api('POST', '/api/bots', { name: 'x', prompt: 'y' })).status).toBe(403);
    expect((await fetch(t.url + '/health')).status).toBe(200);
    expect((await fetch(t.url + '/static/app.css')).status).toBe(200);

    const form = await page(t, '/setup');
    expect(form.status).toBe(200);
    expect(await form.text()).toContain('Set up the admin account');
    const mismatch = await post(t, '/setup', { username: 'root', password: 'long password', confirm: 'other password' });
    expect(mismatch.status).toBe(400);
    expect(await mismatch.text()).toContain('The two passwords differ.');
    const short = await post(t, '/setup', { username: 'root', password: 'short', confirm: 'short' });
    expect(short.status).toBe(400);
    expect(sessionCookie(short.headers)).toBeNull();

    const done = await post(t, '/setup', { username: 'root', password: 'long password', confirm: 'long password' });
    expect(done.status).toBe(303);
    const cookie = sessionCookie(done.headers)!.pair;
    expect((await t.api('GET', '/api/me', undefined, { cookie })).body).toMatchObject({ id: 1, username: 'root', role: 'admin' });
    // Afterwards /setup sends to /login, and it cannot be taken over.
    expect((await page(t, '/setup')).headers.get('location')).toBe('/login');
    const again = await post(t, '/setup', { username: 'mallory', password: 'mallory pw1', confirm: 'mallory pw1' });
    expect(again.headers.get('location')).toBe('/login');
    expect(sessionCookie(again.headers)).toBeNull();
    expect((await t.engine.users.get(1))!.username).toBe('root');
    expect((await t.api('GET', '/api/bots')).status).toBe(401);
    expect((await t.api('GET', '/api/bots', undefined, basic('root', 'long password'))).status).toBe(200);
  });

  it('off loopback with ADMIN_PASSWORD the server asks for sign-in; ADMIN_PASSWORD never overwrites a password set later', async () => {
    const dataDir = tempDataDir();
    t = await startTestApp({ HOST: '0.0.0.0', ADMIN_PASSWORD: 'from the env', DATA_DIR: dataDir });
    expect((await t.api('GET', '/api/me')).body.error.code).toBe('UNAUTHORIZED');
    expect((await t.api('GET', '/api/me', undefined, basic('admin', 'from the env'))).status).toBe(200);
    await t.engine.users.setPassword(1, 'changed later');
    await t.close({ keepData: true });
    t = await startTestApp({ HOST: '0.0.0.0', ADMIN_PASSWORD: 'from the env', DATA_DIR: dataDir });
    expect((await t.api('GET', '/api/me', undefined, basic('admin', 'from the env'))).status).toBe(401);
    expect((await t.api('GET', '/api/me', undefined, basic('admin', 'changed later'))).status).toBe(200);
    expect(fs.existsSync(path.join(dataDir))).toBe(true);
  });

  it('DASHBOARD_TOKEN still acts as the first admin for scripts once accounts exist', async () => {
    t = await startTestApp({ HOST: '0.0.0.0', ADMIN_PASSWORD: 'admin password', DASHBOARD_TOKEN: 'script-token' });
    const me = await t.api('GET', '/api/me', undefined, { authorization: 'Bearer script-token' });
    expect(me.body).toMatchObject({ id: 1, role: 'admin', signed_in_by: 'token' });
    expect((await t.api('GET', '/api/me', undefined, { authorization: 'Bearer wrong' })).status).toBe(401);
  });

  it('off loopback with a DASHBOARD_TOKEN and no admin password, the token is required everywhere, /setup included', async () => {
    t = await startTestApp({ HOST: '0.0.0.0', DASHBOARD_TOKEN: 'setup-token' });
    expect((await t.api('GET', '/api/bots')).body.error.code).toBe('UNAUTHORIZED');
    expect((await page(t, '/setup')).status).toBe(401);
    expect((await post(t, '/setup', { username: 'mallory', password: 'mallory pw1', confirm: 'mallory pw1' })).status).toBe(401);
    expect(await t.engine.users.accountsConfigured()).toBe(false);
    expect((await page(t, '/setup', { authorization: 'Bearer setup-token' })).status).toBe(200);
    expect((await fetch(t.url + '/health')).status).toBe(200);
  });

  it('a password set on the loopback settings page turns sign-in on', async () => {
    t = await startTestApp();
    const res = await post(t, '/settings/password', { password: 'loopback pw', confirm: 'loopback pw' });
    expect(res.status).toBe(200);
    const cookie = sessionCookie(res.headers)!.pair;
    expect((await t.api('GET', '/api/bots')).status).toBe(401);
    expect((await t.api('GET', '/api/me', undefined, { cookie })).body.signed_in_by).toBe('session');
    const wrong = await post(t, '/settings/password', { current: 'nope nope', password: 'another pw', confirm: 'another pw' }, { cookie });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain('The current password is wrong.');
  });
});

describe('sign-in attempts are limited', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ ADMIN_PASSWORD: 'correct horse' });
  });
  afterAll(async () => t?.close());

  it('past 10 attempts a minute from one client POST /login is 429 RATE_LIMITED, even with the right password', async () => {
    for (let i = 0; i < 10; i++) expect((await post(t, '/login', { username: 'admin', password: `guess ${i}` })).status).toBe(401);
    const res = await fetch(t.url + '/login', { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'correct horse' }) });
    expect(res.status).toBe(429);
    expect((await res.json()).error.code).toBe('RATE_LIMITED');
    expect(sessionCookie(res.headers)).toBeNull();
  });
});
