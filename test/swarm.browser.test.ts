import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from './helpers/browser.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

// A person gives bots their swarm roles on the Tasks page, starts a task and watches it move
// through its states live (SSE), with the sub-tasks of two executors running side by side and the
// verdict; then archives it. API keys are created and revoked on their page.
describe('Tasks page in headless Chromium', () => {
  let t: TestApp;
  let browser: Browser;
  beforeAll(async () => {
    t = await startTestApp({ ECHO_DELAY_MS: '250' });
    browser = await launchBrowser();
    for (const name of ['Planner', 'Exec-A', 'Exec-B', 'Judge']) await t.api('POST', '/api/bots', { name, prompt: `You are ${name}.` });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('give roles, start a task, see CREATED → PLANNED → IN_PROGRESS → COMPLETED live, two executors in parallel, the verdict, then ARCHIVED', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(t.url + '/tasks');

    // Without roles a task cannot start, and the page says why.
    await page.getByLabel('Title').fill('Too early');
    await page.getByRole('button', { name: 'Start task' }).click();
    await expect.poll(() => page.getByRole('alert').first().textContent()).toContain('A task needs a planner, an executor and an evaluator');

    const agents = page.locator('#agents');
    for (const [bot, role, skills] of [['Planner', 'planner', ''], ['Exec-A', 'executor', 'writing'], ['Exec-B', 'executor', 'writing'], ['Judge', 'evaluator', '']]) {
      await agents.getByLabel('Bot').selectOption({ label: `🤖 ${bot}` });
      await agents.getByLabel('Role').selectOption(role!);
      await agents.getByLabel('Skills').fill(skills!);
      await agents.getByRole('button', { name: 'Give role' }).click();
      await expect.poll(() => page.locator('#agents tbody tr').filter({ hasText: bot! }).count()).toBe(1);
    }
    expect(await page.locator('#agents tbody tr').filter({ hasText: 'Exec-A' }).textContent()).toContain('writing');

    await page.getByLabel('Title').fill('Plan the <b>launch</b>');
    await page.getByLabel('Description').fill('Two halves, one per executor.');
    await page.getByRole('button', { name: 'Start task' }).click();
    await page.waitForURL(/\/tasks\/\d+$/);
    const id = Number(new URL(page.url()).pathname.split('/').pop());

    // Record every state the page shows, and the sub-tasks' states with it, as the stream swaps them in.
    await page.evaluate(() => {
      const w = window as any;
      w.__sameDocument = true;
      w.__seen = [];
      const snap = () => {
        const head = document.querySelector('.task-head');
        const subs = [...document.querySelectorAll('tr.subtask')].map((r) => (r as HTMLElement).dataset.status);
        w.__seen.push({ status: head?.getAttribute('data-status'), subs });
      };
      snap();
      new MutationObserver(snap).observe(document.getElementById('task-detail')!, { childList: true });
    });
    await expect.poll(() => page.locator('#task-status').textContent(), { timeout: 25_000 }).toBe('Completed');
    const seen: { status: string; subs: string[] }[] = await page.evaluate(() => (window as any).__seen);
    const order = ['CREATED', 'PLANNED', 'IN_PROGRESS', 'COMPLETED'];
    const statuses = seen.map((s) => s.status).filter((s, i, a) => s !== a[i - 1]);
    // Only forward moves, ending COMPLETED, and the page was updated in between (not only at the end).
    expect(statuses.map((s) => order.indexOf(s))).toEqual([...statuses.map((s) => order.indexOf(s))].sort());
    expect(statuses.at(-1)).toBe('COMPLETED');
    expect(statuses).toContain('IN_PROGRESS');
    expect(seen.some((s) => s.subs.length === 2 && s.subs.every((x) => x === 'running'))).toBe(true);

    // The state machine and the audit trail show every move, in order.
    const transitions = await page.locator('.audit-row[data-event="task.status"] .transition').allTextContents();
    expect(transitions).toEqual(['CREATED → PLANNED', 'PLANNED → IN_PROGRESS', 'IN_PROGRESS → COMPLETED']);
    expect(await page.locator('.state.passed').allTextContents()).toEqual(['CREATED', 'PLANNED', 'IN_PROGRESS']);
    expect(await page.locator('.state.current').textContent()).toBe('COMPLETED');

    // Sub-tasks per executor, each with its run; the verdict.
    const rows = page.locator('tr.subtask');
    expect(await rows.count()).toBe(2);
    expect(new Set(await page.locator('tr.subtask .executor').allTextContents())).toEqual(new Set(['Exec-A', 'Exec-B']));
    expect(await page.locator('tr.subtask[data-status="completed"]').count()).toBe(2);
    const runLink = rows.first().getByRole('link', { name: /run #\d+/ });
    expect(await runLink.getAttribute('href')).toMatch(/^\/bots\/\d+\?run=\d+#log$/);
    expect(await page.locator('.verdict.pass').textContent()).toContain('echo: every sub-task returned an output');
    // The title is text, never markup.
    expect(await page.locator('.task-head h1').textContent()).toContain('Plan the <b>launch</b>');

    await page.getByRole('button', { name: '🗄 Archive' }).click();
    await expect.poll(() => page.locator('#task-status').textContent()).toBe('Archived');
    expect((await t.api('GET', `/api/tasks/${id}`)).body.status).toBe('ARCHIVED');
    expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);

    // The run behind a sub-task opens with its log.
    await runLink.click();
    await page.waitForURL(/\/bots\/\d+\?run=\d+/);
    await expect.poll(() => page.locator('#run-panel').textContent()).toContain('echo: done');
    expect(errors).toEqual([]);
  });

  it('create an API key on the dashboard, use it, revoke it: then it gets 401', async () => {
    const page = await browser.newPage();
    await page.goto(t.url + '/keys');
    await page.getByLabel('Name').fill('Reporting script');
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = (await page.locator('#new-key').textContent())!.trim();
    expect(key).toMatch(/^oo_/);
    expect((await t.api('GET', '/api/tasks', undefined, { 'x-api-key': key })).status).toBe(200);
    // Shown once: reloading the list shows only its prefix.
    await page.goto(t.url + '/keys');
    expect(await page.content()).not.toContain(key);
    await page.getByRole('button', { name: 'Revoke Reporting script' }).click();
    await expect.poll(() => page.locator('tr', { hasText: 'Reporting script' }).locator('.status').textContent()).toContain('revoked');
    const r = await t.api('GET', '/api/tasks', undefined, { 'x-api-key': key });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('UNAUTHORIZED');
  });
});
