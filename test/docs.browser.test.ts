import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from './helpers/browser.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

// A person gives a bot its memory from the bot page: uploads a file, writes memory.md, edits a
// file, deletes one, all in place without a reload.
describe('documents panel in headless Chromium', () => {
  let t: TestApp;
  let browser: Browser;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'oo-upload-'));
  beforeAll(async () => {
    t = await startTestApp();
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('upload, view, edit and delete files of the bot\'s docs folder', async () => {
    const bot = (await t.api('POST', '/api/bots', { name: 'Scout', prompt: 'Find deals.' })).body;
    const doc = async (name: string) => t.api('GET', `/api/bots/${bot.id}/docs/${encodeURIComponent(name)}`);
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('dialog', (d) => void d.accept());
    await page.goto(`${t.url}/bots/${bot.id}`);
    await page.evaluate(() => ((window as any).__sameDocument = true));
    const panel = page.locator('#docs');
    expect(await panel.textContent()).toContain('No documents yet.');

    // Upload two files at once, one with a name and content that must stay text.
    const criteria = path.join(tmp, 'criteria.md');
    const tricky = path.join(tmp, '<img src=x onerror=window.pwned=1>.md');
    fs.writeFileSync(criteria, 'size 43\nunder 50 €\n');
    fs.writeFileSync(tricky, '<script>window.pwned = 2</script>');
    await panel.getByLabel('Files to upload').setInputFiles([criteria, tricky]);
    await panel.getByRole('button', { name: 'Upload', exact: true }).click();
    await expect.poll(() => panel.locator('.doc-name').allTextContents()).toEqual(['<img src=x onerror=window.pwned=1>.md', 'criteria.md']);
    expect(await panel.getByRole('status').textContent()).toContain('Uploaded');
    expect((await doc('criteria.md')).body).toBe('size 43\nunder 50 €\n');

    // Write memory.md from scratch: it is marked as always read.
    await panel.getByText('New file').click();
    await panel.getByLabel('New file name').fill('memory.md');
    await panel.getByLabel('New file content').fill('seen: item/1');
    await panel.getByRole('button', { name: 'Create', exact: true }).click();
    await expect.poll(() => panel.locator('.doc', { hasText: 'memory.md' }).textContent()).toContain('always read');
    expect((await doc('memory.md')).body).toBe('seen: item/1');

    // View and edit a file in place.
    await panel.getByRole('link', { name: 'criteria.md' }).click();
    const editor = panel.getByLabel('Content of criteria.md');
    await expect.poll(() => editor.inputValue()).toBe('size 43\nunder 50 €\n');
    await editor.fill('size 43 or 44\nunder 60 €\n');
    await panel.getByRole('button', { name: 'Save', exact: true }).click();
    await expect.poll(() => panel.getByRole('status').textContent()).toBe('Saved criteria.md.');
    expect((await doc('criteria.md')).body).toBe('size 43 or 44\nunder 60 €\n');

    // A file's content is shown as text, never run.
    await panel.getByRole('link', { name: '<img src=x onerror=window.pwned=1>.md' }).click();
    await expect.poll(() => panel.getByLabel('Content of <img src=x onerror=window.pwned=1>.md').inputValue()).toBe('<script>window.pwned = 2</script>');

    // Delete (after confirming).
    await panel.getByRole('button', { name: 'Delete criteria.md' }).click();
    await expect.poll(() => panel.locator('.doc-name').allTextContents()).toEqual(['<img src=x onerror=window.pwned=1>.md', 'memory.md']);
    expect((await doc('criteria.md')).status).toBe(404);

    // A bad name is explained in the panel.
    await panel.getByText('New file').click();
    await panel.getByLabel('New file name').fill('.hidden');
    await panel.getByRole('button', { name: 'Create', exact: true }).click();
    await expect.poll(() => panel.getByRole('alert').textContent()).toContain('is not a valid document name');

    expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
    expect(await page.evaluate(() => (window as any).pwned)).toBeUndefined();
    expect(errors).toEqual([]);
  });

  it('works without JavaScript too: the forms post and come back to the bot page', async () => {
    const bot = (await t.api('POST', '/api/bots', { name: 'NoJS', prompt: 'x' })).body;
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(`${t.url}/bots/${bot.id}`);
    await page.locator('#docs').getByText('New file').click();
    await page.getByLabel('New file name').fill('notes.md');
    await page.getByLabel('New file content').fill('plain post');
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    await page.waitForURL(`${t.url}/bots/${bot.id}#docs`);
    expect(await page.locator('#docs .doc-name').allTextContents()).toEqual(['notes.md']);
    await context.close();
  });
});
