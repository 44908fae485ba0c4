import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.ts';

// Seed 002's steps: `{bot_id, input_source, output_target}`. Each step says where its input comes
// from (the previous step, the pipeline run's input, fixed text, a document of its bot) and where
// its output goes (the next step, its bot's results, a document). A connection can run a pipeline.

describe('pipeline steps people can shape', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  const bot = async (name: string, extra: Record<string, unknown> = {}) => (await t.api('POST', '/api/bots', { name, prompt: `I am ${name}`, ...extra })).body;
  const finished = async (pipelineRunId: number) => {
    await expect.poll(async () => (await t.api('GET', `/api/pipeline-runs/${pipelineRunId}`)).body.status, { timeout: 20_000 }).not.toBe('running');
    return (await t.api('GET', `/api/pipeline-runs/${pipelineRunId}`)).body;
  };
  const inputOf = async (runId: number) => (await t.api('GET', `/api/runs/${runId}`)).body.input;

  it("accepts the seed's own shape and the shape it returns; still accepts [1, 2]", async () => {
    const a = await bot('Shape-A');
    const b = await bot('Shape-B');
    const seed = await t.api('POST', '/api/pipelines', { name: 'Seed-Shape', steps: [{ bot_id: a.id }, { bot_id: b.id, input_source: 'previous', output_target: 'results' }] });
    expect(seed.status).toBe(201);
    expect(seed.body.steps).toEqual([
      { index: 0, bot_id: a.id, input_source: 'previous', input_text: null, input_doc: null, output_target: 'next', output_doc: null, requires_approval: false, name: 'Shape-A', emoji: '🤖', broken: false },
      { index: 1, bot_id: b.id, input_source: 'previous', input_text: null, input_doc: null, output_target: 'results', output_doc: null, requires_approval: false, name: 'Shape-B', emoji: '🤖', broken: false },
    ]);
    const again = await t.api('POST', '/api/pipelines', { ...seed.body, name: 'Seed-Shape-2' });
    expect(again.status).toBe(201);
    expect(again.body.steps).toEqual(seed.body.steps);
    const ids = await t.api('POST', '/api/pipelines', { name: 'Plain-Ids', steps: [a.id, b.id] });
    expect(ids.body.steps.map((s: any) => [s.bot_id, s.input_source, s.output_target])).toEqual([
      [a.id, 'previous', 'next'],
      [b.id, 'previous', 'next'],
    ]);

    const bad = async (step: unknown) => (await t.api('POST', '/api/pipelines', { name: 'Bad-Step', steps: [step] })).body.error;
    expect(await bad({ bot_id: a.id, input_source: 'text' })).toMatchObject({ code: 'VALIDATION_FAILED', message: 'steps.0.input_text: input_text is required when input_source is text' });
    expect(await bad({ bot_id: a.id, input_source: 'doc', input_doc: '../etc/passwd' })).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(await bad({ bot_id: a.id, output_target: 'doc' })).toMatchObject({ message: 'steps.0.output_doc: output_doc is required when output_target is doc' });
    expect(await bad({ bot_id: a.id, input_source: 'email' })).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(await bad({ bot_id: 'Nobody' })).toMatchObject({ code: 'BOT_NOT_FOUND' });
    expect(await bad({})).toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('a step reads a doc file, fixed text or the run input; output goes to results or into a doc', async () => {
    const reader = await bot('Doc-Reader');
    const writer = await bot('Doc-Writer');
    const fixed = await bot('Fixed-Text');
    const again = await bot('Run-Input');
    await t.api('POST', `/api/bots/${reader.id}/docs`, { name: 'briefs/today.md', content: 'Write about otters.' });
    const p = (
      await t.api('POST', '/api/pipelines', {
        name: 'Doc-Flow',
        steps: [
          { bot_id: reader.id, input_source: 'doc', input_doc: 'briefs/today.md' },
          { bot_id: writer.id, output_target: 'doc', output_doc: 'draft.md' },
          { bot_id: fixed.id, input_source: 'text', input_text: 'Say hello.', output_target: 'results' },
          { bot_id: again.id, input_source: 'pipeline_input' },
        ],
      })
    ).body;
    const pr = await finished((await t.api('POST', `/api/pipelines/${p.id}/run`, { input: 'the run input' })).body.id);
    expect(pr.status).toBe('completed');
    const [s1, s2, s3, s4] = pr.steps;
    expect(await inputOf(s1.run_id)).toBe('Write about otters.');
    expect(s1.output).toBe('Prompt: I am Doc-Reader\nInput: Write about otters.');
    expect(await inputOf(s2.run_id)).toBe(s1.output);
    const draft = await t.api('GET', `/api/bots/${writer.id}/docs/draft.md`);
    expect(draft.body).toBe(s2.output);
    expect(await inputOf(s3.run_id)).toBe('Say hello.');
    expect((await t.api('GET', `/api/bots/${fixed.id}/results`)).body.map((r: any) => r.content)).toEqual([s3.output]);
    expect(await inputOf(s4.run_id)).toBe('the run input');
    expect(pr.output).toBe(s4.output);

    // A missing input document fails the pipeline run with a sentence that says what to do.
    expect((await t.api('DELETE', `/api/bots/${reader.id}/docs/${encodeURIComponent('briefs/today.md')}`)).status).toBe(204);
    const missing = await t.api('POST', `/api/pipelines/${p.id}/run`, {});
    expect(missing.status).toBe(404);
    expect(missing.body.error).toMatchObject({ code: 'DOC_NOT_FOUND', message: 'Doc-Reader has no document "briefs/today.md" to read as its input; upload it on the bot\'s page or change the step.' });
    expect((await t.api('GET', `/api/pipelines/${p.id}/runs`)).body[0]).toMatchObject({ status: 'failed', error: expect.stringContaining('step 1/4 could not start') });
  });

  it('a connection runs a pipeline: "when eBay-Scout finds a result, run Blog"', async () => {
    const scout = await bot('eBay-Scout', { emoji: '🛒' });
    const research = await bot('Research');
    const write = await bot('Write');
    const blog = (await t.api('POST', '/api/pipelines', { name: 'Blog', steps: [research.id, write.id] })).body;
    const link = await t.api('POST', '/api/triggers', { source_bot: 'eBay-Scout', event: 'result', target_pipeline: 'blog' });
    expect(link.status).toBe(201);
    expect(link.body).toMatchObject({ target_kind: 'pipeline', target_pipeline_id: blog.id, target_bot_id: null, target_pipeline: { id: blog.id, name: 'Blog' }, label: 'eBay-Scout —result→ pipeline Blog' });
    expect((await t.api('POST', '/api/triggers', { source_bot: scout.id, event: 'result', target_pipeline: blog.id })).body.error.code).toBe('TRIGGER_EXISTS');
    expect((await t.api('POST', '/api/triggers', { source_bot: scout.id, event: 'result', target_pipeline: 'Nope' })).body.error.code).toBe('PIPELINE_NOT_FOUND');
    expect((await t.api('POST', '/api/triggers', { source_bot: scout.id, event: 'result', target_bot: research.id, target_pipeline: blog.id })).body.error.code).toBe('VALIDATION_FAILED');

    const run = (await t.api('POST', `/api/bots/${scout.id}/run`, { input: 'Nike Air Max 45 €' })).body;
    await t.waitForRun(run.id);
    await expect.poll(async () => (await t.api('GET', `/api/pipelines/${blog.id}/runs`)).body.length, { timeout: 10_000 }).toBe(1);
    const pr = (await t.api('GET', `/api/pipelines/${blog.id}/runs`)).body[0];
    expect(pr).toMatchObject({ trigger: 'trigger:eBay-Scout', input: (await t.api('GET', `/api/runs/${run.id}`)).body.output });
    expect((await finished(pr.id)).status).toBe('completed');

    // Deleting the pipeline removes the connection that ran it.
    expect((await t.api('DELETE', `/api/pipelines/${blog.id}`)).status).toBe(204);
    expect((await t.api('GET', `/api/triggers/${link.body.id}`)).body.error.code).toBe('TRIGGER_NOT_FOUND');
  });
});
