import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from './fakes/openai.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

// A pipeline runs bots in a row: each step's output is the next step's input. Its run records every
// step and its "k/n" progress; a failing step stops it; cancelling it cancels the step running.

describe('pipelines', () => {
  let t: TestApp;
  let fake: FakeOpenAI;
  beforeAll(async () => {
    fake = await startFakeOpenAI();
    t = await startTestApp({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.baseURL });
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
  });

  const bot = async (name: string, extra: Record<string, unknown> = {}) => (await t.api('POST', '/api/bots', { name, prompt: `I am ${name}`, ...extra })).body;
  const runsOf = async (botId: number) => (await t.api('GET', `/api/bots/${botId}/runs`)).body as any[];
  const latestRun = async (pipelineId: number) => (await t.api('GET', `/api/pipelines/${pipelineId}/runs`)).body[0];
  const feed = async () => ((await t.api('GET', '/api/events?limit=200')).body as any[]).reverse();

  it('a 2-step pipeline completes: step 1 output is step 2 input, each step recorded, 2/2', async () => {
    const writer = await bot('Writer', { emoji: '✍️' });
    const editor = await bot('Editor', { emoji: '🧐' });
    const created = await t.api('POST', '/api/pipelines', { name: 'Blog', description: 'draft, then edit', steps: ['writer', editor.id] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'Blog',
      description: 'draft, then edit',
      steps: [
        { index: 0, bot_id: writer.id, name: 'Writer', emoji: '✍️' },
        { index: 1, bot_id: editor.id, name: 'Editor', emoji: '🧐' },
      ],
      schedule: null,
      next_run_at: null,
    });
    const id = created.body.id;

    const started = await t.api('POST', `/api/pipelines/${id}/run`, { input: 'self-hosting bots' });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ pipeline_id: id, status: 'running', trigger: 'manual', progress: '0/2', input: 'self-hosting bots' });
    expect(['queued', 'running']).toContain(started.body.steps[0].status);
    expect(started.body.steps[1]).toMatchObject({ status: 'pending', run_id: null, bot_name: 'Editor' });

    await expect.poll(async () => (await latestRun(id)).status, { timeout: 15_000 }).toBe('completed');
    const pr = await latestRun(id);
    expect(pr).toMatchObject({ id: started.body.id, progress: '2/2', completed_steps: 2, total_steps: 2, error: null });
    const [s1, s2] = pr.steps;
    expect(s1).toMatchObject({ index: 0, bot_id: writer.id, bot_name: 'Writer', status: 'completed' });
    expect(s2).toMatchObject({ index: 1, bot_id: editor.id, bot_name: 'Editor', status: 'completed' });
    expect(s1.duration_ms).toBeGreaterThan(0);
    expect(s2.duration_ms).toBeGreaterThan(0);

    const r1 = (await t.api('GET', `/api/runs/${s1.run_id}`)).body;
    const r2 = (await t.api('GET', `/api/runs/${s2.run_id}`)).body;
    expect(r1).toMatchObject({ trigger: `pipeline:${id}`, input: 'self-hosting bots', output: 'Prompt: I am Writer\nInput: self-hosting bots' });
    expect(r2).toMatchObject({ trigger: `pipeline:${id}`, input: r1.output });
    expect(pr.output).toBe(r2.output);
    expect((await t.api('GET', `/api/pipeline-runs/${pr.id}`)).body).toMatchObject({ id: pr.id, status: 'completed' });

    const kinds = (await feed()).filter((e) => e.kind.startsWith('pipeline.')).map((e) => e.message);
    expect(kinds).toEqual(
      expect.arrayContaining([
        `🧩 Blog: pipeline run #${pr.id} started (manual) — 0/2`,
        `🧩 Blog step 1/2: ✍️ Writer run #${r1.id} started`,
        '🧩 Blog step 1/2: ✍️ Writer completed',
        `🧩 Blog step 2/2: 🧐 Editor run #${r2.id} started`,
        `🧩 Blog: pipeline run #${pr.id} completed (2/2)`,
      ]),
    );
  });

  it('a run keeps the steps it started with when the pipeline is edited mid-run', async () => {
    const first = await bot('Drafter');
    const second = await bot('Proofer');
    const p = (await t.api('POST', '/api/pipelines', { name: 'Steady', steps: [first.id, second.id] })).body;
    const started = (await t.api('POST', `/api/pipelines/${p.id}/run`, { input: 'v1' })).body;
    expect((await t.api('PUT', `/api/pipelines/${p.id}`, { steps: [second.id] })).status).toBe(200);

    await expect.poll(async () => (await t.api('GET', `/api/pipeline-runs/${started.id}`)).body.status, { timeout: 15_000 }).toBe('completed');
    const pr = (await t.api('GET', `/api/pipeline-runs/${started.id}`)).body;
    expect(pr).toMatchObject({ progress: '2/2', total_steps: 2 });
    expect(pr.steps.map((s: any) => s.bot_name)).toEqual(['Drafter', 'Proofer']);
    // The next run follows the edited pipeline.
    const next = (await t.api('POST', `/api/pipelines/${p.id}/run`, { input: 'v2' })).body;
    expect(next.progress).toBe('0/1');
    expect(next.steps.map((s: any) => s.bot_name)).toEqual(['Proofer']);
  });

  it('a failing step stops the pipeline: later steps never run, the error says where', async () => {
    const research = await bot('Researcher');
    const broken = await bot('Broken-Writer', { model: 'openai:gpt-4.1-mini' });
    const publisher = await bot('Publisher');
    const p = (await t.api('POST', '/api/pipelines', { name: 'Fragile', steps: [research.id, broken.id, publisher.id] })).body;

    fake.enqueue({ kind: 'error', status: 401, message: 'Incorrect API key provided' });
    await t.api('POST', `/api/pipelines/${p.id}/run`, { input: 'x' });
    await expect.poll(async () => (await latestRun(p.id)).status, { timeout: 15_000 }).toBe('failed');
    const pr = await latestRun(p.id);
    expect(pr.steps.map((s: any) => s.status)).toEqual(['completed', 'failed', 'pending']);
    expect(pr).toMatchObject({ progress: '1/3', completed_steps: 1 });
    expect(pr.error).toMatch(/^step 2\/3 \(🤖 Broken-Writer\) failed: openai: 401 Incorrect API key provided/);
    expect(await runsOf(publisher.id)).toHaveLength(0);
    const failed = (await feed()).find((e) => e.kind === 'pipeline.failed');
    expect(failed).toMatchObject({ level: 'error' });
    expect(failed.message).toBe(`🧩 Fragile: pipeline run #${pr.id} failed at step 2/3 (🤖 Broken-Writer) — later steps did not run`);
  });

  it('cancelling a pipeline run cancels its current step', async () => {
    const slow = await bot('Slow-Step', { model: 'openai:gpt-4.1-mini' });
    const after = await bot('After-Step');
    const p = (await t.api('POST', '/api/pipelines', { name: 'Cancellable', steps: [slow.id, after.id] })).body;
    fake.enqueue({ kind: 'hang' });
    const pr = (await t.api('POST', `/api/pipelines/${p.id}/run`, {})).body;
    await expect.poll(async () => (await latestRun(p.id)).steps[0].status, { timeout: 10_000 }).toBe('running');

    const cancelled = await t.api('POST', `/api/pipeline-runs/${pr.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'cancelled', progress: '0/2' });
    expect(cancelled.body.steps.map((s: any) => s.status)).toEqual(['cancelled', 'pending']);
    expect(await runsOf(after.id)).toHaveLength(0);
    const again = await t.api('POST', `/api/pipeline-runs/${pr.id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('PIPELINE_RUN_NOT_ACTIVE');
    expect((await feed()).some((e) => e.kind === 'pipeline.cancelled' && e.message.includes(`pipeline run #${pr.id} cancelled at step 1`))).toBe(true);
  });

  it('a pipeline can have a schedule; its runs are triggered "schedule" and it fires once per occurrence', async () => {
    const a = await bot('Sched-A');
    const p = (await t.api('POST', '/api/pipelines', { name: 'Nightly', steps: [a.id], schedule: '* * * * * *' })).body;
    expect(Date.parse(p.next_run_at) - Date.now()).toBeLessThanOrEqual(1000);
    await expect.poll(async () => (await latestRun(p.id))?.status, { timeout: 10_000 }).toBe('completed');
    expect((await latestRun(p.id)).trigger).toBe('schedule');
    const off = (await t.api('PUT', `/api/pipelines/${p.id}`, { schedule: null })).body;
    expect(off).toMatchObject({ schedule: null, next_run_at: null });
    const runs = (await t.api('GET', `/api/pipelines/${p.id}/runs`)).body as any[];
    const fired = (await feed()).filter((e) => e.kind === 'schedule.fired' && e.message.startsWith('⏰ 🧩 Nightly'));
    expect(fired).toHaveLength(runs.length);
  });

  it('is validated, readable, editable and deletable', async () => {
    const one = await bot('Val-One');
    const two = await bot('Val-Two');
    const missing = await t.api('POST', '/api/pipelines', { name: 'Nope', steps: ['Val-One', 'Nobody'] });
    expect(missing.status).toBe(404);
    expect(missing.body.error).toMatchObject({ code: 'BOT_NOT_FOUND', message: 'No bot named "Nobody".' });
    const empty = await t.api('POST', '/api/pipelines', { name: 'Empty', steps: [] });
    expect(empty.status).toBe(400);
    expect(empty.body.error).toMatchObject({ code: 'VALIDATION_FAILED', message: 'steps needs at least one bot' });
    const badSchedule = await t.api('POST', '/api/pipelines', { name: 'Bad', steps: [one.id], schedule: 'whenever' });
    expect(badSchedule.body.error.code).toBe('VALIDATION_FAILED');

    const p = (await t.api('POST', '/api/pipelines', { name: 'Editable', steps: [one.id] })).body;
    expect((await t.api('POST', '/api/pipelines', { name: 'EDITABLE', steps: [one.id] })).body.error.code).toBe('PIPELINE_NAME_TAKEN');
    const edited = (await t.api('PUT', `/api/pipelines/${p.id}`, { steps: ['Val-One', 'Val-Two'], schedule: 'every 2h' })).body;
    expect(edited.steps.map((s: any) => s.bot_id)).toEqual([one.id, two.id]);
    expect(edited.schedule).toBe('0 */2 * * *');
    expect(new Date(edited.next_run_at).getMinutes()).toBe(0);
    expect((await t.api('GET', '/api/pipelines')).body.map((x: any) => x.name)).toContain('Editable');

    // A step whose bot was deleted: the pipeline says so, and refuses to run until it is fixed.
    await t.api('DELETE', `/api/bots/${two.id}`);
    const broken = (await t.api('GET', `/api/pipelines/${p.id}`)).body;
    expect(broken).toMatchObject({ broken: true });
    expect(broken.steps[1]).toMatchObject({ bot_id: two.id, name: null, broken: true });
    const run = await t.api('POST', `/api/pipelines/${p.id}/run`, {});
    expect(run.status).toBe(409);
    expect(run.body.error).toMatchObject({ code: 'PIPELINE_BROKEN', message: `Step 2 of Editable uses bot #${two.id}, which was deleted: pick another bot for that step or remove it, then run the pipeline again.` });
    expect((await t.api('GET', `/api/pipelines/${p.id}/runs`)).body).toEqual([]);
    // Fixed by sending back the steps it showed, with the broken one pointed at another bot.
    const fixed = await t.api('PUT', `/api/pipelines/${p.id}`, { steps: broken.steps.map((s: any) => (s.broken ? { ...s, bot_id: one.id } : s)) });
    expect(fixed.body).toMatchObject({ broken: false, steps: [{ bot_id: one.id }, { bot_id: one.id, broken: false }] });
    expect((await t.api('POST', `/api/pipelines/${p.id}/run`, {})).status).toBe(202);

    expect((await t.api('DELETE', `/api/pipelines/${p.id}`)).status).toBe(204);
    expect((await t.api('GET', `/api/pipelines/${p.id}`)).body.error.code).toBe('PIPELINE_NOT_FOUND');
    expect((await t.api('GET', '/api/pipelines/abc/runs')).body.error.code).toBe('PIPELINE_NOT_FOUND');
    expect((await t.api('POST', '/api/pipeline-runs/999999/cancel')).body.error.code).toBe('PIPELINE_RUN_NOT_FOUND');
  });
});
