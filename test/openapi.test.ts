import SwaggerParser from '@apidevtools/swagger-parser';
import type { RouteOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../src/engine/errors.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

// A client reads /api/openapi.json to learn the API: it must be a valid OpenAPI 3 document that
// lists every route the server has under /api, with every error code the API can answer with.
describe('the API described (OpenAPI)', () => {
  let t: TestApp;
  const routes: { method: string; url: string }[] = [];
  let doc: any;
  beforeAll(async () => {
    t = await startTestApp({}, { onRoute: (r: RouteOptions) => void routes.push(...([] as string[]).concat(r.method).map((method) => ({ method, url: r.url }))) });
    const res = await t.api('GET', '/api/openapi.json');
    expect(res.status).toBe(200);
    doc = res.body;
  });
  afterAll(() => t?.close());

  /** `/api/bots/:id/docs/:name` → `/api/bots/{id}/docs/{name}` */
  const openapiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
  // fastify adds a HEAD route for every GET (exposeHeadRoutes); it is the GET, not another operation.
  const apiRoutes = () => routes.filter((r) => r.url.startsWith('/api/') && r.method !== 'HEAD');

  it('is a valid OpenAPI 3.0 document (swagger-parser)', async () => {
    expect(doc.openapi).toMatch(/^3\.0\./);
    const checked = await SwaggerParser.validate(structuredClone(doc));
    expect(checked.info.title).toBe('openOrchestrator API');
  });

  it('describes every route registered under /api, and nothing that is not one', () => {
    expect(apiRoutes().length).toBeGreaterThan(25);
    const missing = apiRoutes().filter((r) => !doc.paths[openapiPath(r.url)]?.[r.method.toLowerCase()]);
    expect(missing).toEqual([]);
    const described = Object.entries(doc.paths).flatMap(([p, ops]: [string, any]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    const registered = new Set(apiRoutes().map((r) => `${r.method} ${openapiPath(r.url)}`));
    expect(described.filter((d) => !registered.has(d))).toEqual([]);
    // Pages are not part of the API.
    expect(Object.keys(doc.paths).filter((p) => !p.startsWith('/api/'))).toEqual([]);
  });

  it('gives every operation a summary, a tag, its path parameters and a success answer with a body schema', () => {
    for (const [p, ops] of Object.entries(doc.paths) as [string, Record<string, any>][]) {
      for (const [method, op] of Object.entries(ops)) {
        const where = `${method.toUpperCase()} ${p}`;
        expect(op.summary, where).toBeTruthy();
        expect(op.tags?.length, where).toBeGreaterThan(0);
        const pathParams = [...p.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
        expect((op.parameters ?? []).filter((x: any) => x.in === 'path').map((x: any) => x.name).sort(), where).toEqual(pathParams);
        const ok = Object.entries(op.responses).filter(([status]) => /^2/.test(status));
        expect(ok.length, where).toBe(1);
        const [status, answer] = ok[0] as [string, any];
        if (status !== '204') expect(Object.values(answer.content ?? {}).some((c: any) => c.schema), where).toBe(true);
      }
    }
  });

  it('documents every error code of src/engine/errors.ts with its status and meaning', () => {
    const codes = Object.keys(ERROR_CODES);
    expect(Object.keys(doc['x-error-codes']).sort()).toEqual([...codes].sort());
    for (const code of codes as (keyof typeof ERROR_CODES)[]) {
      const entry = doc['x-error-codes'][code];
      expect(entry.status, code).toBe(ERROR_CODES[code].status);
      expect(entry.description?.length ?? 0, code).toBeGreaterThan(10);
    }
    // The error body's `code` is one of them, and every 4xx answer of an operation uses that body.
    expect(doc.components.schemas.Error.properties.error.properties.code.enum.sort()).toEqual([...codes].sort());
    for (const ops of Object.values(doc.paths) as Record<string, any>[]) {
      for (const op of Object.values(ops)) {
        for (const [status, answer] of Object.entries(op.responses) as [string, any][]) {
          if (!/^[45]/.test(status)) continue;
          expect(answer.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' });
          // The answer names the codes it stands for, each with the status it is declared with.
          const named = codes.filter((c) => answer.description.includes(`${c}:`));
          expect(named.length, `${status} ${answer.description}`).toBeGreaterThan(0);
          for (const c of named) expect(ERROR_CODES[c as keyof typeof ERROR_CODES].status).toBe(Number(status));
        }
      }
    }
  });

  it('describes the new run routes with their query parameters and bodies', () => {
    const list = doc.paths['/api/runs'].get;
    expect(list.parameters.map((p: any) => p.name).sort()).toEqual(['bot', 'cursor', 'limit', 'since', 'status', 'trigger', 'until']);
    expect(list.responses['200'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/RunPage' });
    expect(doc.components.schemas.RunPage.required).toEqual(expect.arrayContaining(['runs', 'next_cursor']));
    expect(doc.paths['/api/runs/cancel'].post.requestBody.content['application/json'].schema.required).toEqual(['ids']);
    expect(Object.keys(doc.paths['/api/runs/{id}/retry'].post.responses).sort()).toEqual(['202', '403', '404', '409', '429', '503']);
    expect(doc.components.schemas.Run.properties.retry_of).toBeTruthy();
    // A body with a schema per content type (JSON or multipart upload) keeps both.
    expect(Object.keys(doc.paths['/api/bots/{id}/docs'].post.requestBody.content).sort()).toEqual(['application/json', 'multipart/form-data']);
  });

  it('answers a request its schema refuses with 400 in the API error shape, naming the field', async () => {
    const bot = (await t.api('POST', '/api/bots', { name: 'Shape', prompt: 'p' })).body;
    const cases: [string, string, unknown, RegExp][] = [
      ['GET', '/api/events?limit=abc', undefined, /^limit must be a whole number/],
      ['POST', '/api/bots', { name: 'x', prompt: 'y', tools: ['nope'] }, /^tools\.0: /],
      ['POST', '/api/bots', [1, 2], /expected object/],
      ['POST', `/api/bots/${bot.id}/run`, { input: 42 }, /^input: /],
      ['POST', '/api/runs/cancel', { ids: [] }, /ids needs at least one run id/],
      ['POST', '/api/runs/cancel', { ids: [1.5] }, /ids must be run ids/],
      ['GET', '/api/runs?status=sleeping', undefined, /status must be one or more of queued/],
      ['PUT', `/api/bots/${bot.id}`, { paused: 'yes' }, /^paused: /],
    ];
    for (const [method, path, body, message] of cases) {
      const res = await t.api(method, path, body);
      expect({ path, status: res.status }).toEqual({ path, status: 400 });
      expect(Object.keys(res.body)).toEqual(['error']);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(res.body.error.message).toMatch(message);
      expect(res.body.error.details.fields.length).toBeGreaterThan(0);
    }
  });

  it('has a page a person reads at /api/docs with every operation and every error code', async () => {
    const res = await fetch(t.url + '/api/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    for (const [p, ops] of Object.entries(doc.paths) as [string, Record<string, unknown>][]) {
      for (const m of Object.keys(ops)) expect(html, `${m} ${p}`).toContain(`<span class="api-method">${m.toUpperCase()}</span> ${p}</h3>`);
    }
    for (const code of Object.keys(ERROR_CODES)) expect(html).toContain(`id="error-${code}"`);
    expect(html).toContain('href="/api/openapi.json"');
  });
});
