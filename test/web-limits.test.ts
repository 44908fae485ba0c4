import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { launchBrowser } from './helpers/browser.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

// Limits a person sets and sees: a per-client rate limit on the API, and security headers with a
// Content-Security-Policy the dashboard (htmx, its SSE extension) works under.
describe('API rate limit (RATE_LIMIT_PER_MIN)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ RATE_LIMIT_PER_MIN: '5' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('past the limit a client gets 429 RATE_LIMITED in the API error shape; pages, static files, live streams and other clients go on', async () => {
    const bot = await t.engine.createBot({ name: 'Limited', prompt: 'x' });
    const run = await t.engine.startRun(bot.id, { trigger: 'manual' });
    for (let i = 0; i < 5; i++) {
      const r = await t.api('GET', '/api/bots');
      expect(r.status).toBe(200);
      expect(r.headers.get('x-ratelimit-remaining')).toBe(String(4 - i));
    }
    const over = await t.api('GET', '/api/bots');
    expect(over.status).toBe(429);
    expect(over.body).toEqual({ error: { code: 'RATE_LIMITED', message: expect.stringMatching(/^Too many requests: at most 5 API requests a minute from one client\. Try again in \d+ (second|minute)s?\.$/) } });
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await t.api('POST', `/api/bots/${bot.id}/run`, {})).status).toBe(429);

    // Not counted: the dashboard, its static files, the live log stream.
    expect((await fetch(`${t.url}/`)).status).toBe(200);
    expect((await fetch(`${t.url}/static/app.css`)).status).toBe(200);
    const stream = await fetch(`${t.url}/api/runs/${run.id}/events`);
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await stream.body?.cancel();
    // Per client: another address still has its own allowance.
    const other = await t.app.inject({ method: 'GET', url: '/api/bots', remoteAddress: '10.0.0.2' });
    expect(other.statusCode).toBe(200);
  });

  it('is generous by default and 0 turns it off', async () => {
    expect(loadConfig({}).rateLimitPerMin).toBe(600);
    const off = await startTestApp({ RATE_LIMIT_PER_MIN: '0' });
    try {
      const r = await off.api('GET', '/api/bots');
      expect(r.status).toBe(200);
      expect(r.headers.get('x-ratelimit-limit')).toBeNull();
    } finally {
      await off.close();
    }
  });
});

describe('security headers', () => {
  let t: TestApp;
  let browser: Browser;
  beforeAll(async () => {
    t = await startTestApp({ ECHO_DELAY_MS: '100' });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('every response carries helmet’s headers and a CSP with scripts from this site only, no eval', async () => {
    for (const p of ['/', '/api/bots', '/static/app.css']) {
      const res = await fetch(t.url + p);
      expect(res.headers.get('x-content-type-options'), p).toBe('nosniff');
      expect(res.headers.get('x-frame-options'), p).toBe('SAMEORIGIN');
      expect(res.headers.get('referrer-policy'), p).toBe('same-origin');
      const csp = res.headers.get('content-security-policy') ?? '';
      const directives = Object.fromEntries(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v]));
      expect(directives['script-src'], p).toEqual(["'self'"]);
      expect(directives['style-src'], p).toEqual(["'self'"]);
      expect(directives['frame-ancestors'], p).toEqual(["'none'"]);
      expect(csp, p).not.toContain('unsafe-eval');
      expect(csp, p).not.toContain('upgrade-insecure-requests');
    }
  });

  it('the dashboard works under it: dialogs open and close, a run streams live and its end reloads the panels; no violation', async () => {
    const page = await browser.newPage();
    const violations: string[] = [];
    page.on('console', (m) => /Content.Security.Policy|Refused to/i.test(m.text()) && violations.push(m.text()));
    page.on('pageerror', (e) => violations.push(e.message));
    // In every document of the page, from its first byte.
    await page.addInitScript(() => document.addEventListener('securitypolicyviolation', (e) => ((window as any).__violations ??= []).push(`${e.violatedDirective} ${e.blockedURI}`)));
    await page.goto(t.url + '/');
    // The dashboard's panels (connections, pipelines) load through htmx.
    await expect.poll(() => page.locator('#connections h2').count()).toBe(1);
    await expect.poll(() => page.locator('#connections').textContent()).not.toContain('Loading…');

    const dialog = page.getByRole('dialog');
    await page.getByRole('button', { name: 'New bot' }).click();
    await expect.poll(() => dialog.isVisible()).toBe(true);
    await dialog.getByRole('button', { name: 'Close' }).click();
    await expect.poll(() => dialog.isVisible()).toBe(false);
    await page.getByRole('button', { name: 'New bot' }).click();
    await dialog.getByLabel('Name').fill('Watched');
    await dialog.getByLabel('What should it do?').fill('Say hello.');
    await dialog.getByRole('button', { name: 'Create bot' }).click();
    await page.waitForURL(/\/bots\/\d+$/);

    await page.getByRole('button', { name: 'Run now' }).click();
    await expect.poll(() => page.locator('#run-panel .log-line').count(), { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
    await expect.poll(() => page.locator('#run-panel .run-outcome .status').textContent(), { timeout: 15_000 }).toBe('Completed');
    // The end (over SSE) reloaded the results and runs panels.
    await expect.poll(() => page.locator('#results .result').count()).toBe(1);
    await expect.poll(() => page.locator('#runs').textContent()).toMatch(/Completed/);
    expect(await page.evaluate(() => (window as any).__violations ?? [])).toEqual([]);
    expect(violations).toEqual([]);

    // And the policy is enforced: an inline script someone slipped in does not run.
    await page.evaluate(() => {
      const s = document.createElement('script');
      s.textContent = 'window.inlineRan = true';
      document.head.appendChild(s);
    });
    expect(await page.evaluate(() => (window as any).inlineRan)).toBeUndefined();
    await expect.poll(() => page.evaluate(() => (window as any).__violations ?? [])).toEqual([expect.stringMatching(/^script-src-elem inline$/)]);
    await page.close();
  });
});
