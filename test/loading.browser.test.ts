/**
 * Loading states in real Chromium: every control that waits for the server is disabled and shows
 * a spinner while its request is in flight, and comes back when the answer arrives.
 */
import type { Browser, Page, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from './helpers/browser.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

/** Holds the requests matching `pattern` until `release()`; `held()` resolves once one is waiting. */
async function holdRequests(page: Page, pattern: RegExp) {
  const waiting: Route[] = [];
  let notify: () => void = () => {};
  const arrived = new Promise<void>((r) => (notify = r));
  await page.route(pattern, (route) => {
    waiting.push(route);
    notify();
  });
  return {
    held: () => arrived,
    async release() {
      for (const r of waiting.splice(0)) await r.continue();
      await page.unroute(pattern);
    },
  };
}

/** What a person sees of a control: disabled or not, and whether a spinner (`::after`) turns. */
function looks(page: Page, selector: string) {
  return page.locator(selector).first().evaluate((el) => ({
    disabled: (el as HTMLButtonElement).disabled,
    spinner: getComputedStyle(el, '::after').animationName,
  }));
}

describe('loading states in headless Chromium', () => {
  let t: TestApp;
  let browser: Browser;
  let bot: { id: number; name: string };
  beforeAll(async () => {
    t = await startTestApp({ ECHO_DELAY_MS: '5' });
    browser = await launchBrowser();
    bot = (await t.api('POST', '/api/bots', { name: 'Waiter', prompt: 'wait' })).body;
    const other = (await t.api('POST', '/api/bots', { name: 'Follower', prompt: 'follow' })).body;
    await t.waitForRun((await t.api('POST', `/api/bots/${bot.id}/run`, { input: 'x' })).body.id);
    await t.api('POST', `/api/bots/${bot.id}/docs`, { name: 'notes.md', content: 'hello' });
    await t.api('POST', '/api/triggers', { source_bot: bot.id, event: 'completed', target_bot: other.id });
    await t.api('POST', '/api/pipelines', { name: 'Chain', steps: [bot.id, other.id] });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('every form that posts disables its submit button while in flight, on the dashboard and the bot page', async () => {
    const page = await browser.newPage();
    for (const url of ['/', `/bots/${bot.id}`]) {
      await page.goto(t.url + url);
      await page.locator('#connections form, #docs form, #results form').first().waitFor();
      // htmx resolves hx-disabled-elt against the form: it must name that form's submit button.
      const forms = await page.locator('form[hx-post]').evaluateAll((forms) =>
        forms.map((f) => {
          const spec = f.getAttribute('hx-disabled-elt') ?? '';
          const target = spec.startsWith('find ') ? f.querySelector(spec.slice(5)) : null;
          return { action: f.getAttribute('hx-post'), disablesItsSubmit: target !== null && target === f.querySelector('button[type=submit]') };
        }),
      );
      expect(forms.length).toBeGreaterThan(3);
      expect(forms.filter((f) => !f.disablesItsSubmit)).toEqual([]);
      // Buttons that fetch by themselves disable themselves.
      const buttons = await page.locator('button[hx-get], button[hx-post]').evaluateAll((bs) => bs.map((b) => b.getAttribute('hx-disabled-elt')));
      expect(buttons.filter((b) => b !== 'this')).toEqual([]);
    }
  });

  it('Run on a bot card and Run now on the bot page: disabled with a spinner until the server answers', async () => {
    const page = await browser.newPage();
    await page.goto(t.url + '/');
    const card = `#bot-grid form[hx-post="/bots/${bot.id}/run"] button[type=submit]`;
    expect(await looks(page, card)).toEqual({ disabled: false, spinner: 'none' });
    const gate = await holdRequests(page, new RegExp(`/bots/${bot.id}/run$`));
    await page.locator(card).click();
    await gate.held();
    expect(await looks(page, card)).toEqual({ disabled: true, spinner: 'oo-spin' });
    await gate.release();
    // The run starts and the person stays on the dashboard; the card follows the run (issue 8).
    await expect.poll(() => looks(page, card)).toEqual({ disabled: false, spinner: 'none' });
    expect(new URL(page.url()).pathname).toBe('/');
    await page.goto(`${t.url}/bots/${bot.id}`);

    const runNow = 'form.run-form button[type=submit]';
    await expect.poll(() => looks(page, runNow)).toEqual({ disabled: false, spinner: 'none' });
    const again = await holdRequests(page, new RegExp(`/bots/${bot.id}/run$`));
    await page.locator(runNow).click();
    await again.held();
    expect(await looks(page, runNow)).toEqual({ disabled: true, spinner: 'oo-spin' });
    await again.release();
    await expect.poll(() => looks(page, runNow)).toEqual({ disabled: false, spinner: 'none' });
  });

  it('Save in the bot settings and a template chip in the New-bot form behave the same', async () => {
    const page = await browser.newPage();
    await page.goto(`${t.url}/bots/${bot.id}`);
    const save = '#bot-settings form.bot-form button[type=submit]';
    const gate = await holdRequests(page, new RegExp(`/bots/${bot.id}/settings$`));
    await page.locator(save).click();
    await gate.held();
    expect(await looks(page, save)).toEqual({ disabled: true, spinner: 'oo-spin' });
    await gate.release();
    // The panel is swapped for the server's answer, with a live button.
    await expect.poll(() => looks(page, save)).toEqual({ disabled: false, spinner: 'none' });

    await page.goto(t.url + '/');
    await page.getByRole('button', { name: 'New bot' }).click();
    const chip = '#new-bot-form button.chip';
    const chips = await holdRequests(page, /\/partials\/bot-form\?template=/);
    await page.locator(chip).first().click();
    await chips.held();
    expect(await looks(page, chip)).toEqual({ disabled: true, spinner: 'oo-spin' });
    await chips.release();
    await expect.poll(() => looks(page, chip)).toEqual({ disabled: false, spinner: 'none' });
  });
});
