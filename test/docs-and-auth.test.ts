import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.ts';

// Each bot has a folder of documents, its memory: upload, list, read, delete.
describe('bot documents', () => {
  let t: TestApp;
  let bot: any;
  beforeAll(async () => {
    t = await startTestApp();
    bot = (await t.api('POST', '/api/bots', { name: 'Keeper', prompt: 'remember things' })).body;
  });
  afterAll(async () => {
    await t.close();
  });

  it('uploads as JSON and as multipart, lists and reads back', async () => {
    const a = await t.api('POST', `/api/bots/${bot.id}/docs`, { name: 'suchkriterien.md', content: '# Nike Air Max\nunder 50 €' });
    expect(a.status).toBe(201);
    expect(a.body).toMatchObject({ name: 'suchkriterien.md', size: Buffer.byteLength('# Nike Air Max\nunder 50 €') });

    const form = new FormData();
    form.append('file', new Blob(['{"seen": []}'], { type: 'application/json' }), 'bekannte_angebote.json');
    const up = await fetch(`${t.url}/api/bots/${bot.id}/docs`, { method: 'POST', body: form });
    expect(up.status).toBe(201);

    const list = (await t.api('GET', `/api/bots/${bot.id}/docs`)).body;
    expect(list.map((d: any) => d.name)).toEqual(['bekannte_angebote.json', 'suchkriterien.md']);
    const read = await fetch(`${t.url}/api/bots/${bot.id}/docs/suchkriterien.md`);
    expect(read.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await read.text()).toBe('# Nike Air Max\nunder 50 €');
    expect(fs.readFileSync(path.join(bot.docs_path, 'bekannte_angebote.json'), 'utf8')).toBe('{"seen": []}');
  });

  it('keeps documents in sub-folders: list, read and delete them by their relative name', async () => {
    const a = await t.api('POST', `/api/bots/${bot.id}/docs`, { name: 'deals/seen.md', content: '- item 1' });
    expect(a.status).toBe(201);
    expect(a.body.name).toBe('deals/seen.md');
    expect(fs.readFileSync(path.join(bot.docs_path, 'deals', 'seen.md'), 'utf8')).toBe('- item 1');
    expect((await t.api('GET', `/api/bots/${bot.id}/docs`)).body.map((d: any) => d.name)).toContain('deals/seen.md');
    const read = await fetch(`${t.url}/api/bots/${bot.id}/docs/${encodeURIComponent('deals/seen.md')}`);
    expect(await read.text()).toBe('- item 1');
    expect((await t.api('DELETE', `/api/bots/${bot.id}/docs/${encodeURIComponent('deals/seen.md')}`)).status).toBe(204);
    expect((await t.api('GET', `/api/bots/${bot.id}/docs`)).body.map((d: any) => d.name)).not.toContain('deals/seen.md');
  });

  it('refuses a name that a symlink in the folder would lead outside of', async () => {
    const outside = fs.mkdtempSync(path.join(path.dirname(t.dataDir), 'oo-outside-'));
    fs.symlinkSync(outside, path.join(bot.docs_path, 'escape'));
    try {
      const res = await t.api('POST', `/api/bots/${bot.id}/docs`, { name: 'escape/pwned.md', content: 'x' });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('DOC_INVALID_NAME');
      expect(fs.readdirSync(outside)).toEqual([]);
      // The link itself is not listed as a document.
      expect((await t.api('GET', `/api/bots/${bot.id}/docs`)).body.map((d: any) => d.name)).not.toContain('escape');
    } finally {
      fs.rmSync(path.join(bot.docs_path, 'escape'));
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });

  it.each(['../escape.md', '.hidden', 'a/../../b.md', 'a//b.md', 'a\\b.md', 'deals/.secret', ''])('refuses the name %j and writes nothing', async (name) => {
    const before = fs.readdirSync(path.dirname(bot.docs_path), { recursive: true }).length;
    const res = await t.api('POST', `/api/bots/${bot.id}/docs`, { name, content: 'x' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('DOC_INVALID_NAME');
    expect(fs.readdirSync(path.dirname(bot.docs_path), { recursive: true }).length).toBe(before);
  });

  it('a path through a file is a 404, not a server error', async () => {
    await t.api('POST', `/api/bots/${bot.id}/docs`, { name: 'plain.md', content: 'x' });
    const read = await t.api('GET', `/api/bots/${bot.id}/docs/${encodeURIComponent('plain.md/inner.md')}`);
    expect(read.status).toBe(404);
    expect(read.body.error.code).toBe('DOC_NOT_FOUND');
    const write = await t.api('POST', `/api/bots/${bot.id}/docs`, { name: 'plain.md/inner.md', content: 'x' });
    expect(write.status).toBe(404);
    expect(fs.readFileSync(path.join(bot.docs_path, 'plain.md'), 'utf8')).toBe('x');
    expect((await t.api('DELETE', `/api/bots/${bot.id}/docs/plain.md`)).status).toBe(204);
  });

  it('a missing document is a 404; delete removes it', async () => {
    expect((await t.api('GET', `/api/bots/${bot.id}/docs/nope.md`)).body.error.code).toBe('DOC_NOT_FOUND');
    expect((await t.api('GET', `/api/bots/${bot.id}/docs/..%2F..%2Fopenorchestrator.db`)).status).toBe(400);
    expect((await t.api('DELETE', `/api/bots/${bot.id}/docs/suchkriterien.md`)).status).toBe(204);
    expect((await t.api('GET', `/api/bots/${bot.id}/docs`)).body.map((d: any) => d.name)).toEqual(['bekannte_angebote.json']);
  });
});

describe('dashboard token', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ DASHBOARD_TOKEN: 'tok-123' });
  });
  afterAll(async () => {
    await t.close();
  });

  it('refuses requests without the token, accepts a bearer token, and ?token= sets a cookie', async () => {
    const denied = await t.api('GET', '/api/bots');
    expect(denied.status).toBe(401);
    expect(denied.body.error.code).toBe('UNAUTHORIZED');
    expect((await t.api('GET', '/api/bots', undefined, { authorization: 'Bearer tok-123' })).status).toBe(200);
    expect((await t.api('GET', '/api/bots', undefined, { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await t.api('GET', '/healthz')).status).toBe(200);

    const page = await fetch(`${t.url}/?token=tok-123`, { redirect: 'manual' });
    expect(page.status).toBe(303); // to the same page without the token (test/origin-guard.test.ts)
    const cookie = page.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^oo_token=tok-123; Path=\/; HttpOnly/);
    expect((await fetch(`${t.url}/`, { headers: { cookie: cookie.split(';')[0]! } })).status).toBe(200);
  });

  it('the redirect that drops ?token= never leads to another site', async () => {
    for (const p of ['//evil.example/?token=tok-123', '/\\evil.example/?token=tok-123']) {
      const res = await new Promise<{ status: number; location: string }>((resolve, reject) =>
        http.get(t.url + p.replace(/^\//, '/'), { headers: { cookie: 'oo_token=tok-123' } }, (r) => {
          r.resume();
          resolve({ status: r.statusCode ?? 0, location: String(r.headers.location) });
        }).on('error', reject),
      );
      expect(res.status, p).toBe(303);
      expect(res.location, p).toMatch(/^\/[^/\\]/);
    }
  });
});
