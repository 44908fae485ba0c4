import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestApp, tempDataDir, type TestApp } from './helpers/app.ts';
import { json, startServer } from './helpers/server.ts';

// The run engine as its users meet it: a queue that survives a crash, retries, a bounded queue,
// events heard after the fact, and pipelines that are the chain.
describe('run engine', () => {
  const procs: ChildProcess[] = [];
  const apps: TestApp[] = [];
  afterEach(async () => {
    for (const p of procs.splice(0)) if (p.exitCode === null) p.kill('SIGKILL');
    for (const t of apps.splice(0)) await t.close();
  });
  const app = async (env: Record<string, string> = {}) => {
    const t = await startTestApp(env);
    apps.push(t);
    return t;
  };

  it('kill -9 with 1 running and 3 queued runs: after the restart the 3 queued complete in their order, the running one is interrupted', async () => {
    const dataDir = tempDataDir();
    const s1 = await startServer({ DATA_DIR: dataDir, ECHO_DELAY_MS: '60000', MAX_CONCURRENT_RUNS: '1' });
    procs.push(s1.proc);
    const bot = (await json(`${s1.url}/api/bots`, { method: 'POST', body: JSON.stringify({ name: 'Queue-Bot', prompt: 'wait' }) })).body;
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) ids.push((await json(`${s1.url}/api/bots/${bot.id}/run`, { method: 'POST', body: JSON.stringify({ input: `job ${i}` }) })).body.id);
    await expect.poll(async () => (await json(`${s1.url}/api/runs/${ids[0]}`)).body.status, { timeout: 15_000 }).toBe('running');
    expect((await json(`${s1.url}/api/runs/${ids[3]}`)).body.status).toBe('queued');
    s1.proc.kill('SIGKILL');
    await s1.exited;

    const t = await app({ DATA_DIR: dataDir, MAX_CONCURRENT_RUNS: '1' });
    const first = await t.waitForRun(ids[0]!);
    expect(first.status).toBe('interrupted');
    const rest = [];
    for (const id of ids.slice(1)) rest.push(await t.waitForRun(id));
    expect(rest.map((r) => r.status)).toEqual(['completed', 'completed', 'completed']);
    // In their order: each started after the one before it had finished (one slot).
    for (let i = 1; i < rest.length; i++) expect(Date.parse(rest[i].started_at)).toBeGreaterThanOrEqual(Date.parse(rest[i - 1].finished_at));
    expect(rest.map((r) => r.output.split('\n')[1])).toEqual(['Input: job 1', 'Input: job 2', 'Input: job 3']);
  }, 60_000);

  it('kill -9 of a run of a bot with retries: after the restart it is tried again as attempt 2 of 2 and completes', async () => {
    const dataDir = tempDataDir();
    const s1 = await startServer({ DATA_DIR: dataDir, ECHO_DELAY_MS: '60000' });
    procs.push(s1.proc);
    const bot = (await json(`${s1.url}/api/bots`, { method: 'POST', body: JSON.stringify({ name: 'Retry-Bot', prompt: 'again', retries: 1 }) })).body;
    expect(bot.retries).toBe(1);
    const run = (await json(`${s1.url}/api/bots/${bot.id}/run`, { method: 'POST', body: '{}' })).body;
    await expect.poll(async () => (await json(`${s1.url}/api/runs/${run.id}`)).body.status, { timeout: 15_000 }).toBe('running');
    s1.proc.kill('SIGKILL');
    await s1.exited;

    const t = await app({ DATA_DIR: dataDir });
    const after = await t.waitForRun(run.id);
    expect(after).toMatchObject({ status: 'completed', attempt: 2, max_attempts: 2 });
    const lines = ((await t.api('GET', `/api/runs/${run.id}/logs`)).body as any[]).map((l) => l.text);
    expect(lines).toContain('attempt 1 of 2 interrupted: the process stopped while this run was active — attempt 2 now');
    expect(lines).toContain(`run #${run.id} started (manual) · attempt 2 of 2`);
    // One log across attempts: sequence numbers never repeat.
    const seqs = ((await t.api('GET', `/api/runs/${run.id}/logs`)).body as any[]).map((l) => l.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
  }, 60_000);

  it('a failing run is tried again with backoff, attempt k of n, and ends failed after the last attempt', async () => {
    const t = await app({ RUN_TIMEOUT_S: '1', ECHO_DELAY_MS: '5000', RUN_RETRY_BACKOFF_MS: '50' });
    const bot = (await t.api('POST', '/api/bots', { name: 'Flaky', prompt: 'too slow', retries: 2 })).body;
    const retrying: { attempt: number; delayMs: number }[] = [];
    t.engine.bus.on('run.retrying', (e) => retrying.push({ attempt: e.attempt, delayMs: e.delayMs }));
    const run = (await t.api('POST', `/api/bots/${bot.id}/run`, {})).body;
    const done = await t.waitForRun(run.id, 30_000);
    expect(done).toMatchObject({ status: 'failed', attempt: 3, max_attempts: 3, error: 'timed out after 1 s' });
    expect(retrying).toEqual([
      { attempt: 1, delayMs: 50 },
      { attempt: 2, delayMs: 100 },
    ]);
    const lines = ((await t.api('GET', `/api/runs/${run.id}/logs`)).body as any[]).map((l) => l.text);
    expect(lines.filter((l) => l.startsWith('attempt '))).toEqual([
      'attempt 1 of 3 failed: timed out after 1 s — attempt 2 in 50 ms',
      'attempt 2 of 3 failed: timed out after 1 s — attempt 3 in 100 ms',
    ]);
    const feed = (await t.api('GET', '/api/events?limit=20')).body as any[];
    expect(feed.filter((e) => e.run_id === run.id).map((e) => e.kind)).toEqual(['run.failed', 'run.retrying', 'run.retrying', 'run.queued']);
  });

  it('a cancelled run is never retried', async () => {
    const t = await app({ ECHO_DELAY_MS: '60000', RUN_RETRY_BACKOFF_MS: '10' });
    const bot = (await t.api('POST', '/api/bots', { name: 'Stopper', prompt: 'x', retries: 3 })).body;
    const run = (await t.api('POST', `/api/bots/${bot.id}/run`, {})).body;
    await expect.poll(async () => (await t.api('GET', `/api/runs/${run.id}`)).body.status, { timeout: 15_000 }).toBe('running');
    expect((await t.api('POST', `/api/runs/${run.id}/cancel`, {})).status).toBe(200);
    await t.engine.bus.flush();
    await new Promise((r) => setTimeout(r, 100)); // ten backoffs' worth: a retry would be queued by now
    expect((await t.api('GET', `/api/runs/${run.id}`)).body).toMatchObject({ status: 'cancelled', attempt: 1 });
  });

  it('past MAX_QUEUED_RUNS a run request gets 429 QUEUE_FULL and nothing is stored', async () => {
    const t = await app({ ECHO_DELAY_MS: '60000', MAX_CONCURRENT_RUNS: '1', MAX_QUEUED_RUNS: '2' });
    const bot = (await t.api('POST', '/api/bots', { name: 'Busy', prompt: 'x' })).body;
    const first = (await t.api('POST', `/api/bots/${bot.id}/run`, {})).body;
    await expect.poll(async () => (await t.api('GET', `/api/runs/${first.id}`)).body.status, { timeout: 15_000 }).toBe('running');
    expect((await t.api('POST', `/api/bots/${bot.id}/run`, {})).status).toBe(202);
    expect((await t.api('POST', `/api/bots/${bot.id}/run`, {})).status).toBe(202);
    const refused = await t.api('POST', `/api/bots/${bot.id}/run`, {});
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('QUEUE_FULL');
    expect(refused.body.error.message).toContain('MAX_QUEUED_RUNS');
    expect(((await t.api('GET', `/api/bots/${bot.id}/runs`)).body as any[]).length).toBe(3);
    expect(await t.engine.runner.queuePosition(first.id + 2)).toBe(2);
  });

  it('events are heard after the fact: a run.finished listener sees the committed row, outside the runner', async () => {
    const t = await app();
    const bot = (await t.api('POST', '/api/bots', { name: 'Quick', prompt: 'x' })).body;
    const heard = new Promise<{ status: string; stored: string; stack: string }>((resolve) =>
      t.engine.bus.on('run.finished', async (e) => {
        const stack = new Error().stack ?? '';
        resolve({ status: e.run.status, stored: (await t.engine.runner.get(e.runId)).status, stack });
      }),
    );
    await t.api('POST', `/api/bots/${bot.id}/run`, {});
    const h = await heard;
    expect(h).toMatchObject({ status: 'completed', stored: 'completed' });
    expect(h.stack).not.toMatch(/finishAttempt|RunAttempt|transitionRun/);
  });

  it('Researcher → Dev-Bot → Test-Bot with a Dev-Bot → Test-Bot connection runs Test-Bot once', async () => {
    const t = await app();
    const names = ['Researcher', 'Dev-Bot', 'Test-Bot'];
    const [researcher, dev, test] = await Promise.all(names.map(async (name) => (await t.api('POST', '/api/bots', { name, prompt: name })).body));
    expect((await t.api('POST', '/api/triggers', { source_bot: dev.id, event: 'completed', target_bot: test.id })).status).toBe(201);
    const p = (await t.api('POST', '/api/pipelines', { name: 'Chain', steps: [researcher.id, dev.id, test.id] })).body;
    const pr = (await t.api('POST', `/api/pipelines/${p.id}/run`, { input: 'go' })).body;
    await expect.poll(async () => (await t.api('GET', `/api/pipeline-runs/${pr.id}`)).body.status, { timeout: 20_000 }).toBe('completed');
    await t.engine.bus.flush();
    const testRuns = (await t.api('GET', `/api/bots/${test.id}/runs`)).body as any[];
    expect(testRuns.map((r) => r.trigger)).toEqual([`pipeline:${p.id}`]);
  });
});
