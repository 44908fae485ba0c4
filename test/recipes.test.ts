import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.ts';

// Seed 002's recipes: "I want a blog article → click Start". Ready recipes create their bots and
// pipeline in one call; a recipe or a user's own pipeline is one JSON file that imports again on
// another instance and runs there unchanged. Results export as Markdown and HTML.

describe('the recipe library, recipe files and exports', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    [a, b] = await Promise.all([startTestApp(), startTestApp()]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  const finished = async (t: TestApp, pipelineRunId: number) => {
    await expect.poll(async () => (await t.api('GET', `/api/pipeline-runs/${pipelineRunId}`)).body.status, { timeout: 20_000 }).not.toBe('running');
    return (await t.api('GET', `/api/pipeline-runs/${pipelineRunId}`)).body;
  };

  it('lists four recipes; one call creates each with its bots, pipeline and connections', async () => {
    const list = (await a.api('GET', '/api/recipes')).body;
    expect(list.map((r: any) => r.name)).toEqual(['Blog article', 'Answer an e-mail', 'Dev + Test', 'Daily research → newsletter draft']);
    for (const r of list) expect(r.description.length).toBeGreaterThan(20);

    const blog = await a.api('POST', '/api/recipes/blog-article/create');
    expect(blog.status).toBe(201);
    expect(blog.body.bots.map((x: any) => x.name)).toEqual(['Researcher', 'Writer', 'SEO-Editor']);
    expect(blog.body.pipeline.steps.map((s: any) => s.name)).toEqual(['Researcher', 'Writer', 'SEO-Editor']);

    const mail = (await a.api('POST', '/api/recipes/answer-email/create')).body;
    expect(mail.pipeline).toMatchObject({ name: 'Answer an e-mail' });
    expect(mail.pipeline.steps.map((s: any) => [s.name, s.requires_approval])).toEqual([
      ['Mail-Reader', false],
      ['Reply-Draft', true],
    ]);

    const dev = (await a.api('POST', '/api/recipes/dev-test/create')).body;
    expect(dev.pipeline).toBeNull();
    expect(dev.connections.map((c: any) => c.label)).toEqual(['Dev-Bot —completed→ Test-Bot']);
    expect(dev.start_bot_id).toBe(dev.bots[0].id);
    expect((await a.api('GET', `/api/bots/${dev.bots[0].id}/docs`)).body.map((d: any) => d.name)).toEqual(['spec.md']);

    const daily = (await a.api('POST', '/api/recipes/daily-newsletter/create')).body;
    expect(daily.pipeline).toMatchObject({ name: 'Daily newsletter', schedule: '0 7 * * *' });
    expect(daily.pipeline.steps[0]).toMatchObject({ input_source: 'doc', input_doc: 'topics.md' });
    expect(daily.pipeline.steps[1]).toMatchObject({ output_target: 'doc', output_doc: 'newsletter.md', requires_approval: true });

    // Again: the names are taken, so the new ones are numbered and the notes say so.
    const twice = (await a.api('POST', '/api/recipes/blog-article/create')).body;
    expect(twice.bots.map((x: any) => x.name)).toEqual(['Researcher 2', 'Writer 2', 'SEO-Editor 2']);
    expect(twice.pipeline.name).toBe('Blog article 2');
    expect(twice.notes).toContain('A bot named "Researcher" already exists; this one is "Researcher 2".');
    expect((await a.api('POST', '/api/recipes/nope/create')).body.error.code).toBe('RECIPE_NOT_FOUND');
  });

  it('a pipeline exported from one instance imports into a fresh one and runs there unchanged; no secrets travel', async () => {
    const mk = async (name: string, extra: Record<string, unknown> = {}) => (await a.api('POST', '/api/bots', { name, prompt: `You are ${name}. Be brief.`, ...extra })).body;
    const scout = await mk('Export-Scout', { emoji: '🛒', tools: ['web_fetch'], notify: { webhook: { url: 'https://hooks.example.com/x', secret: 'super-secret-value' }, email: { to: 'me@example.com' } } });
    const writer = await mk('Export-Writer', { requires_approval: false, retries: 1 });
    await a.api('POST', `/api/bots/${scout.id}/docs`, { name: 'brief.md', content: 'Find cheap sneakers.' });
    const p = (
      await a.api('POST', '/api/pipelines', {
        name: 'Export-Flow',
        description: 'scout then write',
        steps: [
          { bot_id: scout.id, input_source: 'doc', input_doc: 'brief.md' },
          { bot_id: writer.id, output_target: 'results' },
        ],
      })
    ).body;
    await a.api('POST', '/api/triggers', { source_bot: scout.id, event: 'completed', target_bot: writer.id });
    await a.api('POST', '/api/triggers', { source_bot: writer.id, event: 'result', target_pipeline: p.id });

    const file = await a.api('GET', `/api/pipelines/${p.id}/export`);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-disposition')).toBe('attachment; filename="export-flow.recipe.json"');
    const text = JSON.stringify(file.body);
    expect(text).not.toContain('super-secret-value');
    expect(text).not.toContain('hooks.example.com');
    expect(text).not.toContain('me@example.com');
    expect(file.body).toMatchObject({
      format: 'openorchestrator/recipe',
      version: 1,
      name: 'Export-Flow',
      bots: [
        { ref: 'export-scout', name: 'Export-Scout', emoji: '🛒', tools: ['web_fetch'], docs: [{ name: 'brief.md', content: 'Find cheap sneakers.' }] },
        { ref: 'export-writer', name: 'Export-Writer', retries: 1 },
      ],
      connections: [
        { source: 'export-scout', event: 'completed', target: 'export-writer' },
        { source: 'export-writer', event: 'result', target_pipeline: true },
      ],
    });

    const runA = await finished(a, (await a.api('POST', `/api/pipelines/${p.id}/run`, { input: 'x' })).body.id);
    expect(runA.status).toBe('completed');

    const imported = await b.api('POST', '/api/recipes/import', file.body);
    expect(imported.status).toBe(201);
    expect(imported.body.notes).toEqual([]);
    expect(imported.body.connections.map((c: any) => c.label)).toEqual(['Export-Scout —completed→ Export-Writer', 'Export-Writer —result→ pipeline Export-Flow']);
    const pb = imported.body.pipeline;
    expect(pb.steps.map(({ bot_id, index, ...s }: any) => s)).toEqual(p.steps.map(({ bot_id, index, ...s }: any) => s));
    const runB = await finished(b, (await b.api('POST', `/api/pipelines/${pb.id}/run`, { input: 'x' })).body.id);
    expect(runB.status).toBe('completed');
    expect(runB.steps.map((s: any) => s.output)).toEqual(runA.steps.map((s: any) => s.output));
    expect(runB.steps[0].output).toBe('Prompt: You are Export-Scout. Be brief.\nInput: Find cheap sneakers.');
  });

  it('refuses a file that is not a recipe, naming what is wrong', async () => {
    const notRecipe = await b.api('POST', '/api/recipes/import', { name: 'x', bots: [] });
    expect(notRecipe.status).toBe(400);
    expect(notRecipe.body.error.message).toContain('format must be "openorchestrator/recipe"');
    const badRef = await b.api('POST', '/api/recipes/import', {
      format: 'openorchestrator/recipe',
      version: 1,
      name: 'Bad',
      bots: [{ ref: 'one', name: 'One', prompt: 'p' }],
      pipeline: { name: 'Bad', steps: [{ bot: 'two' }] },
    });
    expect(badRef.status).toBe(400);
    expect(badRef.body.error.message).toContain('no bot with ref "two" in this recipe');
    const badDoc = await b.api('POST', '/api/recipes/import', {
      format: 'openorchestrator/recipe',
      version: 1,
      name: 'Bad',
      bots: [{ ref: 'one', name: 'Bad-Doc-Bot', prompt: 'p' }],
      pipeline: { name: 'Bad-Doc', steps: [{ bot: 'one', input_source: 'doc' }] },
    });
    expect(badDoc.status).toBe(400);
    expect(badDoc.body.error.message).toContain('input_doc is required');
    // Nothing was made.
    expect((await b.api('GET', '/api/bots')).body.map((x: any) => x.name)).not.toContain('Bad-Doc-Bot');
    expect((await b.api('POST', '/api/recipes/import', 'not json', { 'content-type': 'application/json' })).status).toBe(400);
  });

  it("exports a bot's and a pipeline's results as Markdown and HTML", async () => {
    const bot = (await a.api('POST', '/api/bots', { name: 'Exporter', emoji: '📰', prompt: 'Hello <script>alert(1)</script>' })).body;
    const run = (await a.api('POST', `/api/bots/${bot.id}/run`, { input: 'issue 1' })).body;
    await a.waitForRun(run.id);
    const md = await a.api('GET', `/api/bots/${bot.id}/results/export?format=md`);
    expect(md.status).toBe(200);
    expect(md.headers.get('content-type')).toBe('text/markdown; charset=utf-8');
    expect(md.headers.get('content-disposition')).toBe('attachment; filename="exporter-results.md"');
    expect(md.body).toMatch(/^# 📰 Exporter — results\n/);
    expect(md.body).toContain('## Prompt: Hello <script>alert(1)</script>');
    expect(md.body).toContain('Input: issue 1');
    const html = await a.api('GET', `/api/bots/${bot.id}/results/export?format=html`);
    expect(html.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(html.body).toContain('<h1>📰 Exporter — results</h1>');
    expect(html.body).not.toContain('<script>');
    expect(html.body).toContain('&#60;script&#62;');
    expect((await a.api('GET', `/api/bots/${bot.id}/results/export?format=pdf`)).body.error.code).toBe('VALIDATION_FAILED');

    const flow = (await a.api('GET', '/api/pipelines')).body.find((p: any) => p.name === 'Export-Flow');
    const pmd = await a.api('GET', `/api/pipelines/${flow.id}/results/export?format=md`);
    expect(pmd.body).toMatch(/^# Export-Flow — results\n/);
    expect(pmd.body).toMatch(/## Export-Flow — run #\d+/);
    expect(pmd.body).toContain('Prompt: You are Export-Writer. Be brief.');
    const phtml = await a.api('GET', `/api/pipelines/${flow.id}/results/export?format=html`);
    expect(phtml.body).toContain('<h1>Export-Flow — results</h1>');
  });
});
