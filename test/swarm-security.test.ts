import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

// Every step of a task is audited with its actor, and redacted before it is stored; clients are
// identified by API keys (X-API-Key), stored hashed, scoped, revocable.

const SECRET = 'sk-live-abc123def456ghi789';
const EMAIL = 'jane.doe@example.com';

async function enrolEchoSwarm(t: TestApp) {
  for (const [name, role] of [['Planner', 'planner'], ['Exec-1', 'executor'], ['Exec-2', 'executor'], ['Judge', 'evaluator']] as const) {
    const bot = (await t.api('POST', '/api/bots', { name, prompt: name })).body;
    expect((await t.api('POST', '/api/agents', { bot: bot.id, role })).status).toBe(201);
  }
}

describe('audit redaction', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ ECHO_DELAY_MS: '10', AUDIT_REDACT_FIELDS: 'customer_id', AUDIT_REDACT_PATTERNS: '["ACME-[0-9]{6}"]' });
    await enrolEchoSwarm(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  it(`a task whose description holds ${SECRET.slice(0, 10)}… and an e-mail address: no audit row holds either, each lists what it redacted`, async () => {
    const description = `Use the key ${SECRET} to call the API, mail the result to ${EMAIL}, order ACME-123456.`;
    const created = await t.api('POST', '/api/tasks', { title: `Report for ${EMAIL}`, description });
    expect(created.status).toBe(201);
    const id = created.body.id;
    // The task itself keeps what it was given: the planner and executors need it.
    expect(created.body.description).toBe(description);
    await expect.poll(async () => (await t.api('GET', `/api/tasks/${id}`)).body.status, { timeout: 20_000 }).toBe('COMPLETED');

    const rows = (await t.api('GET', `/api/tasks/${id}/audit`)).body as any[];
    const stored = t.engine.db.$client.prepare('select actor, event, payload, redacted_fields from audit where task_id = ?').all(id) as any[];
    expect(stored.length).toBe(rows.length);
    for (const text of [JSON.stringify(rows), JSON.stringify(stored)]) {
      expect(text).not.toContain('abc123');
      expect(text).not.toContain(EMAIL);
      expect(text).not.toContain('ACME-123456');
    }
    const createdRow = rows.find((r) => r.event === 'task.created');
    expect(createdRow.redacted_fields).toEqual(['title', 'description']);
    expect(createdRow.payload.description).toBe('Use the key [REDACTED:api_key] to call the API, mail the result to [REDACTED:email], order [REDACTED:custom].');
    expect(createdRow.payload.title).toBe('Report for [REDACTED:email]');
    // Each turn's input (the planner's, the executors', the evaluator's) quotes the description.
    const turns = rows.filter((r) => r.event === 'assignment.created');
    expect(turns.length).toBe(4);
    for (const r of turns) expect(r.redacted_fields).toContain('input');
    // So do the executors' outputs (echo repeats its input) and the plan (echo names sub-tasks after the title).
    for (const r of rows.filter((x) => x.event === 'result')) expect(r.redacted_fields).toEqual(['output']);
    expect(rows.find((r) => r.event === 'task.planned').redacted_fields).toEqual(['plan.subtasks[0].description', 'plan.subtasks[1].description']);
    // Rows with nothing sensitive list nothing.
    expect(rows.filter((r) => r.event === 'task.status').every((r) => r.redacted_fields.length === 0)).toBe(true);
    // The activity feed shows the title redacted too.
    const feed = ((await t.api('GET', '/api/events?limit=100')).body as any[]).map((e) => e.message);
    expect(feed).toContain(`📋 Task #${id} "Report for [REDACTED:email]" was created`);
    expect(feed).toContain(`📋 Task #${id} "Report for [REDACTED:email]" completed`);
    expect(feed.join('\n')).not.toContain(EMAIL);
  });

  it('redaction and lease settings are checked at start, naming the variable', () => {
    expect(loadConfig({ AUDIT_REDACT_FIELDS: 'iban, customer_id', AUDIT_REDACT_PATTERNS: '["ACME-[0-9]{6}"]' }).swarm).toEqual({
      leaseMs: 30_000,
      maxWaitS: 30,
      redactFields: ['iban', 'customer_id'],
      redactPatterns: ['ACME-[0-9]{6}'],
    });
    expect(() => loadConfig({ AUDIT_REDACT_PATTERNS: '["("]' })).toThrow('Invalid configuration: AUDIT_REDACT_PATTERNS must hold valid regular expressions');
    expect(() => loadConfig({ AUDIT_REDACT_PATTERNS: 'ACME-.*' })).toThrow('Invalid configuration: AUDIT_REDACT_PATTERNS must be a json array of regular expressions, e.g. ["ref-[0-9]{6}"]');
    expect(() => loadConfig({ SWARM_LEASE_MS: '5' })).toThrow(/^Invalid configuration: SWARM_LEASE_MS /);
  });

  it('field-name rules replace a whole value, whatever it holds', async () => {
    const row = await t.engine.swarm.audit.record({ actor: 'test', event: 'result', payload: { customer_id: 'C-1', nested: { password: 'hunter2', note: 'Authorization: Bearer abcdefgh12345678' } } });
    expect(row.payload).toEqual({ customer_id: '[REDACTED]', nested: { password: '[REDACTED]', note: 'Authorization: [REDACTED:bearer_token]' } });
    expect(row.redactedFields).toEqual(['customer_id', 'nested.password', 'nested.note']);
  });
});

