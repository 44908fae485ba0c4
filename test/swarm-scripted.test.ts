import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI, type FakeOpenAIReply } from './fakes/openai.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

// A planner and an evaluator on a real OpenAI-compatible model (the real SDK against the fake
// server, scripted with tool calls): the plan and the verdict come back through submit_plan and
// submit_verdict. Executors stay on echo, so the fake's replies are consumed in a fixed order
// (planner, then evaluator, round after round).

const plan = (title: string) => ({
  subtasks: [
    { id: 'draft', description: `Draft ${title}`, skills: ['writing'], depends_on: [] },
    { id: 'facts', description: `Collect facts for ${title}`, skills: [], depends_on: [] },
  ],
  summary: 'draft and facts in parallel',
});
const call = (name: string, args: unknown): FakeOpenAIReply => ({ kind: 'tool_calls', calls: [{ name, arguments: JSON.stringify(args) }] });
const text = (s: string): FakeOpenAIReply => ({ kind: 'text', text: s });
const planTurn = (title: string) => [call('submit_plan', plan(title)), text('Planned.')];
const verdictTurn = (verdict: 'pass' | 'fail', reasons: string[], redo: string[] = []) => [call('submit_verdict', { verdict, reasons, redo }), text('Judged.')];

describe('swarm tasks with a scripted model', () => {
  let t: TestApp;
  let fake: FakeOpenAI;
  beforeAll(async () => {
    fake = await startFakeOpenAI();
    t = await startTestApp({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.baseURL, ECHO_DELAY_MS: '10' });
    const roles = [
      ['Strategist', 'openai:gpt-4.1-mini', 'planner', []],
      ['Writer', 'echo', 'executor', ['writing']],
      ['Helper', 'echo', 'executor', []],
      ['Critic', 'openai:gpt-4.1-mini', 'evaluator', []],
    ] as const;
    for (const [name, model, role, skills] of roles) {
      const bot = await t.api('POST', '/api/bots', { name, prompt: `You are ${name}.`, model });
      expect(bot.status).toBe(201);
      expect((await t.api('POST', '/api/agents', { bot: bot.body.id, role, skills })).status).toBe(201);
    }
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  const task = async (id: number) => (await t.api('GET', `/api/tasks/${id}`)).body;
  const settled = async (id: number) => {
    await expect.poll(async () => (await task(id)).status, { timeout: 25_000, interval: 100 }).toMatch(/^(COMPLETED|FAILED)$/);
    return task(id);
  };
  const moves = async (id: number) => ((await t.api('GET', `/api/tasks/${id}/audit`)).body as any[]).filter((r) => r.event === 'task.status').map((r) => `${r.payload.from}→${r.payload.to}`);
  const toolNames = (i: number) => (fake.requests[i]!.body.tools ?? []).map((x: any) => x.function.name);

  it('the first verdict fails: the task is planned again with the reasons and then completes', async () => {
    const before = fake.requests.length;
    fake.enqueue(...planTurn('the intro'), ...verdictTurn('fail', ['The draft ignores the audience.']), ...planTurn('the intro, for beginners'), ...verdictTurn('pass', ['Clear and complete.']));
    const id = (await t.api('POST', '/api/tasks', { title: 'Write the intro', description: 'For the README.' })).body.id;
    const done = await settled(id);
    expect(done.status).toBe('COMPLETED');
    expect(done.round).toBe(2);
    expect(done.verdicts.map((v: any) => [v.round, v.verdict, v.reasons])).toEqual([
      [1, 'fail', ['The draft ignores the audience.']],
      [2, 'pass', ['Clear and complete.']],
    ]);
    expect(done.subtasks.map((s: any) => s.description)).toEqual(['Draft the intro, for beginners', 'Collect facts for the intro, for beginners']);
    // The skilled sub-task went to the executor with the skill.
    expect(done.subtasks[0].agent.name).toBe('Writer');
    expect(done.history.map((s: any) => [s.round, s.key])).toEqual([
      [1, 'draft'],
      [1, 'facts'],
    ]);
    expect(await moves(id)).toEqual(['CREATED→PLANNED', 'PLANNED→IN_PROGRESS', 'IN_PROGRESS→PLANNED', 'PLANNED→IN_PROGRESS', 'IN_PROGRESS→COMPLETED']);

    // Planner runs were offered submit_plan only, evaluator runs submit_verdict only.
    expect(fake.requests.length - before).toBe(8);
    expect(toolNames(before)).toEqual(['report_result', 'submit_plan']);
    expect(toolNames(before + 2)).toEqual(['report_result', 'submit_verdict']);
    // The second plan was asked for with the evaluator's reasons and the first outputs.
    const replan = JSON.stringify(fake.requests[before + 4]!.body.messages);
    expect(replan).toContain('The draft ignores the audience.');
    expect(replan).toContain('Sub-task draft of task');
    // The evaluator read every output.
    const judge = JSON.stringify(fake.requests[before + 2]!.body.messages);
    expect(judge).toContain('## draft — Draft the intro');
    expect(judge).toContain('## facts — Collect facts for the intro');
  });

  it('every verdict fails: after max_rounds the task is FAILED with the evaluator’s reasons', async () => {
    fake.enqueue(...planTurn('v1'), ...verdictTurn('fail', ['Too vague.']), ...planTurn('v2'), ...verdictTurn('fail', ['Still too vague.', 'No sources.']));
    const id = (await t.api('POST', '/api/tasks', { title: 'Summarize the roadmap', max_rounds: 2 })).body.id;
    const done = await settled(id);
    expect(done.status).toBe('FAILED');
    expect(done.round).toBe(2);
    expect(done.error).toBe('Still too vague.\nNo sources.');
    expect(done.verdicts.map((v: any) => v.verdict)).toEqual(['fail', 'fail']);
    expect((await moves(id)).at(-1)).toBe('IN_PROGRESS→FAILED');
    // Nothing more is asked of anyone.
    expect(done.assignments.filter((a: any) => a.status === 'offered' || a.status === 'working')).toEqual([]);
  });

  it('a failing verdict naming sub-tasks redoes only those, with the reasons as feedback', async () => {
    fake.enqueue(...planTurn('notes'), ...verdictTurn('fail', ['The facts are outdated.'], ['facts']), ...verdictTurn('pass', ['Now current.']));
    const id = (await t.api('POST', '/api/tasks', { title: 'Release notes' })).body.id;
    const done = await settled(id);
    expect(done.status).toBe('COMPLETED');
    const [draft1, facts1] = done.history;
    const [draft2, facts2] = done.subtasks;
    expect(draft2).toMatchObject({ key: 'draft', round: 2, run_id: draft1.run_id, output: draft1.output, feedback: null });
    expect(facts2).toMatchObject({ key: 'facts', round: 2, feedback: 'The facts are outdated.' });
    expect(facts2.run_id).not.toBe(facts1.run_id);
    expect((await t.api('GET', `/api/runs/${facts2.run_id}`)).body.input).toContain('The evaluator asked for this to be redone:\nThe facts are outdated.');
    expect(await moves(id)).toEqual(['CREATED→PLANNED', 'PLANNED→IN_PROGRESS', 'IN_PROGRESS→COMPLETED']);
  });

  it('a plan the schema refuses goes back to the model, which fixes it', async () => {
    const before = fake.requests.length;
    const cyclic = { subtasks: [{ id: 'a', description: 'A', depends_on: ['b'] }, { id: 'b', description: 'B', depends_on: ['a'] }] };
    const unskilled = { subtasks: [{ id: 'a', description: 'A', skills: ['juggling'] }] };
    fake.enqueue(call('submit_plan', cyclic), call('submit_plan', unskilled), ...planTurn('it'), ...verdictTurn('pass', ['Fine.']));
    const id = (await t.api('POST', '/api/tasks', { title: 'Fix it' })).body.id;
    expect((await settled(id)).status).toBe('COMPLETED');
    const toolResult = (i: number) => fake.requests[before + i]!.body.messages.filter((m: any) => m.role === 'tool').at(-1).content;
    expect(toolResult(1)).toBe('Error: invalid arguments: subtasks: the dependencies form a cycle: a → b → a');
    expect(toolResult(2)).toBe('Error: no executor has the skills juggling of sub-task a. Skills the executors have: writing.');
    expect(toolResult(3)).toBe('Plan accepted: 2 sub-tasks (draft, facts). End your turn now with a one-line summary.');
  });
});
