import { afterEach, describe, expect, it } from 'vitest';
import { pidAlive, startTestApp, type TestApp } from './helpers/app.ts';

// A person presses Run: a child process does the work, the log and output come back, the run ends.
describe('runs', () => {
  const apps: TestApp[] = [];
  const start = async (env: Record<string, string> = {}) => {
    const t = await startTestApp(env);
    apps.push(t);
    return t;
  };
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((t) => t.close()));
  });

  it('an echo run goes queued → running → completed, logs lines, saves its output as a result, counts tokens', async () => {
    const t = await start();
    const bot = (await t.api('POST', '/api/bots', { name: 'Echo', prompt: 'Say <hello> & bye' })).body;
    const queued = await t.api('POST', `/api/bots/${bot.id}/run`, { input: 'from the test' });
    expect(queued.status).toBe(202);
    expect(queued.body).toMatchObject({ status: 'queued', trigger: 'manual', input: 'from the test', bot_id: bot.id });

    const run = await t.waitForRun(queued.body.id);
    expect(run.status).toBe('completed');
    expect(run.output).toBe('Prompt: Say <hello> & bye\nInput: from the test');
    expect(run.tokens_in).toBe(7); // words of prompt + input
    expect(run.tokens_out).toBe(9);
    expect(run.duration_ms).toBeGreaterThan(0);
    expect(run.started_at).not.toBeNull();
    expect(run.finished_at).not.toBeNull();

    const logs = (await t.api('GET', `/api/runs/${run.id}/logs`)).body.map((l: any) => l.text);
    expect(logs).toEqual(
      expect.arrayContaining(['echo: reading the prompt (17 characters)', 'echo: composing the answer', 'echo: done', '1 result found, 1 new', 'completed']),
    );
    const results = (await t.api('GET', `/api/bots/${bot.id}/results`)).body;
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ run_id: run.id, title: 'Prompt: Say <hello> & bye', content: run.output, is_new: true });

    const runs = (await t.api('GET', `/api/bots/${bot.id}/runs`)).body;
    expect(runs.map((r: any) => r.id)).toEqual([run.id]);
    const summary = (await t.api('GET', `/api/bots/${bot.id}`)).body;
    expect(summary).toMatchObject({ result_count: 1, run_count: 1, last_run_status: 'completed', status: 'idle' });
  });

  it('the same output twice is one result, not two', async () => {
    const t = await start();
    const bot = (await t.api('POST', '/api/bots', { name: 'Same', prompt: 'always the same' })).body;
    for (let i = 0; i < 2; i++) {
      const r = await t.api('POST', `/api/bots/${bot.id}/run`);
      await t.waitForRun(r.body.id);
    }
    expect((await t.api('GET', `/api/bots/${bot.id}/results`)).body).toHaveLength(1);
    const last = (await t.api('GET', `/api/bots/${bot.id}/runs`)).body[0];
    const logs = (await t.api('GET', `/api/runs/${last.id}/logs`)).body.map((l: any) => l.text);
    expect(logs).toContain('1 result found, 0 new');
  });

  it('a run past RUN_TIMEOUT_S is killed and fails with "timed out after N s"', async () => {
    const t = await start({ RUN_TIMEOUT_S: '1', ECHO_DELAY_MS: '5000' });
    const bot = (await t.api('POST', '/api/bots', { name: 'Slow', prompt: 'take your time' })).body;
    let pid = 0;
    t.engine.bus.on('run.started', (e) => (pid = e.pid));
    const r = await t.api('POST', `/api/bots/${bot.id}/run`);
    const run = await t.waitForRun(r.body.id, 10_000);
    expect(run.status).toBe('failed');
    expect(run.error).toBe('timed out after 1 s');
    expect(pid).toBeGreaterThan(0);
    await expect.poll(() => pidAlive(pid), { timeout: 5000 }).toBe(false);
  });

  it('cancelling a running run kills its child; the run ends cancelled', async () => {
    const t = await start({ ECHO_DELAY_MS: '10000' });
    const bot = (await t.api('POST', '/api/bots', { name: 'Stoppable', prompt: 'run long' })).body;
    const started = new Promise<number>((resolve) => t.engine.bus.on('run.started', (e) => resolve(e.pid)));
    const r = await t.api('POST', `/api/bots/${bot.id}/run`);
    const pid = await started;
    // Wait for the child to be really working (its first log line), not just forked.
    await expect.poll(async () => (await t.api('GET', `/api/runs/${r.body.id}/logs`)).body.length, { timeout: 10_000 }).toBeGreaterThan(2);
    expect(pidAlive(pid)).toBe(true);

    const cancelled = await t.api('POST', `/api/runs/${r.body.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    expect(pidAlive(pid)).toBe(false);

    const again = await t.api('POST', `/api/runs/${r.body.id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('RUN_NOT_ACTIVE');
  });

  it('at most MAX_CONCURRENT_RUNS children at once; the rest wait in order', async () => {
    const t = await start({ MAX_CONCURRENT_RUNS: '1', ECHO_DELAY_MS: '100' });
    const bot = (await t.api('POST', '/api/bots', { name: 'Busy', prompt: 'one at a time' })).body;
    const order: number[] = [];
    let maxRunning = 0;
    t.engine.bus.on('run.started', (e) => {
      order.push(e.runId);
      maxRunning = Math.max(maxRunning, t.engine.runner.runningCount);
    });
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await t.api('POST', `/api/bots/${bot.id}/run`, { input: `#${i}` })).body.id);
    expect((await t.api('GET', `/api/runs/${ids[2]}`)).body.status).toBe('queued');
    for (const id of ids) expect((await t.waitForRun(id)).status).toBe('completed');
    expect(order).toEqual(ids);
    expect(maxRunning).toBe(1);
  });

  it('a queued run can be cancelled before it starts', async () => {
    const t = await start({ MAX_CONCURRENT_RUNS: '1', ECHO_DELAY_MS: '300' });
    const bot = (await t.api('POST', '/api/bots', { name: 'Line', prompt: 'wait' })).body;
    const first = (await t.api('POST', `/api/bots/${bot.id}/run`)).body;
    const second = (await t.api('POST', `/api/bots/${bot.id}/run`)).body;
    const res = await t.api('POST', `/api/runs/${second.id}/cancel`);
    expect(res.body).toMatchObject({ status: 'cancelled', started_at: null });
    expect((await t.waitForRun(first.id)).status).toBe('completed');
  });

  it("many runs at once all complete: a child's last message is never lost to its exit", async () => {
    const t = await start({ MAX_CONCURRENT_RUNS: '8', ECHO_DELAY_MS: '0' });
    const bot = (await t.api('POST', '/api/bots', { name: 'Swarm', prompt: 'be quick' })).body;
    const ids: number[] = [];
    for (let i = 0; i < 48; i++) ids.push((await t.api('POST', `/api/bots/${bot.id}/run`, { input: `#${i}` })).body.id);
    const ends = [];
    for (const id of ids) ends.push(await t.waitForRun(id, 60_000));
    expect(ends.filter((r) => r.status !== 'completed').map((r) => `${r.id}: ${r.status} ${r.error}`)).toEqual([]);
  });
});