describe('API keys', () => {
  let t: TestApp;
  const TOKEN = 'dashboard-token-for-tests';
  const bearer = { authorization: `Bearer ${TOKEN}` };
  beforeAll(async () => {
    t = await startTestApp({ ECHO_DELAY_MS: '10', DASHBOARD_TOKEN: TOKEN });
    for (const [name, role] of [['Planner', 'planner'], ['Exec', 'executor'], ['Judge', 'evaluator']] as const) {
      const bot = (await t.api('POST', '/api/bots', { name, prompt: name }, bearer)).body;
      expect((await t.api('POST', '/api/agents', { bot: bot.id, role }, bearer)).status).toBe(201);
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a key is shown once, stored as its SHA-256, and works in place of the dashboard token within its scopes', async () => {
    expect((await t.api('GET', '/api/tasks')).status).toBe(401);
    const created = await t.api('POST', '/api/keys', { name: 'CI', scopes: ['tasks'] }, bearer);
    expect(created.status).toBe(201);
    const key: string = created.body.key;
    expect(key).toMatch(/^oo_[A-Za-z0-9_-]{43}$/);
    expect(created.body).toMatchObject({ name: 'CI', scopes: ['tasks'], prefix: key.slice(0, 11), revoked: false });
    const row = t.engine.db.$client.prepare('select * from api_keys where id = ?').get(created.body.id) as any;
    expect(row.hash).toBe(createHash('sha256').update(key).digest('hex'));
    expect(Object.values(row)).not.toContain(key);
    expect(JSON.stringify((await t.api('GET', '/api/keys', undefined, bearer)).body)).not.toContain(key);

    const withKey = { 'x-api-key': key };
    const task = await t.api('POST', '/api/tasks', { title: 'Keyed' }, withKey);
    expect(task.status).toBe(201);
    expect(task.body.created_by).toBe('key:CI');
    expect((await t.api('GET', `/api/tasks/${task.body.id}`, undefined, withKey)).status).toBe(200);
    const cancel = await t.api('POST', `/api/tasks/${task.body.id}/cancel`, undefined, withKey);
    expect(cancel.body.status).toBe('CANCELLED');
    const rows = (await t.api('GET', `/api/tasks/${task.body.id}/audit`, undefined, withKey)).body as any[];
    expect(rows.find((r) => r.event === 'key.used')).toMatchObject({ actor: 'key:CI', payload: { key_id: created.body.id, method: 'POST', path: `/api/tasks/${task.body.id}/cancel` } });
    expect(rows.find((r) => r.event === 'task.created').actor).toBe('key:CI');

    // Outside its scope: 403 with the scope it lacks.
    const bots = await t.api('GET', '/api/bots', undefined, withKey);
    expect(bots.status).toBe(403);
    expect(bots.body.error).toEqual({ code: 'FORBIDDEN_SCOPE', message: 'This key has the scopes tasks; GET /api/bots needs "admin".' });
    expect((await t.api('POST', '/api/keys', { name: 'x', scopes: ['admin'] }, withKey)).status).toBe(403);
  });

  it('a revoked key gets 401, even beside a valid dashboard token; an unknown key too', async () => {
    const { body } = await t.api('POST', '/api/keys', { name: 'Temp', scopes: ['tasks', 'agents'] }, bearer);
    expect((await t.api('GET', '/api/tasks', undefined, { 'x-api-key': body.key })).status).toBe(200);
    const revoked = await t.api('DELETE', `/api/keys/${body.id}`, undefined, bearer);
    expect(revoked.body).toMatchObject({ id: body.id, revoked: true });
    for (const headers of [{ 'x-api-key': body.key }, { 'x-api-key': body.key, ...bearer }, { 'x-api-key': 'oo_not-a-key-at-all-00000000000000000000000' }]) {
      const r = await t.api('GET', '/api/tasks', undefined, headers);
      expect(r.status).toBe(401);
      expect(r.body.error).toEqual({ code: 'UNAUTHORIZED', message: 'The API key is not valid: it is unknown or was revoked.' });
    }
    expect((await t.api('GET', '/api/tasks', undefined, bearer)).status).toBe(200);
    expect((await t.api('DELETE', '/api/keys/99999', undefined, bearer)).body.error.code).toBe('API_KEY_NOT_FOUND');
  });

  it('bad input is a 4xx with {error: {code, message}}, never a 5xx', async () => {
    const cases: [string, string, unknown, number, string][] = [
      ['POST', '/api/tasks', { title: '' }, 400, 'VALIDATION_FAILED'],
      ['POST', '/api/tasks', { title: 'x', priority: 'urgent' }, 400, 'VALIDATION_FAILED'],
      ['POST', '/api/tasks', { title: 'x', max_rounds: 99 }, 400, 'VALIDATION_FAILED'],
      ['POST', '/api/tasks', '[1,2', 400, 'BAD_REQUEST'],
      ['GET', '/api/tasks/abc', undefined, 404, 'TASK_NOT_FOUND'],
      ['GET', '/api/tasks/424242/audit', undefined, 404, 'TASK_NOT_FOUND'],
      ['GET', '/api/tasks?status=DONE', undefined, 400, 'VALIDATION_FAILED'],
      ['POST', '/api/tasks/1/results', { assignment_id: 1 }, 401, 'UNAUTHORIZED'],
      ['POST', '/api/agents', { bot: 'Nobody', role: 'planner' }, 404, 'BOT_NOT_FOUND'],
      ['POST', '/api/agents', { bot: 'Planner', role: 'planner' }, 409, 'AGENT_BOT_TAKEN'],
      ['POST', '/api/agents', { bot: 'Planner', role: 'boss' }, 400, 'VALIDATION_FAILED'],
      ['POST', '/api/agents/register', { name: 'x', role: 'executor', skills: ['!!'] }, 400, 'VALIDATION_FAILED'],
      ['GET', '/api/agents/77', undefined, 404, 'AGENT_NOT_FOUND'],
      ['DELETE', '/api/agents/77', undefined, 404, 'AGENT_NOT_FOUND'],
      ['POST', '/api/keys', { name: 'k', scopes: [] }, 400, 'VALIDATION_FAILED'],
      ['POST', '/api/keys', { name: 'k', scopes: ['root'] }, 400, 'VALIDATION_FAILED'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const r = await t.api(method, path, body, bearer);
      expect([method, path, r.status, r.body?.error?.code]).toEqual([method, path, status, code]);
      expect(typeof r.body.error.message).toBe('string');
    }
    const agent = (await t.api('GET', '/api/agents', undefined, bearer)).body[0];
    const poll = await t.api('GET', `/api/agents/${agent.id}/assignments/next`, undefined, bearer);
    expect(poll.status).toBe(401);
  });
});
