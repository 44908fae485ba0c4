import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { Engine } from '../src/engine/engine.ts';
import { startTestApp, tempDataDir, type TestApp } from './helpers/app.ts';

// Seed 001's Support-Bot "writes an answer draft; the user reviews it → release". A bot that
// requires approval ends its run `awaiting_approval` holding the draft; nothing counts and nothing
// fires until a person approves it (maybe edited) or rejects it.

describe('approvals over the API', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  const bot = async (name: string, extra: Record<string, unknown> = {}) => {
    const r = await t.api('POST', '/api/bots', { name, prompt: `I am ${name}`, ...extra });
    expect(r.status).toBe(201);
    return r.body;
  };
  const run = async (botId: number, input: string) => (await t.api('POST', `/api/bots/${botId}/run`, { input })).body;
  const statusOf = async (runId: number) => (await t.api('GET', `/api/runs/${runId}`)).body.status;
  const waitFor = async (runId: number, status: string) => {
    await expect.poll(() => statusOf(runId), { timeout: 15_000 }).toBe(status);
    return (await t.api('GET', `/api/runs/${runId}`)).body;
  };
  const approvalOf = async (runId: number) => ((await t.api('GET', '/api/approvals?status=all')).body as any[]).find((a) => a.run_id === runId);

  it('a draft waits; Edit + Approve makes the edited text the output and the one result; a connection fires only then', async () => {
    const support = await bot('Support-Bot', { emoji: '📨', requires_approval: true });
    expect(support).toMatchObject({ requires_approval: true, approval_timeout_s: 86_400 });
    const sender = await bot('Sender');
    expect((await t.api('POST', '/api/triggers', { source_bot: support.id, event: 'completed', target_bot: sender.id })).status).toBe(201);

    const r = await run(support.id, 'Where is my order?');
    const waiting = await waitFor(r.id, 'awaiting_approval');
    expect(waiting).toMatchObject({ output: 'Prompt: I am Support-Bot\nInput: Where is my order?', finished_at: null, requires_approval: true });
    expect(waiting.duration_ms).toBeGreaterThan(0);
    // Nothing counts yet: no result, the connection has not fired.
    await t.engine.bus.flush();
    expect((await t.api('GET', `/api/bots/${support.id}/results`)).body).toEqual([]);
    expect((await t.api('GET', `/api/bots/${sender.id}/runs`)).body).toEqual([]);

    const inbox = (await t.api('GET', '/api/approvals')).body;
    expect(inbox).toHaveLength(1);
    const a = inbox[0];
    expect(a).toMatchObject({ status: 'pending', run_id: r.id, bot: { name: 'Support-Bot', emoji: '📨' }, draft: waiting.output, final_text: null, decided_by: null, pipeline: null });
    expect(Date.parse(a.expires_at) - Date.parse(a.created_at)).toBe(86_400_000);

    const approved = await t.api('POST', `/api/approvals/${a.id}/approve`, { text: 'Your order ships tomorrow.' });
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ status: 'approved', draft: waiting.output, final_text: 'Your order ships tomorrow.', edited: true, decided_by: 'api' });
    expect(approved.body.decided_at).toBeTruthy();
    const done = await waitFor(r.id, 'completed');
    expect(done.output).toBe('Your order ships tomorrow.');
    expect(done.finished_at).toBeTruthy();
    expect((await t.api('GET', `/api/bots/${support.id}/results`)).body.map((x: any) => x.content)).toEqual(['Your order ships tomorrow.']);
    // The connection fires with the approved text.
    await expect.poll(async () => (await t.api('GET', `/api/bots/${sender.id}/runs`)).body.length, { timeout: 10_000 }).toBe(1);
    const chained = (await t.api('GET', `/api/bots/${sender.id}/runs`)).body[0];
    expect(chained).toMatchObject({ trigger: 'trigger:Support-Bot', input: 'Your order ships tomorrow.' });
    expect(await t.api('GET', '/api/approvals')).toMatchObject({ body: [] });
    const log = ((await t.api('GET', `/api/runs/${r.id}/logs`)).body as any[]).map((l) => l.text);
    expect(log).toEqual(expect.arrayContaining([expect.stringMatching(/^draft ready: waiting for approval/), 'approved by api (edited) · 1 result found, 1 new']));

    // Deciding twice is refused, saying who decided.
    const again = await t.api('POST', `/api/approvals/${a.id}/reject`, { reason: 'too late' });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'APPROVAL_DECIDED', message: expect.stringContaining('already decided: approved by api') });
  });

  it('a rejected draft ends `rejected` with the reason; no result, no connection, no approval of it later', async () => {
    const support = (await t.engine.bots.findByName('Support-Bot'))!;
    const sender = (await t.engine.bots.findByName('Sender'))!;
    const before = (await t.api('GET', `/api/bots/${sender.id}/runs`)).body.length;
    const r = await run(support.id, 'Refund me');
    await waitFor(r.id, 'awaiting_approval');
    const a = await approvalOf(r.id);

    const noReason = await t.api('POST', `/api/approvals/${a.id}/reject`, {});
    expect(noReason.status).toBe(400);
    expect(noReason.body.error).toMatchObject({ code: 'VALIDATION_FAILED', message: 'reason is required' });
    expect((await t.api('POST', `/api/approvals/${a.id}/approve`, { text: 42 })).status).toBe(400);
    expect((await t.api('POST', '/api/approvals/99999/approve', {})).body.error.code).toBe('APPROVAL_NOT_FOUND');
    expect((await t.api('GET', '/api/approvals?status=nope')).status).toBe(400);

    const rejected = await t.api('POST', `/api/approvals/${a.id}/reject`, { reason: 'wrong tone' });
    expect(rejected.body).toMatchObject({ status: 'rejected', reason: 'wrong tone', decided_by: 'api', final_text: null });
    const ended = await waitFor(r.id, 'rejected');
    expect(ended.error).toBe('rejected by api: wrong tone');
    await t.engine.bus.flush();
    expect((await t.api('GET', `/api/bots/${sender.id}/runs`)).body.length).toBe(before);
    expect((await t.api('GET', `/api/bots/${support.id}/results`)).body.map((x: any) => x.content)).toEqual(['Your order ships tomorrow.']);
    expect((await t.api('POST', `/api/approvals/${a.id}/approve`, {})).status).toBe(409);
    expect((await t.api('GET', '/api/approvals?status=decided')).body.map((x: any) => x.status)).toEqual(['rejected', 'approved']);
    const feed = ((await t.api('GET', '/api/events?limit=50')).body as any[]).map((e) => e.message);
    expect(feed).toContain(`⊘ 📨 Support-Bot: run #${r.id} rejected by api — wrong tone`);
  });

  it('a cancelled draft closes its approval as cancelled', async () => {
    const support = (await t.engine.bots.findByName('Support-Bot'))!;
    const r = await run(support.id, 'Cancel me');
    await waitFor(r.id, 'awaiting_approval');
    expect((await t.api('POST', `/api/runs/${r.id}/cancel`)).body.status).toBe('cancelled');
    await expect.poll(async () => (await approvalOf(r.id)).status).toBe('cancelled');
  });

  it('a pipeline step that requires approval holds the pipeline; approved, the next step gets the approved text; rejected, nothing after it runs', async () => {
    const reader = await bot('Reader');
    await bot('Reply-Draft');
    const send = await bot('Send-Out');
    const p = (
      await t.api('POST', '/api/pipelines', {
        name: 'Answer',
        steps: [{ bot_id: reader.id }, { bot_id: 'Reply-Draft', requires_approval: true }, { bot_id: send.id }],
      })
    ).body;
    expect(p.steps.map((s: any) => s.requires_approval)).toEqual([false, true, false]);

    const pr = (await t.api('POST', `/api/pipelines/${p.id}/run`, { input: 'mail 1' })).body;
    await expect.poll(async () => (await t.api('GET', `/api/pipeline-runs/${pr.id}`)).body.steps[1].status, { timeout: 15_000 }).toBe('awaiting_approval');
    let view = (await t.api('GET', `/api/pipeline-runs/${pr.id}`)).body;
    expect(view).toMatchObject({ status: 'running', awaiting_approval: true, progress: '1/3' });
    expect(view.steps[2]).toMatchObject({ status: 'pending', run_id: null });
    const a = await approvalOf(view.steps[1].run_id);
    expect(a.pipeline).toMatchObject({ id: p.id, name: 'Answer', pipeline_run_id: pr.id, step: 2, total_steps: 3 });
    await t.api('POST', `/api/approvals/${a.id}/approve`, { text: 'Dear customer, …' });
    await expect.poll(async () => (await t.api('GET', `/api/pipeline-runs/${pr.id}`)).body.status, { timeout: 15_000 }).toBe('completed');
    view = (await t.api('GET', `/api/pipeline-runs/${pr.id}`)).body;
    expect((await t.api('GET', `/api/runs/${view.steps[2].run_id}`)).body.input).toBe('Dear customer, …');

    const pr2 = (await t.api('POST', `/api/pipelines/${p.id}/run`, { input: 'mail 2' })).body;
    await expect.poll(async () => (await t.api('GET', `/api/pipeline-runs/${pr2.id}`)).body.steps[1].status, { timeout: 15_000 }).toBe('awaiting_approval');
    const a2 = await approvalOf((await t.api('GET', `/api/pipeline-runs/${pr2.id}`)).body.steps[1].run_id);
    await t.api('POST', `/api/approvals/${a2.id}/reject`, { reason: 'not this one' });
    await expect.poll(async () => (await t.api('GET', `/api/pipeline-runs/${pr2.id}`)).body.status, { timeout: 15_000 }).toBe('rejected');
    view = (await t.api('GET', `/api/pipeline-runs/${pr2.id}`)).body;
    expect(view.steps.map((s: any) => s.status)).toEqual(['completed', 'rejected', 'pending']);
    expect(view.error).toMatch(/step 2\/3 \(🤖 Reply-Draft\) rejected: rejected by api: not this one/);
    await t.engine.bus.flush();
    expect((await t.api('GET', `/api/bots/${send.id}/runs`)).body).toHaveLength(1); // only the first run's
  });
});

