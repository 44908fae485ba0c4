import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openPage } from './helpers/browser.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

// A person uses the recipe library, the approvals inbox and a pipeline's page in a real browser:
// the Answer-an-e-mail recipe in one click, its reply waiting under the bell, Edit + Approve, a
// second run rejected; a pipeline reordered by drag and drop and by the keyboard; a step reading
// a file of its bot's documents; a broken step fixed.
describe('recipes, approvals and pipeline pages in headless Chromium', () => {
  let t: TestApp;
  let browser: Browser;
  const pages: Page[] = [];
  beforeAll(async () => {
    t = await startTestApp();
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });
  const open = (path: string) => openPage(browser, t.url + path, pages);
  const pipelineRuns = async (id: number) => (await t.api('GET', `/api/pipelines/${id}/runs`)).body as any[];

  it('Answer an e-mail: one click, a run with an input, the reply waits under the bell; Edit + Approve; a second run rejected', async () => {
    const { page, errors } = await open('/recipes');
    await page.getByRole('button', { name: 'Use the recipe Answer an e-mail' }).click();
    await page.waitForURL(/\/pipelines\/\d+$/);
    expect(await page.locator('h1').textContent()).toBe('Answer an e-mail');
    const pipelineId = Number(new URL(page.url()).pathname.split('/').pop());
    expect(await page.locator('.step-row').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.bot))).toEqual(['Mail-Reader', 'Reply-Draft']);
    // Something downstream of the draft: a third step that sends what was approved.
    const sender = (await t.api('POST', '/api/bots', { name: 'Send-Out', emoji: '📤', prompt: 'Send this reply.' })).body;
    await page.reload();
    await page.getByLabel('Bot to add').selectOption(String(sender.id));
    await page.getByRole('button', { name: '+ Add step' }).click();
    await expect.poll(() => page.locator('.step-row').count()).toBe(3);
    expect(await page.locator('#pipeline-steps [role=status]').textContent()).toBe('Send-Out added as step 3.');

    const bell = page.locator('#approvals-bell');
    expect((await bell.locator('.bell-count').textContent())!.trim()).toBe('0');
    await page.getByLabel('Pipeline input').fill('Hi, where is my order 4711? — Ann');
    await page.getByRole('button', { name: '▶ Run pipeline' }).click();
    // The reply waits under the bell, and the history says so.
    await expect.poll(async () => (await bell.locator('.bell-count').textContent())!.trim(), { timeout: 15_000 }).toBe('1');
    expect(await bell.getAttribute('aria-label')).toBe('Approvals: 1 waiting');
    await expect.poll(() => page.locator('.history-run').first().locator('.history-step').evaluateAll((li) => li.map((l) => (l as HTMLElement).dataset.status)), { timeout: 10_000 }).toEqual([
      'completed',
      'awaiting_approval',
      'pending',
    ]);
    expect(await page.locator('.history-run').first().locator('.step-state').allTextContents()).toEqual(['done', 'awaiting approval', 'waiting']);
    expect(await page.locator('.history-run').first().locator('.glyph').allTextContents()).toEqual(['✓', '‖', '○']);

    await bell.click();
    await page.waitForURL(/\/approvals$/);
    const draft = page.locator('.draft');
    await expect.poll(() => draft.count()).toBe(1);
    expect(await draft.locator('h3').textContent()).toContain('Reply-Draft');
    expect(await draft.textContent()).toContain('pipeline Answer an e-mail, step 2/3');
    const textarea = draft.getByLabel('Draft text');
    expect(await textarea.inputValue()).toMatch(/^Prompt: You get a summary of an e-mail\./);
    expect(await textarea.getAttribute('readonly')).not.toBeNull();
    await draft.getByRole('button', { name: '✎ Edit' }).click();
    await textarea.fill('Dear Ann,\nyour order 4711 ships today.\nBest, Support');
    await draft.getByRole('button', { name: '✓ Approve' }).click();
    await expect.poll(() => page.locator('#approval-inbox [role=status]').textContent()).toMatch(/^Approved run #\d+ of Reply-Draft with your edit\.$/);
    expect(await page.locator('.draft').count()).toBe(0);
    await expect.poll(async () => (await page.locator('#approvals-bell .bell-count').textContent())!.trim()).toBe('0');
    const row = page.locator('table.decisions tbody tr').first();
    expect(await row.locator('.decision').textContent()).toBe('✓ approved');
    expect(await row.textContent()).toContain('dashboard');
    expect(await row.textContent()).toContain('edited before approval');

    // The edited text is the result; the pipeline completes, and the next step got the approved text.
    await expect.poll(async () => (await pipelineRuns(pipelineId))[0].status, { timeout: 15_000 }).toBe('completed');
    const replyBot = (await t.engine.bots.findByName('Reply-Draft'))!;
    expect((await t.engine.results.list(replyBot.id)).map((r) => r.content)).toEqual(['Dear Ann,\nyour order 4711 ships today.\nBest, Support']);
    const first = (await pipelineRuns(pipelineId))[0];
    expect((await t.api('GET', `/api/runs/${first.steps[2].run_id}`)).body.input).toBe('Dear Ann,\nyour order 4711 ships today.\nBest, Support');
    const approval = (await t.api('GET', '/api/approvals?status=decided')).body[0];
    expect(approval).toMatchObject({ status: 'approved', decided_by: 'dashboard', edited: true, final_text: 'Dear Ann,\nyour order 4711 ships today.\nBest, Support' });

    // A second run, rejected: it ends `rejected` and nothing after it runs.
    await page.goto(`${t.url}/pipelines/${pipelineId}`);
    await page.getByLabel('Pipeline input').fill('Please cancel everything!!!');
    await page.getByRole('button', { name: '▶ Run pipeline' }).click();
    await expect.poll(async () => (await page.locator('#approvals-bell .bell-count').textContent())!.trim(), { timeout: 15_000 }).toBe('1');
    await page.locator('#approvals-bell').click();
    await page.waitForURL(/\/approvals$/);
    await page.locator('.draft').getByLabel('Reason for rejecting').fill('Needs a human call instead');
    await page.locator('.draft').getByRole('button', { name: '⊘ Reject' }).click();
    await expect.poll(() => page.locator('#approval-inbox [role=status]').textContent()).toMatch(/^Rejected run #\d+ of Reply-Draft\.$/);
    expect(await page.locator('table.decisions tbody tr').first().textContent()).toContain('Needs a human call instead');
    await expect.poll(async () => (await pipelineRuns(pipelineId))[0].status, { timeout: 10_000 }).toBe('rejected');
    const second = (await pipelineRuns(pipelineId))[0];
    expect(second.steps.map((s: any) => s.status)).toEqual(['completed', 'rejected', 'pending']);
    expect((await t.api('GET', `/api/runs/${second.steps[1].run_id}`)).body).toMatchObject({ status: 'rejected', error: 'rejected by dashboard: Needs a human call instead' });
    await t.engine.bus.flush();
    expect((await t.api('GET', `/api/bots/${sender.id}/runs`)).body).toHaveLength(1);
    expect(await t.engine.results.list(replyBot.id)).toHaveLength(1);

    await page.goto(`${t.url}/pipelines/${pipelineId}`);
    expect(await page.locator('.history-run').first().locator('.run-status').textContent()).toContain('Rejected');
    expect(await page.locator('.history-run').first().locator('.glyph').allTextContents()).toEqual(['✓', '⊘', '○']);
    // The Result view shows the last completed output.
    await page.getByRole('link', { name: '▤ Result' }).click();
    expect(await page.locator('.result-raw').textContent()).toBe(first.output);
    expect(errors).toEqual([]);
  });

  it('a pipeline reordered by drag and drop runs in the new order; the keyboard reorders too; a step reads a doc file', async () => {
    const mk = async (name: string) => (await t.api('POST', '/api/bots', { name, prompt: `I am ${name}` })).body;
    const [alpha, beta, gamma] = [await mk('Alpha'), await mk('Beta'), await mk('Gamma')];
    await t.api('POST', `/api/bots/${gamma.id}/docs`, { name: 'brief.md', content: 'Brief from the file.' });
    const p = (await t.api('POST', '/api/pipelines', { name: 'Reorder-Me', steps: [alpha.id, beta.id, gamma.id] })).body;
    const { page, errors } = await open(`/pipelines/${p.id}`);
    const order = () => page.locator('.step-row').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.bot));
    expect(await order()).toEqual(['Alpha', 'Beta', 'Gamma']);

    // Drag Gamma's handle above Alpha.
    await page.locator('#pipeline-steps').scrollIntoViewIfNeeded();
    const from = await page.locator('.step-row').nth(2).locator('.drag-handle').boundingBox();
    const to = await page.locator('.step-row').nth(0).boundingBox();
    await page.mouse.move(from!.x + from!.width / 2, from!.y + from!.height / 2);
    await page.mouse.down();
    await page.mouse.move(from!.x + 5, from!.y - 20, { steps: 5 });
    await page.mouse.move(to!.x + 20, to!.y + 5, { steps: 15 });
    await page.mouse.up();
    await expect.poll(order).toEqual(['Gamma', 'Alpha', 'Beta']);
    await expect.poll(() => page.locator('#pipeline-steps [role=status]').textContent()).toBe('Steps saved.');
    expect((await t.api('GET', `/api/pipelines/${p.id}`)).body.steps.map((s: any) => s.name)).toEqual(['Gamma', 'Alpha', 'Beta']);

    // Gamma (now first) reads its brief.md.
    await page.getByLabel('Input of step 1').selectOption('doc');
    await page.getByLabel('Input file of step 1').fill('brief.md');
    await page.getByRole('button', { name: 'Save steps' }).click();
    await expect.poll(async () => (await t.api('GET', `/api/pipelines/${p.id}`)).body.steps[0]).toMatchObject({ bot_id: gamma.id, input_source: 'doc', input_doc: 'brief.md' });

    await page.getByLabel('Pipeline input').fill('ignored by step 1');
    await page.getByRole('button', { name: '▶ Run pipeline' }).click();
    await expect.poll(async () => (await pipelineRuns(p.id))[0]?.status, { timeout: 20_000 }).toBe('completed');
    const run = (await pipelineRuns(p.id))[0];
    expect(run.steps.map((s: any) => s.bot_name)).toEqual(['Gamma', 'Alpha', 'Beta']);
    const runIds = run.steps.map((s: any) => s.run_id);
    expect([...runIds].sort((x: number, y: number) => x - y)).toEqual(runIds); // ran in that order
    const r1 = (await t.api('GET', `/api/runs/${runIds[0]}`)).body;
    expect(r1).toMatchObject({ bot_id: gamma.id, input: 'Brief from the file.' });
    expect((await t.api('GET', `/api/runs/${runIds[1]}`)).body.input).toBe(r1.output);
    await expect.poll(() => page.locator('.history-run').first().locator('.glyph').allTextContents()).toEqual(['✓', '✓', '✓']);

    // The keyboard: focus Alpha's handle (step 2) and press ↓; it moves to place 3 and keeps focus.
    await page.getByRole('button', { name: /^Move step 2 \(Alpha\)/ }).focus();
    await page.keyboard.press('ArrowDown');
    await expect.poll(order).toEqual(['Gamma', 'Beta', 'Alpha']);
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toMatch(/^Move step 3 \(Alpha\)/);
    await page.keyboard.press('ArrowUp');
    await expect.poll(order).toEqual(['Gamma', 'Alpha', 'Beta']);
    expect((await t.api('GET', `/api/pipelines/${p.id}`)).body.steps.map((s: any) => s.name)).toEqual(['Gamma', 'Alpha', 'Beta']);
    expect(errors).toEqual([]);
  });

  it('a step whose bot was deleted shows as broken and blocks running until it is fixed; rename; a connection can run the pipeline', async () => {
    const mk = async (name: string) => (await t.api('POST', '/api/bots', { name, prompt: `I am ${name}` })).body;
    const keep = await mk('Keeper');
    const gone = await mk('Goner');
    const p = (await t.api('POST', '/api/pipelines', { name: 'Fix-Me', steps: [keep.id, gone.id] })).body;
    await t.api('DELETE', `/api/bots/${gone.id}`);
    const { page, errors } = await open(`/pipelines/${p.id}`);
    expect(await page.locator('.step-row.broken').count()).toBe(1);
    expect(await page.locator('.broken-note').textContent()).toContain('Broken: its bot');
    expect(await page.getByRole('button', { name: '▶ Run pipeline' }).isDisabled()).toBe(true);
    const refused = await t.api('POST', `/api/pipelines/${p.id}/run`, {});
    expect(refused.body.error.code).toBe('PIPELINE_BROKEN');

    await page.getByLabel('Bot of step 2').selectOption(String(keep.id));
    await page.getByRole('button', { name: 'Save steps' }).click();
    await expect.poll(() => page.locator('.step-row.broken').count()).toBe(0);
    await page.reload();
    expect(await page.getByRole('button', { name: '▶ Run pipeline' }).isDisabled()).toBe(false);

    await page.getByLabel('Pipeline name').fill('Fixed');
    await page.getByRole('button', { name: 'Rename' }).click();
    await expect.poll(() => page.locator('h1').textContent()).toBe('Fixed');

    // On the dashboard: "when Keeper completes, run the pipeline Fixed".
    const scout = await mk('Starter');
    const dash = await open('/');
    const panel = dash.page.locator('#connections');
    await expect.poll(() => panel.getByRole('button', { name: 'Connect' }).count()).toBe(1);
    await panel.getByLabel('Source bot').selectOption(String(scout.id));
    await panel.getByLabel('Event').selectOption('completed');
    await panel.getByLabel('Target bot').selectOption(`p:${p.id}`);
    await panel.getByRole('button', { name: 'Connect' }).click();
    await expect.poll(() => panel.locator('.connection-label').last().textContent()).toContain('pipeline Fixed');
    const run = (await t.api('POST', `/api/bots/${scout.id}/run`, { input: 'go' })).body;
    await t.waitForRun(run.id);
    await expect.poll(async () => (await pipelineRuns(p.id))[0]?.trigger, { timeout: 10_000 }).toBe('trigger:Starter');
    expect(errors).toEqual([]);
    expect(dash.errors).toEqual([]);
  });

  it("the dashboard's bell follows drafts over its live stream, without polling", async () => {
    const bot = (await t.api('POST', '/api/bots', { name: 'Bell-Bot', prompt: 'draft', requires_approval: true })).body;
    const { page, errors } = await open('/');
    const count = () => page.locator('#approvals-bell .bell-count').textContent().then((s) => Number(s!.trim()));
    await expect.poll(count).toBe(await t.engine.approvals.pendingCount());
    const before = await count();
    const bellRequests: string[] = [];
    page.on('request', (r) => r.url().includes('/partials/approvals-bell') && bellRequests.push(r.url()));
    const run = (await t.api('POST', `/api/bots/${bot.id}/run`, { input: 'x' })).body;
    await expect.poll(count, { timeout: 15_000 }).toBe(before + 1);
    expect(bellRequests.length).toBe(1); // fetched once, when the stream said so
    const a = (await t.api('GET', '/api/approvals')).body.find((x: any) => x.run_id === run.id);
    await t.api('POST', `/api/approvals/${a.id}/reject`, { reason: 'no' });
    await expect.poll(count).toBe(before);
    expect(errors).toEqual([]);
  });
});
