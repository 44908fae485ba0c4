import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, tempDataDir, type TestApp } from './helpers/app.ts';

// Swarm tasks offline: the echo model plays planner (a fixed plan of two sub-tasks), executors
// and evaluator (a passing verdict), so a whole task runs through the REST API with no key.

describe('swarm tasks with the offline echo model', () => {
  let t: TestApp;
  const ids: Record<string, number> = {};
  beforeAll(async () => {
    t = await startTestApp({ ECHO_DELAY_MS: '150' });
    for (const [name, role, skills] of [
      ['Planner', 'planner', []],
      ['Exec-A', 'executor', ['writing']],
      ['Exec-B', 'executor', ['writing', 'research']],
      ['Judge', 'evaluator', []],
    ] as const) {
      const bot = (await t.api('POST', '/api/bots', { name, prompt: `You are ${name}.` })).body;
      ids[name] = bot.id;
      const agent = await t.api('POST', '/api/agents', { bot: name.toLowerCase(), role, skills });
      expect(agent.status).toBe(201);
      expect(agent.body).toMatchObject({ name, role, skills, kind: 'bot', bot_id: bot.id, online: true, load: 0 });
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  const task = async (id: number) => (await t.api('GET', `/api/tasks/${id}`)).body;
  const audit = async (id: number) => (await t.api('GET', `/api/tasks/${id}/audit`)).body as any[];

  it('CREATED → PLANNED → IN_PROGRESS → COMPLETED → ARCHIVED, two sub-tasks run by two executors in parallel, and a verdict', async () => {
    const created = await t.api('POST', '/api/tasks', { title: 'Write a launch note', description: 'Two short paragraphs.', priority: 'high' });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`/api/tasks/${created.body.id}`);
    expect(created.body).toMatchObject({ title: 'Write a launch note', status: 'CREATED', priority: 'high', round: 1, max_rounds: 2, created_by: 'api', subtasks: [], verdict: null });
    const id = created.body.id;

    await expect.poll(async () => (await task(id)).status, { timeout: 20_000, interval: 100 }).toBe('COMPLETED');
    const done = await task(id);
    expect(done.phase).toBe('done');
    expect(done.subtasks.map((s: any) => [s.key, s.status])).toEqual([
      ['s1', 'completed'],
      ['s2', 'completed'],
    ]);
    expect(done.subtasks[0].description).toBe('Part 1 of 2 of "Write a launch note": work out the first half.');
    // Two executors, one sub-task each.
    expect(new Set(done.subtasks.map((s: any) => s.agent.name))).toEqual(new Set(['Exec-A', 'Exec-B']));
    expect(done.verdict).toMatchObject({ round: 1, verdict: 'pass', reasons: ['echo: every sub-task returned an output'], agent_name: 'Judge' });
    expect(done.output).toContain('## s1 — Part 1 of 2');

    // Each sub-task is a run of its executor bot, started by the task, and the two overlapped.
    const [r1, r2] = await Promise.all(done.subtasks.map(async (s: any) => (await t.api('GET', `/api/runs/${s.run_id}`)).body));
    for (const r of [r1, r2]) expect(r).toMatchObject({ trigger: `task:${id}`, status: 'completed' });
    expect(r1.output).toContain('Sub-task s1 of task');
    const ms = (iso: string) => new Date(iso).getTime();
    expect(ms(r1.started_at)).toBeLessThan(ms(r2.finished_at));
    expect(ms(r2.started_at)).toBeLessThan(ms(r1.finished_at));

    // The planner's run handed in its plan through submit_plan; the evaluator's its verdict.
    const turns = done.assignments.map((a: any) => [a.kind, a.agent_name, a.status]);
    expect(turns).toEqual(
      expect.arrayContaining([
        ['plan', 'Planner', 'completed'],
        ['execute', 'Exec-A', 'completed'],
        ['execute', 'Exec-B', 'completed'],
        ['evaluate', 'Judge', 'completed'],
      ]),
    );
    const planRun = done.assignments.find((a: any) => a.kind === 'plan').run_id;
    const planLog = ((await t.api('GET', `/api/runs/${planRun}/logs`)).body as any[]).map((l) => l.text).join('\n');
    expect(planLog).toMatch(/🔧 submit_plan .* ok/);
    expect(planLog).toContain('Plan accepted: 2 sub-tasks (s1, s2)');

    const archived = await t.api('POST', `/api/tasks/${id}/archive`);
    expect(archived.status).toBe(200);
    expect(archived.body.status).toBe('ARCHIVED');

    const moves = (await audit(id)).filter((r) => r.event === 'task.status').map((r) => `${r.payload.from}→${r.payload.to}`);
    expect(moves).toEqual(['CREATED→PLANNED', 'PLANNED→IN_PROGRESS', 'IN_PROGRESS→COMPLETED', 'COMPLETED→ARCHIVED']);
    const events = (await audit(id)).map((r) => r.event);
    expect(events[0]).toBe('task.created');
    for (const e of ['task.planned', 'assignment.created', 'result', 'verdict']) expect(events).toContain(e);

    // The state machine refuses what it does not allow, with a clear error.
    const again = await t.api('POST', `/api/tasks/${id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'TASK_TRANSITION_INVALID', message: `Task #${id} cannot go from ARCHIVED to CANCELLED; from ARCHIVED it can only go to nowhere (it is archived).` });
    expect((await t.api('GET', '/api/tasks')).body.map((x: any) => x.id)).not.toContain(id);
    expect((await t.api('GET', '/api/tasks?archived=1')).body.map((x: any) => x.id)).toContain(id);
  });
});

describe('swarm tasks across a restart', () => {
  it('runs cut off by the stop are redone after the start, and no round is lost', async () => {
    const dataDir = tempDataDir();
    let t = await startTestApp({ DATA_DIR: dataDir, ECHO_DELAY_MS: '500' });
    try {
      for (const [name, role] of [['Planner', 'planner'], ['Exec-A', 'executor'], ['Exec-B', 'executor'], ['Judge', 'evaluator']] as const) {
        const bot = (await t.api('POST', '/api/bots', { name, prompt: name })).body;
        await t.api('POST', '/api/agents', { bot: bot.id, role });
      }
      const id = (await t.api('POST', '/api/tasks', { title: 'Survive' })).body.id;
      await expect
        .poll(async () => (await t.api('GET', `/api/tasks/${id}`)).body.subtasks.map((s: any) => s.status).join(','), { timeout: 20_000, interval: 50 })
        .toBe('running,running');
      await t.close({ keepData: true });

      t = await startTestApp({ DATA_DIR: dataDir, ECHO_DELAY_MS: '10' });
      await expect.poll(async () => (await t.api('GET', `/api/tasks/${id}`)).body.status, { timeout: 20_000 }).toBe('COMPLETED');
      const done = (await t.api('GET', `/api/tasks/${id}`)).body;
      expect(done.round).toBe(1);
      const executes = done.assignments.filter((a: any) => a.kind === 'execute');
      expect(executes.map((a: any) => a.status)).toEqual(['expired', 'expired', 'completed', 'completed']);
      expect(executes[0].error).toMatch(/^run #\d+ was interrupted: the process stopped while this run was active$/);
    } finally {
      await t.close();
    }
  });
});
