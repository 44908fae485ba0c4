import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.ts';

// A person manages bots through the REST API (seed 000): create, read, update, delete.
describe('bots API', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('creates a bot with defaults, its docs folder, and lists it', async () => {
    const res = await t.api('POST', '/api/bots', { name: 'eBay-Scout', emoji: '🛒', prompt: 'Find Nike Air Max under 50 €' });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`/api/bots/${res.body.id}`);
    expect(res.body).toMatchObject({ name: 'eBay-Scout', emoji: '🛒', model: 'echo', tools: [], schedule: null, paused: false, status: 'idle', result_count: 0 });
    expect(res.body.docs_path).toBe(path.join(t.dataDir, 'bots', String(res.body.id)));
    expect(fs.statSync(res.body.docs_path).isDirectory()).toBe(true);

    const list = await t.api('GET', '/api/bots');
    expect(list.body.map((b: any) => b.name)).toContain('eBay-Scout');
    const one = await t.api('GET', `/api/bots/${res.body.id}`);
    expect(one.body.prompt).toBe('Find Nike Air Max under 50 €');
  });

  it('updates fields and keeps the rest', async () => {
    const created = await t.api('POST', '/api/bots', { name: 'Dev-Bot', prompt: 'Build code' });
    const res = await t.api('PUT', `/api/bots/${created.body.id}`, { description: 'Builds code from a spec', schedule: 'every 30m', tools: ['files'] });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'Dev-Bot', prompt: 'Build code', description: 'Builds code from a spec', schedule: '*/30 * * * *', tools: ['files'] });
    const renamed = await t.api('PUT', `/api/bots/${created.body.id}`, { name: 'DEV-BOT' });
    expect(renamed.status).toBe(200);
    expect(renamed.body.name).toBe('DEV-BOT');
  });

  describe('refuses bad input with a clear error and stores nothing', () => {
    const cases: [string, unknown, number, string, RegExp][] = [
      ['missing name', { prompt: 'x' }, 400, 'VALIDATION_FAILED', /name is required/],
      ['empty name', { name: '   ', prompt: 'x' }, 400, 'VALIDATION_FAILED', /name is required/],
      ['name over 64 characters', { name: 'x'.repeat(65), prompt: 'x' }, 400, 'VALIDATION_FAILED', /at most 64/],
      ['missing prompt', { name: 'NoPrompt' }, 400, 'VALIDATION_FAILED', /prompt is required/],
      ['unknown model', { name: 'M1', prompt: 'x', model: 'gpt4' }, 400, 'VALIDATION_FAILED', /model "gpt4" is not known/],
      ['unconfigured provider', { name: 'M2', prompt: 'x', model: 'openai:gpt-4.1-mini' }, 400, 'VALIDATION_FAILED', /OPENAI_API_KEY/],
      ['unconfigured anthropic', { name: 'M3', prompt: 'x', model: 'anthropic:claude-sonnet-4-5' }, 400, 'VALIDATION_FAILED', /ANTHROPIC_API_KEY/],
      ['bad cron', { name: 'C1', prompt: 'x', schedule: '61 * * * *' }, 400, 'VALIDATION_FAILED', /not a valid schedule/],
      ['garbage schedule', { name: 'C2', prompt: 'x', schedule: 'sometimes' }, 400, 'VALIDATION_FAILED', /not a valid schedule/],
      ['unknown tool', { name: 'T1', prompt: 'x', tools: ['rm_rf'] }, 400, 'VALIDATION_FAILED', /tools/],
    ];
    for (const [what, body, status, code, message] of cases) {
      it(what, async () => {
        const before = (await t.api('GET', '/api/bots')).body.length;
        const res = await t.api('POST', '/api/bots', body);
        expect(res.status).toBe(status);
        expect(res.body.error.code).toBe(code);
        expect(res.body.error.message).toMatch(message);
        expect((await t.api('GET', '/api/bots')).body.length).toBe(before);
      });
    }

    it('a name already taken, in any case', async () => {
      await t.api('POST', '/api/bots', { name: 'Vinted-Finder', prompt: 'x' });
      const res = await t.api('POST', '/api/bots', { name: 'vinted-FINDER', prompt: 'y' });
      expect(res.status).toBe(409);
      expect(res.body.error).toEqual({ code: 'BOT_NAME_TAKEN', message: expect.stringContaining('Vinted-Finder') });
    });

    it('a body that is not JSON', async () => {
      const res = await t.api('POST', '/api/bots', '{"name": ', { 'content-type': 'application/json' });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('BAD_REQUEST');
    });

    it('an update with a bad field changes nothing', async () => {
      const b = await t.api('POST', '/api/bots', { name: 'Stable', prompt: 'keep me' });
      const res = await t.api('PUT', `/api/bots/${b.body.id}`, { prompt: 'new', schedule: 'every 99m' });
      expect(res.status).toBe(400);
      expect((await t.api('GET', `/api/bots/${b.body.id}`)).body.prompt).toBe('keep me');
    });

    it('unknown ids', async () => {
      for (const [m, p] of [['GET', '/api/bots/9999'], ['PUT', '/api/bots/9999'], ['DELETE', '/api/bots/9999'], ['POST', '/api/bots/abc/run'], ['GET', '/api/runs/9999']]) {
        const res = await t.api(m!, p!, m === 'PUT' ? {} : undefined);
        expect(res.status, `${m} ${p}`).toBe(404);
        expect(res.body.error.code).toMatch(/_NOT_FOUND$/);
      }
    });
  });

  it('deleting a bot deletes its runs, results and folder', async () => {
    const b = await t.api('POST', '/api/bots', { name: 'Temp', prompt: 'short-lived' });
    const run = await t.api('POST', `/api/bots/${b.body.id}/run`, {});
    await t.waitForRun(run.body.id);
    expect((await t.api('GET', `/api/bots/${b.body.id}/results`)).body).toHaveLength(1);
    await t.api('POST', `/api/bots/${b.body.id}/docs`, { name: 'memory.md', content: 'remember' });

    const del = await t.api('DELETE', `/api/bots/${b.body.id}`);
    expect(del.status).toBe(204);
    expect((await t.api('GET', `/api/bots/${b.body.id}`)).status).toBe(404);
    expect((await t.api('GET', `/api/runs/${run.body.id}`)).status).toBe(404);
    expect(fs.existsSync(b.body.docs_path)).toBe(false);
    const rows = t.engine.db.$client.prepare('select count(*) n from results where bot_id = ?').get(b.body.id) as { n: number };
    expect(rows.n).toBe(0);
  });
});
