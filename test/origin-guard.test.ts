import http from 'node:http';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { Engine } from '../src/engine/engine.ts';
import { buildApp } from '../src/web/app.ts';
import { startTestApp, tempDataDir, type TestApp } from './helpers/app.ts';

/** A raw HTTP request, so the test controls the Host header as a DNS-rebinding page would. */
function rawRequest(url: string, opts: { method?: string; host: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method: opts.method ?? 'GET', headers: { ...opts.headers, host: opts.host } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

// The default setup (HOST=127.0.0.1, no DASHBOARD_TOKEN) is open to this machine's user; it must
// not be open to every web page that user visits.
describe('requests from other sites (CSRF)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  const newBot = async (name: string) => (await t.api('POST', '/api/bots', { name, prompt: 'Watch prices.' })).body;
  /** What a browser sends when a page of evil.example auto-submits a form to us. */
  const crossSite = { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html,*/*' };

  it('a form on another site cannot delete a bot: 403, a page that says why, and the bot is still there', async () => {
    const bot = await newBot('Keeper');
    const res = await fetch(`${t.url}/bots/${bot.id}/delete`, { method: 'POST', headers: crossSite, body: '', redirect: 'manual' });
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await res.text()).toContain('sent from another site');
    expect((await t.api('GET', `/api/bots/${bot.id}`)).status).toBe(200);
  });

  it('nor create bots through the dashboard form or the API (urlencoded bodies are accepted everywhere)', async () => {
    const before = (await t.api('GET', '/api/bots')).body.length;
    const page = await fetch(`${t.url}/bots`, { method: 'POST', headers: crossSite, body: form({ name: 'Intruder', prompt: 'x' }), redirect: 'manual' });
    expect(page.status).toBe(403);
    const api = await t.api('POST', '/api/bots', form({ name: 'Intruder', prompt: 'x' }), crossSite);
    expect(api.status).toBe(403);
    expect(api.body).toEqual({ error: { code: 'FORBIDDEN_ORIGIN', message: expect.stringContaining('another site') } });
    expect((await t.api('GET', '/api/bots')).body.length).toBe(before);
  });

  it('a foreign Origin is refused even without Sec-Fetch-Site (older browsers), as are "null" origins and sibling sites', async () => {
    const bot = await newBot('Sturdy');
    const refused: Record<string, string>[] = [{ origin: 'http://evil.example' }, { origin: 'null' }, { origin: t.url.replace('127.0.0.1', 'localhost') }, { 'sec-fetch-site': 'same-site' }];
    for (const headers of refused) {
      const res = await t.api('POST', `/api/bots/${bot.id}/run`, {}, headers);
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect(res.body.error.code).toBe('FORBIDDEN_ORIGIN');
    }
    for (const method of ['PUT', 'DELETE']) {
      expect((await t.api(method, `/api/bots/${bot.id}`, method === 'PUT' ? { prompt: 'hijacked' } : undefined, { origin: 'https://evil.example' })).status).toBe(403);
    }
    expect((await t.api('GET', `/api/bots/${bot.id}`)).body).toMatchObject({ prompt: 'Watch prices.' });
    expect((await t.api('GET', `/api/bots/${bot.id}/runs`)).body).toEqual([]);
  });

  it('the dashboard itself (same origin) still works, and so do clients that are not browsers', async () => {
    const bot = await newBot('Disposable');
    const sameOrigin = { origin: t.url, 'sec-fetch-site': 'same-origin', 'content-type': 'application/x-www-form-urlencoded' };
    const res = await fetch(`${t.url}/bots/${bot.id}/delete`, { method: 'POST', headers: sameOrigin, body: '', redirect: 'manual' });
    expect(res.status).toBe(303);
    expect((await t.api('GET', `/api/bots/${bot.id}`)).status).toBe(404);

    // curl, scripts, server-to-server: no Origin, no Sec-Fetch-Site.
    const created = await t.api('POST', '/api/bots', { name: 'From curl', prompt: 'x' });
    expect(created.status).toBe(201);
    expect((await t.api('DELETE', `/api/bots/${created.body.id}`)).status).toBe(204);
    // Reading is never refused for its origin: links and navigation from other sites are GETs.
    expect((await t.api('GET', '/api/bots', undefined, { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' })).status).toBe(200);
  });
});

describe('requests for another host name (DNS rebinding)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('a loopback server answers only for localhost, 127.x.x.x and [::1]', async () => {
    const port = new URL(t.url).port;
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `127.0.0.2:${port}`, `[::1]:${port}`, 'LOCALHOST']) {
      expect((await rawRequest(`${t.url}/api/bots`, { host })).status, host).toBe(200);
    }
    for (const host of [`evil.example:${port}`, 'evil.example', `127.0.0.1.evil.example:${port}`, `localhost.evil.example`, `10.0.0.5:${port}`]) {
      const res = await rawRequest(`${t.url}/api/bots`, { host });
      expect(res.status, host).toBe(403);
      expect(JSON.parse(res.body)).toEqual({ error: { code: 'FORBIDDEN_HOST', message: expect.stringContaining(`not for "${host}"`) } });
    }
    const page = await rawRequest(`${t.url}/`, { host: `evil.example:${port}`, headers: { accept: 'text/html' } });
    expect(page.status).toBe(403);
    expect(page.body).toContain('only answers requests for localhost');
  });

  it('a rebound page cannot change anything either, even with a matching Origin', async () => {
    const port = new URL(t.url).port;
    const res = await rawRequest(`${t.url}/api/bots`, {
      method: 'POST',
      host: `evil.example:${port}`,
      headers: { origin: `http://evil.example:${port}`, 'sec-fetch-site': 'same-origin', 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Rebound', prompt: 'x' }),
    });
    expect(res.status).toBe(403);
    expect((await t.api('GET', '/api/bots')).body).toEqual([]);
  });

  it('a server on a public address (HOST=0.0.0.0, with its token) answers for any name', async () => {
    const open = await startTestApp({ HOST: '0.0.0.0', DASHBOARD_TOKEN: 'tok-guard-1' });
    try {
      const res = await rawRequest(`${open.url}/api/bots`, { host: 'orchestrator.example.com', headers: { authorization: 'Bearer tok-guard-1' } });
      expect(res.status).toBe(200);
    } finally {
      await open.close();
    }
  });
});

describe('the dashboard token in a link', () => {
  it('?token= sets the cookie and redirects to the same page without it; the request log never shows it', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    const config = loadConfig({ PORT: '0', LOG_LEVEL: 'info', DATA_DIR: tempDataDir(), DASHBOARD_TOKEN: 'tok-in-link-42' });
    const logger = pino({ level: 'info' }, sink);
    const engine = await Engine.open(config, logger);
    const app = await buildApp({ engine, logger });
    try {
      const res = await app.inject({ method: 'GET', url: '/?view=all&token=tok-in-link-42' });
      expect(res.statusCode).toBe(303);
      expect(res.headers.location).toBe('/?view=all');
      expect(String(res.headers['set-cookie'])).toMatch(/^oo_token=tok-in-link-42; Path=\/; HttpOnly; SameSite=Strict/);
      expect((await app.inject({ method: 'GET', url: '/?token=tok-in-link-42' })).headers.location).toBe('/');
      // The cookie alone opens the page the redirect leads to.
      expect((await app.inject({ method: 'GET', url: '/?view=all', headers: { cookie: 'oo_token=tok-in-link-42' } })).statusCode).toBe(200);
      // API clients are not redirected (they would lose the token); their URL is still logged redacted.
      expect((await app.inject({ method: 'GET', url: '/api/bots?token=tok-in-link-42' })).statusCode).toBe(200);
      expect((await app.inject({ method: 'GET', url: '/api/bots?token=a-wrong-guess' })).statusCode).toBe(401);

      const incoming = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'incoming request');
      expect(incoming.map((l) => l.req.url)).toEqual([
        '/?view=all&token=[redacted]',
        '/?token=[redacted]',
        '/?view=all',
        '/api/bots?token=[redacted]',
        '/api/bots?token=[redacted]',
      ]);
      expect(lines.join('\n')).not.toContain('tok-in-link-42');
      expect(lines.join('\n')).not.toContain('a-wrong-guess');
    } finally {
      await app.close();
      await engine.close();
    }
  });
});
