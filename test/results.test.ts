import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.ts';
import { normalizeUrl, resultKey } from '../src/engine/results.ts';

// A person keeps the results worth keeping: pins them, unpins them, lists only the new ones.
describe('results', () => {
  let t: TestApp;
  let resultId: number;
  let botId: number;
  beforeAll(async () => {
    t = await startTestApp();
    botId = (await t.api('POST', '/api/bots', { name: 'Pinner', prompt: 'Say something worth keeping' })).body.id;
    const run = (await t.api('POST', `/api/bots/${botId}/run`, { input: 'a deal' })).body;
    await t.waitForRun(run.id);
    resultId = (await t.api('GET', `/api/bots/${botId}/results`)).body[0].id;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('POST /api/results/:id/pin pins (by default) and unpins with {"pinned": false}; DELETE unpins', async () => {
    const pinned = await t.api('POST', `/api/results/${resultId}/pin`);
    expect(pinned.status).toBe(200);
    expect(pinned.body).toMatchObject({ id: resultId, pinned: true });
    expect((await t.api('GET', `/api/bots/${botId}/results`)).body[0].pinned).toBe(true);

    expect((await t.api('POST', `/api/results/${resultId}/pin`, { pinned: false })).body.pinned).toBe(false);
    expect((await t.api('POST', `/api/results/${resultId}/pin`, {})).body.pinned).toBe(true);
    expect((await t.api('POST', `/api/results/${resultId}/pin`, { pinned: true })).body.pinned).toBe(true);
    expect((await t.api('DELETE', `/api/results/${resultId}/pin`)).body.pinned).toBe(false);
    expect((await t.api('GET', `/api/bots/${botId}/results`)).body[0].pinned).toBe(false);
  });

  it('pinning names what is wrong', async () => {
    const missing = await t.api('POST', '/api/results/999999/pin');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('RESULT_NOT_FOUND');
    const bad = await t.api('POST', `/api/results/${resultId}/pin`, { pinned: 'yes' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'VALIDATION_FAILED', message: 'pinned must be true or false' });
    expect((await t.api('POST', '/api/results/abc/pin')).status).toBe(404);
  });

  it('?new=1 lists what the latest finding run found; older finds are no longer new', async () => {
    const onlyNew = (await t.api('GET', `/api/bots/${botId}/results?new=1`)).body;
    expect(onlyNew.map((r: any) => r.id)).toEqual([resultId]);
    expect(onlyNew.every((r: any) => r.is_new)).toBe(true);

    // A run that finds nothing new leaves the new list as it was ...
    await t.waitForRun((await t.api('POST', `/api/bots/${botId}/run`, { input: 'a deal' })).body.id);
    expect((await t.api('GET', `/api/bots/${botId}/results?new=1`)).body.map((r: any) => r.id)).toEqual([resultId]);
    // ... a run that finds something new replaces it.
    await t.waitForRun((await t.api('POST', `/api/bots/${botId}/run`, { input: 'another deal' })).body.id);
    const after = (await t.api('GET', `/api/bots/${botId}/results?new=1`)).body;
    expect(after).toHaveLength(1);
    expect(after[0].id).not.toBe(resultId);
    expect(after[0].content).toContain('another deal');
    const all = (await t.api('GET', `/api/bots/${botId}/results`)).body;
    expect(all.find((r: any) => r.id === resultId).is_new).toBe(false);
  });

  it('an item is known by its normalized URL, else by its title and content', () => {
    expect(normalizeUrl('HTTPS://Shop.Example.com:443/item/1?utm_source=x&b=2&a=1&fbclid=y#photos')).toBe('https://shop.example.com/item/1?a=1&b=2');
    expect(resultKey({ title: 'A', url: 'https://shop.example.com/item/1?utm_medium=mail' })).toBe(resultKey({ title: 'B', url: 'https://shop.example.com/item/1' }));
    expect(resultKey({ title: 'A', content: 'x' })).toBe(resultKey({ title: ' A ', content: 'x\n' }));
    expect(resultKey({ title: 'A', content: 'x' })).not.toBe(resultKey({ title: 'A', content: 'y' }));
  });
});
