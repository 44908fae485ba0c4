import { afterEach, describe, expect, it } from 'vitest';
import { pidAlive, startTestApp, type TestApp } from './helpers/app.ts';

// Run processes: one per bot, warm between that bot's runs, never shared with another bot.
describe('run processes', () => {
  const apps: TestApp[] = [];
  afterEach(async () => {
    for (const t of apps.splice(0)) await t.close();
  });
  const app = async (env: Record<string, string> = {}) => {
    const t = await startTestApp(env);
    apps.push(t);
    return t;
  };
  const pids = (t: TestApp) => {
    const byRun = new Map<number, number>();
    t.engine.bus.on('run.started', (e) => byRun.set(e.runId, e.pid));
    return byRun;
  };

  it("a bot's runs reuse its warm process, several at once; another bot's runs never share it", async () => {
    const t = await app();
    const seen = pids(t);
    const a = (await t.api('POST', '/api/bots', { name: 'Alpha', prompt: 'a' })).body;
    const b = (await t.api('POST', '/api/bots', { name: 'Beta', prompt: 'b' })).body;
    const runA = [];
    for (let i = 0; i < 3; i++) runA.push((await t.api('POST', `/api/bots/${a.id}/run`, { input: `${i}` })).body.id);
    const runB = (await t.api('POST', `/api/bots/${b.id}/run`, {})).body.id;
    for (const id of [...runA, runB]) expect((await t.waitForRun(id)).status).toBe('completed');
    const later = (await t.api('POST', `/api/bots/${a.id}/run`, {})).body.id;
    expect((await t.waitForRun(later)).status).toBe('completed');
    await t.engine.bus.flush();
    const alphaPids = new Set([...runA, later].map((id) => seen.get(id)));
    expect(alphaPids.size).toBe(1);
    expect(alphaPids.has(seen.get(runB))).toBe(false);
    expect(t.engine.runner.processCount).toBe(2);
  });

  it('cancelling one of two runs on a process stops that run only; the other completes', async () => {
    const t = await app({ ECHO_DELAY_MS: '400' });
    const seen = pids(t);
    const bot = (await t.api('POST', '/api/bots', { name: 'Twin', prompt: 'x' })).body;
    const one = (await t.api('POST', `/api/bots/${bot.id}/run`, {})).body.id;
    const two = (await t.api('POST', `/api/bots/${bot.id}/run`, {})).body.id;
    await expect.poll(async () => (await t.api('GET', `/api/runs/${two}`)).body.status, { timeout: 15_000 }).toBe('running');
    expect((await t.api('POST', `/api/runs/${one}/cancel`, {})).body.status).toBe('cancelled');
    expect((await t.waitForRun(two)).status).toBe('completed');
    await t.engine.bus.flush();
    expect(seen.get(one)).toBe(seen.get(two));
    expect(pidAlive(seen.get(two)!)).toBe(true);
  });

  it('with MAX_RUN_PROCESSES=1 a second bot waits for the first to finish, then its run starts on a new process', async () => {
    const t = await app({ MAX_RUN_PROCESSES: '1', ECHO_DELAY_MS: '200' });
    const seen = pids(t);
    const a = (await t.api('POST', '/api/bots', { name: 'First', prompt: 'a' })).body;
    const b = (await t.api('POST', '/api/bots', { name: 'Second', prompt: 'b' })).body;
    const runA = (await t.api('POST', `/api/bots/${a.id}/run`, {})).body.id;
    await expect.poll(async () => (await t.api('GET', `/api/runs/${runA}`)).body.status, { timeout: 15_000 }).toBe('running');
    const runB = (await t.api('POST', `/api/bots/${b.id}/run`, {})).body.id;
    expect((await t.api('GET', `/api/runs/${runB}`)).body.status).toBe('queued');
    const doneA = await t.waitForRun(runA);
    const doneB = await t.waitForRun(runB);
    expect(Date.parse(doneB.started_at)).toBeGreaterThanOrEqual(Date.parse(doneA.finished_at));
    await t.engine.bus.flush();
    expect(seen.get(runB)).not.toBe(seen.get(runA));
    expect(pidAlive(seen.get(runA)!)).toBe(false);
    expect(t.engine.runner.processCount).toBe(1);
  });

  it('a process without runs exits after RUN_WORKER_IDLE_MS', async () => {
    const t = await app({ RUN_WORKER_IDLE_MS: '300' });
    const seen = pids(t);
    const bot = (await t.api('POST', '/api/bots', { name: 'Sleepy', prompt: 'x' })).body;
    const run = (await t.api('POST', `/api/bots/${bot.id}/run`, {})).body.id;
    await t.waitForRun(run);
    await t.engine.bus.flush();
    await expect.poll(() => pidAlive(seen.get(run)!), { timeout: 10_000 }).toBe(false);
    expect(t.engine.runner.processCount).toBe(0);
  });
});
