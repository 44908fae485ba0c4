import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from './helpers/browser.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

/**
 * Characters the page's own words and buttons may use: ones every font a browser falls back to
 * has (ASCII, Latin-1, general punctuation, arrows, the run status glyphs). Bots' emoji are not
 * chrome: they come from the emoji font the server ships (checked below).
 */
const CHROME_CHARS = /^[\u0009-\u007e\u00a0-\u00ff\u2010-\u2027\u2030-\u205e\u2190-\u21ff\u2713\u2717\u25a0\u25b6]*$/u;

// The page under the hand: buttons that start work, the New-bot dialog, a phone's width, glyphs.
describe('the page under the hand, in headless Chromium', () => {
  let t: TestApp;
  let browser: Browser;
  let bot: any;
  beforeAll(async () => {
    t = await startTestApp({ ECHO_DELAY_MS: '200' });
    browser = await launchBrowser();
    bot = (await t.api('POST', '/api/bots', { name: 'Hand-Bot', emoji: '🛒', prompt: 'find https://example.com/a/very/long/path/that/does/not/break/anywhere/at/all/so/it/could/push/the/page/wider' })).body;
    const run = (await t.api('POST', `/api/bots/${bot.id}/run`, { input: 'x'.repeat(300) })).body;
    await t.waitForRun(run.id);
    await t.api('POST', '/api/pipelines', { name: 'Hand-Line', steps: [bot.id] });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });
  const open = async (path: string, viewport = { width: 1280, height: 900 }) => {
    const page = await browser.newPage({ viewport });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(t.url + path);
    return { page, errors };
  };
  const runCount = async () => (await t.api('GET', `/api/bots/${bot.id}/runs`)).body.length as number;

  it('Run on a card starts one run, shows it is busy, ignores a second click and stays on the dashboard', async () => {
    const { page, errors } = await open('/');
    const before = await runCount();
    // Hold the answer for a moment, so the busy state can be seen.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    await page.route(`**/bots/${bot.id}/run`, async (route) => {
      await held;
      await route.continue();
    });
    const button = page.locator(`#bot-${bot.id}`).getByRole('button', { name: 'Run Hand-Bot' });
    await button.dblclick();
    await expect.poll(() => button.isDisabled()).toBe(true);
    expect(await page.locator(`#bot-${bot.id} form.htmx-request`).count()).toBe(1);
    await button.click({ force: true }); // a third press, while busy
    release();
    // The card follows the run over the stream; the page never leaves the dashboard.
    await expect.poll(() => page.locator(`#bot-${bot.id} .status`).textContent(), { timeout: 15_000 }).toMatch(/^(Queued|Running)/);
    await expect.poll(() => page.locator(`#bot-${bot.id} .status`).textContent(), { timeout: 15_000 }).toBe('Idle');
    expect(new URL(page.url()).pathname).toBe('/');
    expect(await runCount()).toBe(before + 1);
    expect(await page.locator(`#bot-${bot.id}`).getByRole('button', { name: 'Run Hand-Bot' }).isEnabled()).toBe(true);
    expect(errors).toEqual([]);
  });

  it('the New-bot form opens empty after a template was picked and the dialog cancelled', async () => {
    const { page, errors } = await open('/');
    await page.getByRole('button', { name: 'New bot' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('button', { name: '🛒 eBay-Scout' }).click();
    await expect.poll(() => dialog.getByLabel('Name').inputValue()).toBe('eBay-Scout');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('button', { name: 'New bot' }).click();
    expect(await dialog.getByLabel('Name').inputValue()).toBe('');
    expect(await dialog.getByLabel('What should it do?').inputValue()).toBe('');
    expect(await dialog.getByLabel('Cron expression').inputValue()).toBe('');
    expect(await dialog.getByLabel('Manually').isChecked()).toBe(true);
    expect(await dialog.getByLabel('web search').isChecked()).toBe(false);
    // Esc closes it too, and the templates still work afterwards.
    await dialog.getByLabel('Name').fill('typed, then dropped');
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'New bot' }).click();
    expect(await dialog.getByLabel('Name').inputValue()).toBe('');
    await dialog.getByRole('button', { name: '🛒 eBay-Scout' }).click();
    await expect.poll(() => dialog.getByLabel('Name').inputValue()).toBe('eBay-Scout');
    expect(errors).toEqual([]);
  });

  it('at 390 px wide no page scrolls sideways and the dialog keeps its fields inside', async () => {
    const phone = { width: 390, height: 844 };
    for (const path of ['/', `/bots/${bot.id}`]) {
      const { page, errors } = await open(path, phone);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, `${path} scrolls sideways`).toBeLessThanOrEqual(0);
      expect(errors).toEqual([]);
      if (path !== '/') continue;
      await page.getByRole('button', { name: 'New bot' }).click();
      const outside = await page.evaluate(() => {
        const d = document.getElementById('new-bot')!.getBoundingClientRect();
        return [...document.querySelectorAll('#new-bot input, #new-bot textarea, #new-bot select, #new-bot button')]
          .map((el) => ({ el: (el as HTMLInputElement).name || el.textContent?.trim(), r: el.getBoundingClientRect() }))
          .filter(({ r }) => r.width > 0 && (r.left < d.left - 0.5 || r.right > d.right + 0.5))
          .map(({ el }) => el);
      });
      expect(outside).toEqual([]);
      expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
    }
  });

  it('glyphs render without an emoji font on the machine: chrome uses plain glyphs or SVG, emoji come from the shipped font', async () => {
    const { page } = await open('/');
    await page.evaluate(() => document.fonts.ready);
    // Every character of the page's own words, outside the bots' emoji, is one every font has.
    const odd = await page.evaluate((src) => {
      const re = new RegExp(src, 'u');
      const skip = (n: Node) => (n.parentElement?.closest('.bot-emoji, .emoji, .empty-emoji, .bot-desc, script, style, option') ?? null) !== null;
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      const out: string[] = [];
      for (let n = walker.nextNode(); n; n = walker.nextNode()) if (!skip(n) && !re.test(n.textContent ?? '')) out.push(n.textContent!.trim());
      return out;
    }, CHROME_CHARS.source);
    expect(odd).toEqual([]);
    // The bots' emoji, wherever they are (cards, activity lines, a pipeline's steps), are drawn
    // by the Noto Emoji font the server ships: this machine has no emoji font of its own.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('DOM.enable');
    await cdp.send('CSS.enable');
    const { root } = await cdp.send('DOM.getDocument', { depth: -1 });
    const fontsOf = async (selector: string) => {
      const { nodeIds } = await cdp.send('DOM.querySelectorAll', { nodeId: root.nodeId, selector });
      return Promise.all(nodeIds.map(async (nodeId) => (await cdp.send('CSS.getPlatformFontsForNode', { nodeId })).fonts.map((f) => f.familyName)));
    };
    // (Nodes not drawn, such as the closed dialog's template chips, use no font.)
    const emoji = (await fontsOf('.bot-emoji, .emoji')).filter((fonts) => fonts.length > 0);
    expect(emoji.length).toBeGreaterThanOrEqual(4);
    expect(emoji.filter((fonts) => !fonts.some((f) => /Emoji/i.test(f)))).toEqual([]);
    expect((await fontsOf('.pipeline-step .emoji')).flat()).toContain('Noto Emoji');
    expect((await fontsOf('.section-head .btn.primary')).flat().filter((f) => /Emoji/i.test(f))).toEqual([]);
    expect(await page.getByRole('button', { name: 'New bot' }).textContent()).toMatch(/^\s*New bot$/);
  });
});
