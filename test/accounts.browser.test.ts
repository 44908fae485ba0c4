import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from './helpers/browser.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

// A self-hoster opens a fresh server that listens beyond loopback on a phone-sized screen: it
// refuses until the admin is set up; setup signs them in; they log out and in again, and the
// header's user menu names them.
describe('accounts in headless Chromium', () => {
  let t: TestApp;
  let browser: Browser;
  beforeAll(async () => {
    t = await startTestApp({ HOST: '0.0.0.0' });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('setup → log out → log in → the user menu shows the name, at 390 px wide', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));

    const refused = await page.goto(t.url + '/');
    expect(refused?.status()).toBe(403);
    expect(await page.textContent('body')).toContain('Open /setup');

    await page.goto(t.url + '/setup');
    await page.getByLabel('User name').fill('grace');
    await page.getByLabel('Password', { exact: false }).first().fill('hopper-1906');
    await page.getByLabel('Password again').fill('hopper-1907');
    await page.getByRole('button', { name: 'Save and sign in' }).click();
    await expect.poll(() => page.locator('#setup-error').textContent()).toContain('The two passwords differ.');
    await page.getByLabel('Password', { exact: false }).first().fill('hopper-1906');
    await page.getByLabel('Password again').fill('hopper-1906');
    await page.getByRole('button', { name: 'Save and sign in' }).click();
    await page.waitForURL(t.url + '/');

    const menu = page.locator('.user-menu summary');
    await expect.poll(() => menu.textContent()).toContain('grace');
    expect(await menu.textContent()).toContain('admin');
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await menu.click();
    await expect.poll(() => page.getByRole('button', { name: 'Log out' }).isVisible()).toBe(true);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(/\/login$/);

    // Signed out: the dashboard sends to the sign-in page, which says so when the password is wrong.
    await page.goto(t.url + '/runs');
    await page.waitForURL(/\/login\?next=%2Fruns$/);
    await page.getByLabel('User name').fill('grace');
    await page.getByLabel('Password').fill('not-her-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.locator('#login-error').textContent()).toContain('The user name or the password is wrong.');
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.getByLabel('Password').fill('hopper-1906');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(t.url + '/runs');
    await expect.poll(() => page.locator('.user-menu summary').textContent()).toContain('grace');

    // The menu leads to the account's settings, which name the account.
    await page.locator('.user-menu summary').click();
    await page.getByRole('link', { name: 'Settings' }).click();
    await expect.poll(() => page.locator('#account-name').textContent()).toBe('grace');
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'oo_session')!;
    expect(session.httpOnly).toBe(true);
    expect(session.sameSite).toBe('Lax');
    expect(errors).toEqual([]);
  });
});