describe('a draft nobody decides expires as rejected', () => {
  it('at its time (injected clock), at the next start when it expired while down, and by the timer', async () => {
    const dataDir = tempDataDir();
    const config = loadConfig({ PORT: '0', ECHO_DELAY_MS: '5', LOG_LEVEL: 'silent', DATA_DIR: dataDir });
    let clock = Date.now();
    const open = async () => {
      const e = await Engine.open(config, pino({ level: 'silent' }), { now: () => clock });
      await e.start();
      return e;
    };
    const waitStatus = async (e: Engine, runId: number, status: string) => expect.poll(async () => (await e.runner.get(runId)).status, { timeout: 10_000 }).toBe(status);

    let engine = await open();
    const b = await engine.createBot({ name: 'Drafter', prompt: 'draft', requires_approval: true });
    const r1 = await engine.startRun(b.id, { trigger: 'manual', input: 'one' });
    await waitStatus(engine, r1.id, 'awaiting_approval');
    expect(await engine.approvals.expireDue()).toBe(0);
    clock += 24 * 3600_000 - 1000;
    expect(await engine.approvals.expireDue()).toBe(0); // a second before its time
    clock += 1000;
    expect(await engine.approvals.expireDue()).toBe(1);
    await waitStatus(engine, r1.id, 'rejected');
    expect((await engine.runner.get(r1.id)).error).toBe('expired: not decided within 24 h');
    expect(await engine.approvals.byRun(r1.id)).toMatchObject({ status: 'expired', decidedBy: 'timeout', reason: 'not decided within 24 h' });
    expect(await engine.results.list(b.id)).toEqual([]);

    // Expired while the process was down: the start rejects it.
    const r2 = await engine.startRun(b.id, { trigger: 'manual', input: 'two' });
    await waitStatus(engine, r2.id, 'awaiting_approval');
    await engine.close();
    clock += 25 * 3600_000;
    engine = await open();
    expect((await engine.runner.get(r2.id)).status).toBe('rejected');
    expect((await engine.approvals.byRun(r2.id))!.status).toBe('expired');

    // The timer: a 1-second approval window on the real clock.
    await engine.close();
    clock = Date.now();
    let real = true;
    const e3 = await Engine.open(config, pino({ level: 'silent' }), { now: () => (real ? Date.now() : clock) });
    await e3.start();
    const quick = await e3.bots.update(b.id, { approval_timeout_s: 1 });
    const r3 = await e3.startRun(quick.id, { trigger: 'manual', input: 'three' });
    await waitStatus(e3, r3.id, 'awaiting_approval');
    await waitStatus(e3, r3.id, 'rejected');
    expect((await e3.runner.get(r3.id)).error).toBe('expired: not decided within 1 s');
    real = false;
    await e3.close();
  }, 30_000);
});
