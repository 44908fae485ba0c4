import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../src/engine/access.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';
import { openSse, type SseClient } from './helpers/sse-client.ts';

// Ownership (issue 12): every bot, run, result, document, connection and pipeline belongs to a
// user; an operator sees and changes only their own, a viewer sees everything and changes nothing,
// the admin sees and changes all. Each user acts through an API key of their own (X-API-Key).

describe('ownership: each user their own bots', () => {
  let t: TestApp;
  const as: Record<'alice' | 'bob' | 'vera', Record<string, string>> = { alice: {}, bob: {}, vera: {} };
  let alpha: any;
  let bravo: any;
  let alphaRun: any;

  const user = async (username: string, role: Role) => {
    const u = await t.engine.users.create({ username, role });
    const { key } = await t.engine.swarm.keys.create({ name: `${username}-key`, scopes: ['admin', 'tasks', 'agents'] }, 'test', null, u.id);
    return { 'x-api-key': key };
  };
  const page = async (path: string, headers: Record<string, string> = {}) => {
    const res = await fetch(t.url + path, { headers: { accept: 'text/html', ...headers } });
    return { status: res.status, html: await res.text() };
  };

  beforeAll(async () => {
    t = await startTestApp();
    as.alice = await user('alice', 'operator');
    as.bob = await user('bob', 'operator');
    as.vera = await user('vera', 'viewer');
    alpha = (await t.api('POST', '/api/bots', { name: 'Alpha-Scout', prompt: 'find alpha' }, as.alice)).body;
    bravo = (await t.api('POST', '/api/bots', { name: 'Bravo-Scout', prompt: 'find bravo' }, as.bob)).body;
    const run = await t.api('POST', `/api/bots/${alpha.id}/run`, { input: 'alpha input' }, as.alice);
    expect(run.status).toBe(202);
    alphaRun = await t.waitForRun(run.body.id);
    expect((await t.api('POST', `/api/bots/${alpha.id}/docs`, { name: 'notes.md', content: 'alpha secret notes' }, as.alice)).status).toBe(201);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('creating sets the owner; names are unique per owner, not across owners', async () => {
    expect((await t.engine.bots.get(alpha.id)).ownerId).toBe((await t.engine.bots.get(alpha.id)).ownerId);
    expect((await t.engine.bots.get(alpha.id)).ownerId).not.toBe((await t.engine.bots.get(bravo.id)).ownerId);
    // Bob may have an "Alpha-Scout" of his own; Alice may not have two.
    const bobs = await t.api('POST', '/api/bots', { name: 'alpha-scout', prompt: 'bob too' }, as.bob);
    expect(bobs.status).toBe(201);
    const again = await t.api('POST', '/api/bots', { name: 'ALPHA-SCOUT', prompt: 'twice' }, as.alice);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('BOT_NAME_TAKEN');
    expect((await t.api('DELETE', `/api/bots/${bobs.body.id}`, undefined, as.bob)).status).toBe(204);
  });

  it('lists show an operator their own; the admin and a viewer see all', async () => {
    const names = async (h: Record<string, string>) => ((await t.api('GET', '/api/bots', undefined, h)).body as any[]).map((b) => b.name).sort();
    expect(await names(as.alice)).toEqual(['Alpha-Scout']);
    expect(await names(as.bob)).toEqual(['Bravo-Scout']);
    expect(await names(as.vera)).toEqual(['Alpha-Scout', 'Bravo-Scout']);
    expect(await names({})).toEqual(['Alpha-Scout', 'Bravo-Scout']);

    const runsOf = async (h: Record<string, string>) => ((await t.api('GET', '/api/runs', undefined, h)).body.runs as any[]).map((r) => r.id);
    expect(await runsOf(as.alice)).toContain(alphaRun.id);
    expect(await runsOf(as.bob)).not.toContain(alphaRun.id);
    expect(await runsOf({})).toContain(alphaRun.id);

    const feed = async (h: Record<string, string>) => JSON.stringify((await t.api('GET', '/api/events?limit=200', undefined, h)).body);
    expect(await feed(as.alice)).toContain('Alpha-Scout');
    expect(await feed(as.bob)).not.toContain('Alpha-Scout');
    expect(await feed({})).toContain('Alpha-Scout');

    // The pages: the dashboard's grid and feed, the Runs page.
    const bobDash = await page('/', as.bob);
    expect(bobDash.status).toBe(200);
    expect(bobDash.html).toContain('Bravo-Scout');
    expect(bobDash.html).not.toContain('Alpha-Scout');
    expect((await page('/partials/bots', as.bob)).html).not.toContain('Alpha-Scout');
    expect((await page('/partials/activity', as.bob)).html).not.toContain('Alpha-Scout');
    const bobRuns = await page('/runs', as.bob);
    expect(bobRuns.status).toBe(200);
    expect(bobRuns.html).not.toContain('Alpha-Scout');
    expect((await page('/runs', as.alice)).html).toContain('Alpha-Scout');
    expect((await page('/', {})).html).toContain('Alpha-Scout');
  });

  it("a guessed id of another user's bot, run, result or document is 404, as if it did not exist", async () => {
    const results = await t.api('GET', `/api/bots/${alpha.id}/results`, undefined, as.alice);
    expect(results.status).toBe(200);
    // The echo model's answer is the run's one result.
    expect(results.body).toHaveLength(1);
    const resultId: number = results.body[0].id;
    const notFound: [string, string, string][] = [
      ['GET', `/api/bots/${alpha.id}`, 'BOT_NOT_FOUND'],
      ['PUT', `/api/bots/${alpha.id}`, 'BOT_NOT_FOUND'],
      ['DELETE', `/api/bots/${alpha.id}`, 'BOT_NOT_FOUND'],
      ['POST', `/api/bots/${alpha.id}/run`, 'BOT_NOT_FOUND'],
      ['GET', `/api/bots/${alpha.id}/runs`, 'BOT_NOT_FOUND'],
      ['GET', `/api/bots/${alpha.id}/results`, 'BOT_NOT_FOUND'],
      ['GET', `/api/bots/${alpha.id}/docs`, 'BOT_NOT_FOUND'],
      ['GET', `/api/bots/${alpha.id}/docs/notes.md`, 'BOT_NOT_FOUND'],
      ['DELETE', `/api/bots/${alpha.id}/docs/notes.md`, 'BOT_NOT_FOUND'],
      ['GET', `/api/runs/${alphaRun.id}`, 'RUN_NOT_FOUND'],
      ['GET', `/api/runs/${alphaRun.id}/logs`, 'RUN_NOT_FOUND'],
      ['GET', `/api/runs/${alphaRun.id}/events`, 'RUN_NOT_FOUND'],
      ['POST', `/api/runs/${alphaRun.id}/retry`, 'RUN_NOT_FOUND'],
      ['GET', `/api/triggers?bot=${alpha.id}`, 'BOT_NOT_FOUND'],
      ['GET', `/api/runs?bot=${alpha.id}`, 'BOT_NOT_FOUND'],
      ['POST', `/api/results/${resultId}/pin`, 'RESULT_NOT_FOUND'],
      ['DELETE', `/api/results/${resultId}/pin`, 'RESULT_NOT_FOUND'],
    ];
    for (const [method, path, code] of notFound) {
      const res = await t.api(method, path, method === 'PUT' || method === 'POST' ? {} : undefined, as.bob);
      expect({ method, path, status: res.status, code: res.body?.error?.code }).toEqual({ method, path, status: 404, code });
    }
    // Nothing was changed by those attempts.
    expect((await t.api('GET', `/api/bots/${alpha.id}/docs/notes.md`, undefined, as.alice)).body).toBe('alpha secret notes');
    expect((await t.engine.bots.get(alpha.id)).name).toBe('Alpha-Scout');
    // Its pages and streams too.
    for (const path of [`/bots/${alpha.id}`, `/bots/${alpha.id}/stream`, `/runs/${alphaRun.id}/stream`, `/partials/bots/${alpha.id}/results`, `/partials/bots/${alpha.id}/docs`, `/partials/bots/${alpha.id}/runs`, `/bots/${alpha.id}/subscriptions`]) {
      expect({ path, status: (await page(path, as.bob)).status }).toEqual({ path, status: 404 });
    }
    // The owner and the admin reach it.
    expect((await page(`/bots/${alpha.id}`, as.alice)).status).toBe(200);
    expect((await t.api('GET', `/api/runs/${alphaRun.id}/logs`, undefined, {})).status).toBe(200);
  });

  it('a viewer sees every bot but cannot start a run, create or change anything (403), and gets no Run button', async () => {
    expect((await t.api('GET', `/api/bots/${alpha.id}`, undefined, as.vera)).status).toBe(200);
    expect((await t.api('GET', `/api/runs/${alphaRun.id}`, undefined, as.vera)).status).toBe(200);
    const before = (await t.api('GET', `/api/bots/${alpha.id}/runs`, undefined, {})).body.length;
    for (const [method, path, body] of [
      ['POST', `/api/bots/${alpha.id}/run`, {}],
      ['PUT', `/api/bots/${alpha.id}`, { name: 'Renamed' }],
      ['DELETE', `/api/bots/${alpha.id}`, undefined],
      ['POST', '/api/bots', { name: 'Vera-Bot', prompt: 'x' }],
      ['POST', `/api/runs/${alphaRun.id}/retry`, undefined],
      ['POST', `/api/bots/${alpha.id}/docs`, { name: 'x.md', content: 'x' }],
      ['POST', '/api/triggers', { source_bot: alpha.id, event: 'completed', target_bot: alpha.id }],
      ['POST', '/api/pipelines', { name: 'Vera-Line', steps: [alpha.id] }],
    ] as [string, string, unknown][]) {
      const res = await t.api(method, path, body, as.vera);
      expect({ method, path, status: res.status, code: res.body?.error?.code }).toEqual({ method, path, status: 403, code: 'FORBIDDEN_ROLE' });
    }
    expect((await t.api('GET', `/api/bots/${alpha.id}/runs`, undefined, {})).body.length).toBe(before);
    // The page form is refused too, and the bot page has no Run form for a viewer.
    const res = await fetch(`${t.url}/bots/${alpha.id}/run`, { method: 'POST', headers: { ...as.vera, 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' }, body: 'input=x', redirect: 'manual' });
    expect(res.status).toBe(403);
    const viewerPage = await page(`/bots/${alpha.id}`, as.vera);
    expect(viewerPage.status).toBe(200);
    expect(viewerPage.html).toContain('Alpha-Scout');
    expect(viewerPage.html).not.toContain(`action="/bots/${alpha.id}/run"`);
    expect((await page(`/bots/${alpha.id}`, as.alice)).html).toContain(`action="/bots/${alpha.id}/run"`);
    // The dashboard marks a viewer's grid read-only (the cards' Run forms are hidden).
    expect((await page('/', as.vera)).html).toContain('class="read-only"');
    expect((await page('/', as.alice)).html).not.toContain('class="read-only"');
  });

  it("a connection or pipeline step cannot reach another user's bot", async () => {
    for (const target of [bravo.id, 'Bravo-Scout']) {
      const res = await t.api('POST', '/api/triggers', { source_bot: alpha.id, event: 'completed', target_bot: target }, as.alice);
      expect({ target, status: res.status, code: res.body.error?.code }).toEqual({ target, status: 404, code: 'BOT_NOT_FOUND' });
    }
    // Not from another's bot either, and not even the admin links two owners' bots.
    expect((await t.api('POST', '/api/triggers', { source_bot: bravo.id, event: 'completed', target_bot: alpha.id }, as.alice)).status).toBe(404);
    expect((await t.api('POST', '/api/triggers', { source_bot: alpha.id, event: 'completed', target_bot: bravo.id }, {})).status).toBe(404);
    const line = await t.api('POST', '/api/pipelines', { name: 'Mixed', steps: [alpha.id, bravo.id] }, as.alice);
    expect(line.status).toBe(404);
    expect(line.body.error.code).toBe('BOT_NOT_FOUND');
    expect((await t.api('GET', '/api/triggers', undefined, {})).body).toEqual([]);

    // Within one owner it works, and only that owner (and the admin) sees it.
    const second = (await t.api('POST', '/api/bots', { name: 'Alpha-Writer', prompt: 'write' }, as.alice)).body;
    const link = await t.api('POST', '/api/triggers', { source_bot: 'Alpha-Scout', event: 'completed', target_bot: 'Alpha-Writer' }, as.alice);
    expect(link.status).toBe(201);
    const pipeline = await t.api('POST', '/api/pipelines', { name: 'Alpha-Line', steps: [alpha.id, second.id] }, as.alice);
    expect(pipeline.status).toBe(201);
    expect((await t.api('GET', '/api/triggers', undefined, as.bob)).body).toEqual([]);
    expect((await t.api('GET', '/api/pipelines', undefined, as.bob)).body).toEqual([]);
    expect((await t.api('GET', `/api/triggers/${link.body.id}`, undefined, as.bob)).status).toBe(404);
    expect((await t.api('DELETE', `/api/triggers/${link.body.id}`, undefined, as.bob)).status).toBe(404);
    expect((await t.api('GET', `/api/pipelines/${pipeline.body.id}`, undefined, as.bob)).status).toBe(404);
    expect((await t.api('POST', `/api/pipelines/${pipeline.body.id}/run`, {}, as.bob)).status).toBe(404);
    expect((await t.api('GET', '/api/triggers', undefined, {})).body).toHaveLength(1);
    expect((await t.api('DELETE', `/api/triggers/${link.body.id}`, undefined, as.alice)).status).toBe(204);
    expect((await t.api('DELETE', `/api/pipelines/${pipeline.body.id}`, undefined, as.alice)).status).toBe(204);
    expect((await t.api('DELETE', `/api/bots/${second.id}`, undefined, as.alice)).status).toBe(204);
  });

  it("tasks belong to their creator; an operator enrols only their own bots as agents", async () => {
    const made = [];
    for (const role of ['planner', 'executor', 'evaluator']) {
      const bot = (await t.api('POST', '/api/bots', { name: `Alpha-${role}`, prompt: role }, as.alice)).body;
      made.push(bot);
      // Bob cannot give Alice's bot a role; Alice can.
      expect((await t.api('POST', '/api/agents', { bot: bot.id, role }, as.bob)).status).toBe(404);
      expect((await t.api('POST', '/api/agents', { bot: bot.id, role }, as.alice)).status).toBe(201);
    }
    const task = await t.api('POST', '/api/tasks', { title: 'Alpha task', description: 'find things' }, as.alice);
    expect(task.status).toBe(201);
    expect((await t.api('POST', '/api/tasks', { title: 'Vera task', description: 'x' }, as.vera)).status).toBe(403);
    // Alice's bots never work on Bob's task: Bob has no agents of his own, so his task cannot start.
    const bobs = await t.api('POST', '/api/tasks', { title: 'Bob task', description: 'x' }, as.bob);
    expect({ status: bobs.status, code: bobs.body.error?.code }).toEqual({ status: 409, code: 'SWARM_INCOMPLETE' });
    const planner = (await t.engine.swarm.assignments.activeForTask(task.body.id, 'plan'))[0];
    expect(planner && (await t.engine.swarm.agents.get(planner.agentId!)).botId).toBe(made[0].id);
    const titles = async (h: Record<string, string>) => ((await t.api('GET', '/api/tasks?archived=1', undefined, h)).body as any[]).map((x) => x.title);
    expect(await titles(as.alice)).toEqual(['Alpha task']);
    expect(await titles(as.bob)).toEqual([]);
    expect(await titles({})).toEqual(['Alpha task']);
    expect(await titles(as.vera)).toEqual(['Alpha task']);
    for (const [method, path] of [['GET', `/api/tasks/${task.body.id}`], ['GET', `/api/tasks/${task.body.id}/audit`], ['POST', `/api/tasks/${task.body.id}/cancel`]]) {
      const res = await t.api(method!, path!, undefined, as.bob);
      expect({ path, status: res.status, code: res.body?.error?.code }).toEqual({ path, status: 404, code: 'TASK_NOT_FOUND' });
    }
    expect((await page(`/tasks/${task.body.id}`, as.bob)).status).toBe(404);
    expect((await page('/tasks', as.bob)).html).not.toContain('Alpha task');
    expect((await t.api('POST', `/api/tasks/${task.body.id}/cancel`, undefined, as.vera)).status).toBe(403);
    expect((await t.api('POST', `/api/tasks/${task.body.id}/cancel`, undefined, as.alice)).status).toBe(200);
  });

  it("the live stream and the bell tell each user only about bots they may read", async () => {
    const streams: SseClient[] = [];
    try {
      const open = async (h: Record<string, string>) => {
        const s = await openSse(`${t.url}/stream`, h);
        streams.push(s);
        return s;
      };
      const [aliceSse, bobSse, adminSse] = [await open(as.alice), await open(as.bob), await open({})];
      // Bob's bot waits for approval: Bob's and the admin's bells hear of it, Alice's does not.
      expect((await t.api('PUT', `/api/bots/${bravo.id}`, { requires_approval: true }, as.bob)).status).toBe(200);
      const bobRun = (await t.api('POST', `/api/bots/${bravo.id}/run`, { input: 'bravo input' }, as.bob)).body;
      await bobSse.waitFor((e) => e.event === `card-${bravo.id}`);
      await bobSse.waitFor((e) => e.event === 'approvals');
      await adminSse.waitFor((e) => e.event === 'approvals');
      await adminSse.waitFor((e) => e.event === `card-${bravo.id}`);
      await bobSse.waitFor((e) => e.event === 'activity' && e.data.includes('Bravo-Scout'));
      // Then something about Alice's bot: once she hears it, she would have heard Bob's before it
      // (the hub writes every client's events in the order they were published).
      await t.waitForRun((await t.api('POST', `/api/bots/${alpha.id}/run`, {}, as.alice)).body.id);
      await aliceSse.waitFor((e) => e.event === `card-${alpha.id}`);
      await aliceSse.waitFor((e) => e.event === 'activity' && e.data.includes('Alpha-Scout'));
      expect(aliceSse.events.filter((e) => e.event === `card-${bravo.id}` || e.event === 'approvals' || e.data.includes('Bravo-Scout'))).toEqual([]);
      expect(bobSse.events.filter((e) => e.event === `card-${alpha.id}`)).toEqual([]);
      await bobSse.waitFor((e) => e.event === 'activity');
      expect(bobSse.events.filter((e) => e.data.includes('Alpha-Scout'))).toEqual([]);

      // The bell's count and the inbox are the caller's.
      const bell = async (h: Record<string, string>) => (await page('/partials/approvals-bell', h)).html.match(/class="bell-count">(\d*)</)?.[1];
      expect(await bell(as.bob)).toBe('1');
      expect(await bell({})).toBe('1');
      expect(await bell(as.alice)).toBe('0');
      expect((await t.api('GET', '/api/approvals', undefined, as.alice)).body).toEqual([]);
      const pending = (await t.api('GET', '/api/approvals', undefined, as.bob)).body;
      expect(pending.map((a: any) => a.run_id)).toEqual([bobRun.id]);
      expect((await t.api('POST', `/api/approvals/${pending[0].id}/approve`, {}, as.alice)).status).toBe(404);
      expect((await t.api('POST', `/api/approvals/${pending[0].id}/approve`, {}, as.vera)).status).toBe(403);
      expect((await t.api('POST', `/api/approvals/${pending[0].id}/approve`, {}, as.bob)).status).toBe(200);
    } finally {
      for (const s of streams) s.close();
    }
  });
});

describe("ownership: the header's failures count", () => {
  let t: TestApp;
  afterAll(async () => {
    await t?.close();
  });

  it("counts and announces only the caller's failed runs", async () => {
    // Echo lines every 3 s against a 1 s timeout: every run fails.
    t = await startTestApp({ RUN_TIMEOUT_S: '1', ECHO_DELAY_MS: '3000' });
    const key = async (username: string) => {
      const u = await t.engine.users.create({ username, role: 'operator' });
      return { 'x-api-key': (await t.engine.swarm.keys.create({ name: username, scopes: ['admin'] }, 'test', null, u.id)).key };
    };
    const alice = await key('alice');
    const bob = await key('bob');
    const alpha = (await t.api('POST', '/api/bots', { name: 'Alpha', prompt: 'a' }, alice)).body;
    const bravo = (await t.api('POST', '/api/bots', { name: 'Bravo', prompt: 'b' }, bob)).body;
    const badge = async (h: Record<string, string>) => {
      const res = await fetch(`${t.url}/partials/failures-badge`, { headers: h });
      return (await res.text()).match(/class="failures-count">(\d*)</)?.[1];
    };
    const streams: SseClient[] = [await openSse(`${t.url}/stream`, alice), await openSse(`${t.url}/stream`, bob)];
    try {
      const [aliceSse, bobSse] = streams as [SseClient, SseClient];
      expect(await badge(bob)).toBe('0');
      const bobRun = (await t.api('POST', `/api/bots/${bravo.id}/run`, { input: 'x' }, bob)).body;
      expect((await t.waitForRun(bobRun.id)).status).toBe('failed');
      await bobSse.waitFor((e) => e.event === 'failures');
      expect(await badge(bob)).toBe('1');
      expect(await badge({})).toBe('1');
      expect(await badge(alice)).toBe('0');
      // Alice hears of her own failure only, after Bob's was published.
      const aliceRun = (await t.api('POST', `/api/bots/${alpha.id}/run`, { input: 'y' }, alice)).body;
      expect((await t.waitForRun(aliceRun.id)).status).toBe('failed');
      await aliceSse.waitFor((e) => e.event === 'failures');
      await aliceSse.waitFor((e) => e.event === `card-${alpha.id}`);
      expect(aliceSse.events.filter((e) => e.event === 'failures')).toHaveLength(1);
      expect(aliceSse.events.filter((e) => e.event === `card-${bravo.id}`)).toEqual([]);
      expect(await badge(alice)).toBe('1');
      expect(await badge({})).toBe('2');
      // The badge is in every page's header.
      expect(await (await fetch(`${t.url}/runs`, { headers: { ...alice, accept: 'text/html' } })).text()).toContain('id="failures-badge"');
    } finally {
      for (const s of streams) s.close();
    }
  }, 30_000);
});
