/**
 * Backups as an operator makes them: `npm run backup` against the data dir of a running app, the
 * archive unpacked and its database opened, and `npm run restore` bringing it back elsewhere.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import * as tar from 'tar';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestApp, tempDataDir, type TestApp } from './helpers/app.ts';

/** Runs `npm run <script> -- …args` as a person would, with DATA_DIR set. */
function npmRun(script: string, args: string[], dataDir: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn('npm', ['run', '--silent', script, '--', ...args], { env: { PATH: process.env.PATH!, DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run backup / npm run restore', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });
  const tmp = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'oo-bk-'));
    cleanup.push(() => fs.rmSync(d, { recursive: true, force: true }));
    return d;
  };
  const app = async (env: Record<string, string>) => {
    const t = await startTestApp(env);
    cleanup.push(() => t.close());
    return t;
  };

  it('backs up a running app into one archive that unpacks to a consistent database and the docs', async () => {
    const t: TestApp = await app({ ECHO_DELAY_MS: '200' });
    const bot = (await t.api('POST', '/api/bots', { name: 'Archivist', prompt: 'remember' })).body;
    expect((await t.api('POST', `/api/bots/${bot.id}/docs`, { name: 'notes/deals.md', content: '# Deals\n- Nike Air Max, 35 €\n' })).status).toBe(201);
    const done = await t.waitForRun((await t.api('POST', `/api/bots/${bot.id}/run`, { input: 'first' })).body.id);
    // A run still writing its log while the backup is taken.
    const busy = (await t.api('POST', `/api/bots/${bot.id}/run`, { input: 'second' })).body;

    const out = path.join(tmp(), 'nightly', 'oo.tar.gz');
    const res = await npmRun('backup', ['--out', out], t.dataDir);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout.trim()).toMatch(new RegExp(`^Backup of ${t.dataDir} written to ${out} \\(.* KiB: 1 bots, 2 runs, and their docs folders\\)$`));
    expect(fs.existsSync(`${out}.partial`)).toBe(false);
    await t.waitForRun(busy.id);

    const unpacked = tmp();
    await tar.x({ file: out, cwd: unpacked });
    expect(fs.readdirSync(unpacked).sort()).toEqual(['bots', 'openorchestrator.db']);
    expect(fs.readFileSync(path.join(unpacked, 'bots', String(bot.id), 'notes', 'deals.md'), 'utf8')).toBe('# Deals\n- Nike Air Max, 35 €\n');
    const db = new Database(path.join(unpacked, 'openorchestrator.db'), { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(db.prepare('SELECT name FROM bots').all()).toEqual([{ name: 'Archivist' }]);
      expect(db.prepare('SELECT status, output FROM runs WHERE id = ?').get(done.id)).toEqual({ status: 'completed', output: done.output });
      const lines = (db.prepare('SELECT count(*) AS n FROM run_logs WHERE run_id = ?').get(done.id) as { n: number }).n;
      expect(lines).toBe((await t.api('GET', `/api/runs/${done.id}/logs`)).body.length);
    } finally {
      db.close();
    }
  });

  it('restores into another DATA_DIR, refuses a data dir in use or not empty, and the app runs on the copy', async () => {
    const t = await app({});
    const bot = (await t.api('POST', '/api/bots', { name: 'Traveller', prompt: 'move' })).body;
    await t.api('POST', `/api/bots/${bot.id}/docs`, { name: 'memory.md', content: 'seen: item 1' });
    const run = await t.waitForRun((await t.api('POST', `/api/bots/${bot.id}/run`, { input: 'hi' })).body.id);
    const archive = path.join(tmp(), 'b.tar.gz');
    expect((await npmRun('backup', ['--out', archive], t.dataDir)).code).toBe(0);

    // Not into the data dir of a running app.
    const inUse = await npmRun('restore', [archive, '--force'], t.dataDir);
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toMatch(/is in use by another openOrchestrator process/);

    const target = tempDataDir();
    cleanup.push(() => fs.rmSync(target, { recursive: true, force: true }));
    const restored = await npmRun('restore', [archive], target);
    expect(restored.stderr).toBe('');
    expect(restored.stdout.trim()).toBe(`Restored ${archive} into ${target} (1 bots, 1 runs): start the app with npm start`);
    const again = await npmRun('restore', [archive], target);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already holds a database/);
    expect(await npmRun('restore', [archive, '--force'], target)).toMatchObject({ code: 0 });
    expect(fs.readdirSync(target).some((n) => n.startsWith('before-restore-'))).toBe(true);

    const copy = await app({ DATA_DIR: target });
    expect((await copy.api('GET', `/api/runs/${run.id}`)).body).toMatchObject({ status: 'completed', output: run.output });
    // The docs folder is the restored one, under the new DATA_DIR.
    const doc = await fetch(`${copy.url}/api/bots/${bot.id}/docs/memory.md`);
    expect(await doc.text()).toBe('seen: item 1');
    expect((await copy.engine.bots.get(bot.id)).docsPath).toBe(path.join(target, 'bots', String(bot.id)));
    expect((await copy.waitForRun((await copy.api('POST', `/api/bots/${bot.id}/run`, { input: 'again' })).body.id)).status).toBe('completed');
  });

  it('says so when DATA_DIR holds no database', async () => {
    const empty = tmp();
    const res = await npmRun('backup', ['--out', path.join(empty, 'x.tar.gz')], empty);
    expect(res.code).toBe(1);
    expect(res.stderr.trim()).toBe(`No database at ${path.join(empty, 'openorchestrator.db')}: is DATA_DIR right?`);
  });
});
