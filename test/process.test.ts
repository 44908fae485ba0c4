import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pidAlive, startTestApp, tempDataDir } from './helpers/app.ts';
import { startTime } from '../src/engine/db/data-dir-lock.ts';
import { json, startServer } from './helpers/server.ts';

// The process as an operator meets it: started, killed, restarted, stopped.
describe('the server process', () => {
  const procs: ChildProcess[] = [];
  afterEach(() => {
    for (const p of procs.splice(0)) if (p.exitCode === null) p.kill('SIGKILL');
  });

  it('after a crash (SIGKILL) the run child stops too, and the next start marks the run interrupted', async () => {
    const dataDir = tempDataDir();
    const s1 = await startServer({ DATA_DIR: dataDir, ECHO_DELAY_MS: '60000' });
    procs.push(s1.proc);
    const bot = (await json(`${s1.url}/api/bots`, { method: 'POST', body: JSON.stringify({ name: 'Crashy', prompt: 'never finishes' }) })).body;
    const run = (await json(`${s1.url}/api/bots/${bot.id}/run`, { method: 'POST', body: '{}' })).body;
    await expect.poll(async () => (await json(`${s1.url}/api/runs/${run.id}/logs`)).body.length, { timeout: 15_000 }).toBeGreaterThan(2);
    // The run's child is the server's only child process.
    const childPid = Number(fs.readFileSync(`/proc/${s1.proc.pid}/task/${s1.proc.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
    expect(pidAlive(childPid)).toBe(true);

    s1.proc.kill('SIGKILL');
    await s1.exited;
    // Orphaned, the child notices its parent is gone and stops: no tokens spent unobserved.
    await expect.poll(() => pidAlive(childPid), { timeout: 10_000 }).toBe(false);

    const t2 = await startTestApp({ DATA_DIR: dataDir });
    try {
      const after = (await t2.api('GET', `/api/runs/${run.id}`)).body;
      expect(after.status).toBe('interrupted');
      expect(after.finished_at).not.toBeNull();
      const events = (await t2.api('GET', '/api/events?limit=5')).body;
      expect(events[0]).toMatchObject({ kind: 'run.interrupted', run_id: run.id, level: 'warn' });
    } finally {
      await t2.close();
    }
  }, 60_000);

  it('a second process on the same DATA_DIR is refused with one line', async () => {
    const dataDir = tempDataDir();
    const s1 = await startServer({ DATA_DIR: dataDir });
    procs.push(s1.proc);
    const second = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env: { PATH: process.env.PATH!, PORT: '0', DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(second);
    let stderr = '';
    second.stderr!.on('data', (d) => (stderr += d));
    const code = await new Promise((r) => second.once('exit', r));
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([
      `DATA_DIR ${dataDir} is in use by another openOrchestrator process (pid ${s1.proc.pid}): stop it first, or give this one another DATA_DIR; if it is gone, delete ${path.join(dataDir, 'openorchestrator.lock')}.`,
    ]);
    expect((await json(`${s1.url}/api/bots`)).status).toBe(200);
  }, 60_000);

  it("a lock left by another host is never taken over; this host's dead process's lock is", async () => {
    const dataDir = tempDataDir();
    const lock = path.join(dataDir, 'openorchestrator.lock');
    fs.writeFileSync(lock, '1@another-container');
    await expect(startTestApp({ DATA_DIR: dataDir })).rejects.toThrow(
      `DATA_DIR ${dataDir} is in use by an openOrchestrator process on host another-container (pid 1): stop it first; if it is gone, delete ${lock}.`,
    );
    // A crashed process of this host: its pid is gone, so the lock is stale.
    const gone = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid!;
    fs.writeFileSync(lock, `${gone}@${os.hostname()}`);
    const t = await startTestApp({ DATA_DIR: dataDir });
    expect(fs.readFileSync(lock, 'utf8')).toBe(`${process.pid}@${os.hostname()}\nstart ${startTime('self')}`);
    await t.close();
    expect(fs.existsSync(lock)).toBe(false);
  });

  it('a lock whose pid now belongs to another program is stale; one that cannot be told apart names the file to delete', async () => {
    const dataDir = tempDataDir();
    const lock = path.join(dataDir, 'openorchestrator.lock');
    // The crashed process's pid, now taken by something else that is alive (started later).
    const other = spawn('sleep', ['30']);
    procs.push(other);
    await expect.poll(() => startTime(other.pid!)).toBeDefined();
    fs.writeFileSync(lock, `${other.pid}@${os.hostname()}\nstart 1`);
    const t = await startTestApp({ DATA_DIR: dataDir });
    expect(fs.readFileSync(lock, 'utf8')).toBe(`${process.pid}@${os.hostname()}\nstart ${startTime('self')}`);
    await t.close({ keepData: true });
    // A lock of an older version records no start time: a live pid cannot be told apart, so the
    // start is refused, saying which file to delete.
    fs.writeFileSync(lock, `${other.pid}@${os.hostname()}`);
    await expect(startTestApp({ DATA_DIR: dataDir })).rejects.toThrow(
      `DATA_DIR ${dataDir} is in use by another openOrchestrator process (pid ${other.pid}): stop it first, or give this one another DATA_DIR; if it is gone, delete ${lock}.`,
    );
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('SIGTERM stops promptly even while a browser watches a live log; the run ends interrupted', async () => {
    const dataDir = tempDataDir();
    const s1 = await startServer({ DATA_DIR: dataDir, ECHO_DELAY_MS: '60000' });
    procs.push(s1.proc);
    const bot = (await json(`${s1.url}/api/bots`, { method: 'POST', body: JSON.stringify({ name: 'Watched', prompt: 'slow' }) })).body;
    const run = (await json(`${s1.url}/api/bots/${bot.id}/run`, { method: 'POST', body: '{}' })).body;
    const stream = await fetch(`${s1.url}/api/runs/${run.id}/events`);
    expect(stream.status).toBe(200);
    const reader = stream.body!.getReader();
    await reader.read();

    const t0 = Date.now();
    s1.proc.kill('SIGTERM');
    expect(await s1.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(8000);
    await reader.cancel().catch(() => {});

    const t2 = await startTestApp({ DATA_DIR: dataDir });
    try {
      expect((await t2.api('GET', `/api/runs/${run.id}`)).body.status).toBe('interrupted');
    } finally {
      await t2.close();
    }
  });
});
