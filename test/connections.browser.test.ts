import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openPage } from './helpers/browser.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

// A person links two bots, toggles the link, builds a pipeline and runs it from the dashboard, in
// a real browser.
describe('connections and pipelines on the dashboard, in headless Chromium', () => {
  let t: TestApp;
  let browser: Browser;
  let dev: any;
  let test: any;
  const pages: Page[] = [];
  beforeAll(async () => {
    t = await startTestApp();
    browser = await launchBrowser();
    dev = (await t.api('POST', '/api/bots', { name: 'Dev-Bot', emoji: '👩‍💻', prompt: 'write code' })).body;
    test = (await t.api('POST', '/api/bots', { name: 'Test-Bot', emoji: '🧪', prompt: 'test <it>' })).body;
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });
  const open = (path: string) => openPage(browser, t.url + path, pages);

  it('a connection made elsewhere (the API) appears in an open dashboard without a reload, and goes when removed', async () => {
    const a = (await t.api('POST', '/api/bots', { name: 'Far-A', prompt: 'a' })).body;
    const b = (await t.api('POST', '/api/bots', { name: 'Far-B', prompt: 'b' })).body;
    const { page, errors } = await open('/');
    const panel = page.locator('#connections');
    await expect.poll(() => panel.getByRole('button', { name: 'Connect' }).count()).toBe(1);
    // The page's live stream is open before the change is made.
    await expect.poll(() => t.app.live.hub.clientCount).toBeGreaterThan(0);
    const made = (await t.api('POST', '/api/triggers', { source_bot: a.id, event: 'failed', target_bot: b.id })).body;
    const row = panel.locator(`[data-trigger-id="${made.id}"]`);
    await expect.poll(() => row.count()).toBe(1);
    expect((await row.locator('.connection-label').textContent())!.replace(/\s+/g, ' ').trim()).toBe('🤖 Far-A —failed→ 🤖 Far-B');
    await t.api('DELETE', `/api/triggers/${made.id}`);
    await expect.poll(() => row.count()).toBe(0);
    await t.api('DELETE', `/api/bots/${a.id}`);
    await t.api('DELETE', `/api/bots/${b.id}`);
    await expect.poll(() => panel.textContent()).toContain('No connections yet.');
    expect(errors).toEqual([]);
  });

  it('connect Dev-Bot —completed→ Test-Bot, switch it off and on; a loop is refused in place', async () => {
    const { page, errors } = await open('/');
    const panel = page.locator('#connections');
    await expect.poll(() => panel.getByRole('button', { name: 'Connect' }).count()).toBe(1);
    expect(await panel.textContent()).toContain('No connections yet.');

    await panel.getByLabel('Source bot').selectOption(String(dev.id));
    await panel.getByLabel('Event').selectOption('completed');
    await panel.getByLabel('Target bot').selectOption(String(test.id));
    await panel.getByRole('button', { name: 'Connect' }).click();

    const row = panel.locator('.connection');
    await expect.poll(() => row.count()).toBe(1);
    expect((await row.locator('.connection-label').textContent())!.replace(/\s+/g, ' ').trim()).toBe('👩‍💻 Dev-Bot —completed→ 🧪 Test-Bot');
    const toggle = row.getByRole('switch');
    expect(await toggle.getAttribute('aria-checked')).toBe('true');
    expect((await t.api('GET', '/api/triggers')).body).toMatchObject([{ label: 'Dev-Bot —completed→ Test-Bot', enabled: true }]);

    await toggle.click();
    await expect.poll(() => panel.getByRole('switch').getAttribute('aria-checked')).toBe('false');
    expect((await t.api('GET', '/api/triggers')).body[0].enabled).toBe(false);
    await panel.getByRole('switch').click();
    await expect.poll(() => panel.getByRole('switch').getAttribute('aria-checked')).toBe('true');
    expect((await t.api('GET', '/api/triggers')).body[0].enabled).toBe(true);

    // The way back would be a loop: refused, said in the panel, nothing added.
    await panel.getByLabel('Source bot').selectOption(String(test.id));
    await panel.getByLabel('Target bot').selectOption(String(dev.id));
    await panel.getByRole('button', { name: 'Connect' }).click();
    await expect.poll(() => panel.getByRole('alert').textContent()).toContain('would close a loop: Test-Bot → Dev-Bot → Test-Bot');
    expect(await panel.locator('.connection').count()).toBe(1);
    expect(await panel.getByLabel('Source bot').inputValue()).toBe(String(test.id)); // what was picked stays
    expect(errors).toEqual([]);
  });

  it('build a 2-step pipeline, run it, watch it reach 2/2', async () => {
    const { page, errors } = await open('/');
    const panel = page.locator('#pipelines');
    await expect.poll(() => panel.getByRole('button', { name: 'Create pipeline' }).count()).toBe(1);
    await panel.getByLabel('Pipeline name').fill('Ship-It');
    await panel.getByLabel('Steps').fill('Dev-Bot, Test-Bot');
    await panel.getByRole('button', { name: 'Create pipeline' }).click();

    const card = page.locator('.pipeline', { hasText: 'Ship-It' });
    await expect.poll(() => card.count()).toBe(1);
    expect((await card.locator('.pipeline-steps').textContent())!.replace(/\s+/g, ' ')).toContain('👩‍💻 Dev-Bot 🧪 Test-Bot');
    await card.getByRole('button', { name: 'Run Ship-It' }).click();
    // The list follows the run over the live stream; no reload, no poll.
    await expect.poll(() => page.locator('.pipeline', { hasText: 'Ship-It' }).locator('.pipeline-progress').textContent(), { timeout: 15_000 }).toBe('2/2');
    expect(await page.locator('.pipeline', { hasText: 'Ship-It' }).locator('.pipeline-head .status').textContent()).toContain('Completed');
    expect(await page.locator('.pipeline', { hasText: 'Ship-It' }).locator('.pipeline-step .status').allTextContents()).toEqual([
      expect.stringContaining('Completed'),
      expect.stringContaining('Completed'),
    ]);
    // The pipeline is the chain: its Dev-Bot step does not also fire the Dev-Bot —completed→ Test-Bot
    // connection, so Test-Bot ran once. (The trigger hears the same event that advanced the pipeline,
    // so a run it started would exist by now.)
    await t.engine.bus.flush();
    expect(((await t.api('GET', `/api/bots/${test.id}/runs`)).body as any[]).map((r) => r.trigger)).toEqual([`pipeline:1`]);

    // A bad pipeline is refused in place.
    await panel.getByLabel('Pipeline name').fill('Broken');
    await panel.getByLabel('Steps').fill('Dev-Bot, Nobody');
    await panel.getByRole('button', { name: 'Create pipeline' }).click();
    await expect.poll(() => page.locator('#pipelines').getByRole('alert').textContent()).toBe('No bot named "Nobody".');
    expect(await page.locator('#pipelines').getByLabel('Steps').inputValue()).toBe('Dev-Bot, Nobody');
    expect(errors).toEqual([]);
  });

  it("a scheduled bot's page shows when it runs next", async () => {
    const scout = (await t.api('POST', '/api/bots', { name: 'eBay-Scout', prompt: 'deals', schedule: 'every 30m' })).body;
    const { page, errors } = await open(`/bots/${scout.id}`);
    await expect.poll(() => page.locator('.next-run').textContent()).toMatch(/^next \d\d:\d\d(:00)?$|^next \d\d \w+ \d\d:\d\d$/);
    expect(await page.locator('.stats').textContent()).toContain('*/30 * * * *');
    expect(await page.locator('.topbar .tz').textContent()).toContain('TZ');
    expect(errors).toEqual([]);
  });
});
