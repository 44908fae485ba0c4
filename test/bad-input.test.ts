import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.ts';

// Bad input gets a 4xx in the API's error shape, never a 500 (issue 9, item 6).
describe('bad input is a 4xx', () => {
  let t: TestApp;
  let botId: number;
  let pipelineId: number;
  beforeAll(async () => {
    t = await startTestApp({ DASHBOARD_TOKEN: 'secret-token' });
    const auth = { authorization: 'Bearer secret-token' };
    botId = (await t.api('POST', '/api/bots', { name: 'Limits', prompt: 'p' }, auth)).body.id;
    pipelineId = (await t.api('POST', '/api/pipelines', { name: 'Line', steps: [botId] }, auth)).body.id;
  });
  afterAll(() => t?.close());
  const get = (p: string) => t.api('GET', p, undefined, { authorization: 'Bearer secret-token' });

  it('a fractional, negative, zero, huge or non-numeric limit is 400 VALIDATION_FAILED on every list', async () => {
    const lists = ['/api/events', `/api/bots/${botId}/runs`, `/api/bots/${botId}/results`, `/api/pipelines/${pipelineId}/runs`, '/api/runs'];
    for (const list of lists) {
      for (const limit of ['1.5', '-1', '0', '100000000000000000000', '1e400', 'abc', '']) {
        const res = await get(`${list}?limit=${encodeURIComponent(limit)}`);
        expect({ list, limit, status: res.status }).toEqual({ list, limit, status: 400 });
        expect(res.body.error.code).toBe('VALIDATION_FAILED');
        expect(res.body.error.message).toMatch(/limit/);
      }
      expect((await get(`${list}?limit=3`)).status).toBe(200);
    }
  });

  it('a truncated multipart upload is 400, to the API and to the page route', async () => {
    const boundary = '----oo-test-boundary';
    // A part that never ends: no closing boundary, the body stops mid-file.
    const body = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="notes.md"\r\nContent-Type: text/markdown\r\n\r\nhalf a fi`;
    for (const p of [`/api/bots/${botId}/docs`, `/bots/${botId}/docs`]) {
      const res = await fetch(t.url + p, {
        method: 'POST',
        headers: { authorization: 'Bearer secret-token', 'content-type': `multipart/form-data; boundary=${boundary}` },
        body,
      });
      expect({ p, status: res.status }).toEqual({ p, status: 400 });
      if (p.startsWith('/api/')) expect((await res.json()).error.code).toBe('BAD_REQUEST');
    }
    // Nothing half-written was kept.
    expect((await get(`/api/bots/${botId}/docs`)).body).toEqual([]);
  });

  it('a query parameter given twice to the docs panel opens the first, not a 500 (found by the property test)', async () => {
    await t.api('POST', `/api/bots/${botId}/docs`, { name: 'a.md', content: 'first file' }, { authorization: 'Bearer secret-token' });
    const res = await fetch(`${t.url}/partials/bots/${botId}/docs?open=a.md&open=b.md`, { headers: { authorization: 'Bearer secret-token' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('first file');
    await t.api('DELETE', `/api/bots/${botId}/docs/a.md`, undefined, { authorization: 'Bearer secret-token' });
  });

  it('a malformed oo_token cookie is 401 UNAUTHORIZED, not a 500', async () => {
    for (const cookie of ['oo_token=%', 'oo_token=%E0%A4%A', 'oo_token=%zz; other=1']) {
      const res = await t.api('GET', '/api/bots', undefined, { cookie });
      expect({ cookie, status: res.status }).toEqual({ cookie, status: 401 });
      expect(res.body.error.code).toBe('UNAUTHORIZED');
    }
    const page = await fetch(t.url + '/', { headers: { cookie: 'oo_token=%', accept: 'text/html' } });
    expect(page.status).toBe(401);
    // The right cookie still works.
    expect((await t.api('GET', '/api/bots', undefined, { cookie: `oo_token=${encodeURIComponent('secret-token')}` })).status).toBe(200);
  });
});
