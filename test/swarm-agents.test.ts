import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runHarness, simulatedEvaluator, simulatedExecutor, simulatedPlanner } from '../src/sdk/harness.ts';
import { SwarmAgent, SwarmApiError } from '../src/sdk/index.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

// External bots take part through the REST API and the SDK (src/sdk): they register, long-poll
// for their turns, keep their lease with heartbeats and report; one that goes silent loses its
// turn to another when the lease runs out.

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const EXECUTOR = 'src/sdk/examples/executor.ts';

/** The sample executor in its own process, with its JSON-line events. */
function startExecutor(url: string, args: string[]) {
  const proc = spawn(process.execPath, ['--import', 'tsx', EXECUTOR, '--url', url, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: any[] = [];
  const waiters: (() => void)[] = [];
  readline.createInterface({ input: proc.stdout! }).on('line', (l) => {
    try {
      events.push(JSON.parse(l));
    } catch {
      events.push({ event: 'text', text: l });
    }
    for (const w of waiters.splice(0)) w();
  });
  let stderr = '';
  proc.stderr!.on('data', (c) => (stderr += c));
  /** Resolves with the first event matching, waiting for it (bounded). */
  const next = async (pred: (e: any) => boolean, timeoutMs = 20_000) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const hit = events.find(pred);
      if (hit) return hit;
      if (proc.exitCode !== null || Date.now() > until) throw new Error(`no such event; events: ${JSON.stringify(events)}; stderr: ${stderr}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 200);
      });
    }
  };
  return { proc, events, next };
}

describe('external agents through the SDK', () => {
  let t: TestApp;
  const procs: ChildProcess[] = [];
  beforeAll(async () => {
    t = await startTestApp({ SWARM_LEASE_MS: '3000', ECHO_DELAY_MS: '10' });
  });
  afterEach(() => {
    for (const p of procs.splice(0)) if (p.exitCode === null) p.kill('SIGKILL');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('the harness runs a whole task with simulated bots: a chained plan, two executors, a verdict', async () => {
    const { task, agents } = await runHarness(
      { baseUrl: t.url },
      [
        simulatedPlanner('Sim planner', [{ description: 'Outline', skills: ['outline'] }, { description: 'Write', skills: ['writing'] }], true),
        simulatedExecutor('Sim outliner', ['outline']),
        simulatedExecutor('Sim writer', ['writing']),
        simulatedEvaluator('Sim evaluator'),
      ],
      { title: 'Harness task', description: 'Outline, then write.' },
    );
    expect(task.status).toBe('COMPLETED');
    expect(task.subtasks.map((s) => [s.key, s.agent?.name, s.output])).toEqual([
      ['s1', 'Sim outliner', 'Sim outliner: Outline'],
      // s2 waited for s1 and was given its output.
      ['s2', 'Sim writer', 'Sim writer: Write [after s1: Sim outliner: Outline]'],
    ]);
    expect(task.verdict).toMatchObject({ verdict: 'pass', reasons: ['Sim evaluator: all 2 outputs present'] });
    const actors = new Set(((await t.api('GET', `/api/tasks/${task.id}/audit`)).body as any[]).map((r) => r.actor));
    for (const a of agents) expect([...actors].some((x) => x.startsWith(`agent:${a.id} `))).toBe(true);
    // The harness removed its agents again, and their keys with them.
    expect((await t.api('GET', '/api/agents')).body).toEqual([]);
    await expect(agents[0]!.next(0)).rejects.toMatchObject({ status: 401 });
  });

  it('an executor in another process registers, takes a sub-task and reports; killed mid-work, its sub-task goes to another executor after the lease', async () => {
    for (const [name, role] of [['Planner', 'planner'], ['Judge', 'evaluator']] as const) {
      const bot = (await t.api('POST', '/api/bots', { name, prompt: name })).body;
      expect((await t.api('POST', '/api/agents', { bot: bot.id, role })).status).toBe(201);
    }
    const first = startExecutor(t.url, ['--name', 'First', '--work-ms', '100', '--hang-on', '2']);
    procs.push(first.proc);
    const reg = await first.next((e) => e.event === 'registered');
    expect(reg.lease_ms).toBe(3000);
    const id = (await t.api('POST', '/api/tasks', { title: 'Relay' })).body.id;

    const reported = await first.next((e) => e.event === 'reported');
    expect(reported).toMatchObject({ task: id, subtask: 's1' });
    const took = await first.next((e) => e.event === 'took' && e.subtask === 's2');
    // Heartbeats keep the stalled turn First's while the process lives, longer than one lease.
    await new Promise((r) => setTimeout(r, 4000));
    expect((await t.api('GET', `/api/tasks/${id}`)).body.subtasks[1]).toMatchObject({ status: 'running', agent: { name: 'First' } });
    first.proc.kill('SIGKILL');

    const second = startExecutor(t.url, ['--name', 'Second', '--work-ms', '100']);
    procs.push(second.proc);
    await second.next((e) => e.event === 'reported', 20_000);
    await expect.poll(async () => (await t.api('GET', `/api/tasks/${id}`)).body.status, { timeout: 15_000 }).toBe('COMPLETED');

    const done = (await t.api('GET', `/api/tasks/${id}`)).body;
    expect(done.subtasks.map((s: any) => [s.key, s.agent.name, s.output])).toEqual([
      ['s1', 'First', 'First did: Part 1 of 2 of "Relay": work out the first half.'],
      ['s2', 'Second', 'Second did: Part 2 of 2 of "Relay": work out the second half.'],
    ]);
    const s2 = done.subtasks[1];
    expect(done.assignments.filter((a: any) => a.subtask_id === s2.id).map((a: any) => [a.agent_name, a.status])).toEqual([
      ['First', 'expired'],
      ['Second', 'completed'],
    ]);
    const expiry = ((await t.api('GET', `/api/tasks/${id}/audit`)).body as any[]).find((r) => r.event === 'assignment.expired');
    expect(expiry).toMatchObject({ actor: 'system', payload: { assignment_id: took.assignment, kind: 'execute', error: 'the lease of 3000 ms passed without a word from the agent' } });
  });

  it('an agent acts only with its own key, only on its own turns, and not after its lease', async () => {
    const a = await SwarmAgent.register({ baseUrl: t.url, name: 'Quiet', role: 'executor' });
    const b = await SwarmAgent.register({ baseUrl: t.url, name: 'Other', role: 'executor' });
    expect((await t.api('GET', `/api/agents/${a.id}/assignments/next`)).status).toBe(401);
    const wrong = await t.api('GET', `/api/agents/${a.id}/assignments/next`, undefined, { 'x-api-key': b.key });
    expect(wrong.status).toBe(403);
    expect(wrong.body.error.code).toBe('FORBIDDEN_SCOPE');
    // Nothing offered: the long poll answers 204 after its wait.
    const started = Date.now();
    expect(await a.next(0.3)).toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);

    const id = (await t.api('POST', '/api/tasks', { title: 'Quiet one' })).body.id;
    const turn = await a.next(10);
    // (Which of the two sub-tasks depends on who else is online: the least busy executor gets the first.)
    expect(turn).toMatchObject({ kind: 'execute', task_id: id, subtask: { key: expect.stringMatching(/^s[12]$/) }, task: { title: 'Quiet one' } });
    expect(turn!.input).toContain(`Sub-task ${turn!.subtask!.key} of task #${id} "Quiet one"`);
    await expect(b.report(turn!, { output: 'not mine' })).rejects.toMatchObject({ status: 404, code: 'ASSIGNMENT_NOT_FOUND' });
    const bad = await t.api('POST', `/api/tasks/${id}/results`, { assignment_id: 'x' }, { 'x-api-key': a.key });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('VALIDATION_FAILED');
    // Silent past the lease: the turn is taken back, a late report is refused.
    await expect.poll(async () => (await t.api('GET', `/api/tasks/${id}`)).body.assignments.find((x: any) => x.id === turn!.id).status, { timeout: 10_000 }).toBe('expired');
    const late = await a.report(turn!, { output: 'too late' }).catch((e: SwarmApiError) => e);
    expect(late).toMatchObject({ status: 409, code: 'ASSIGNMENT_NOT_ACTIVE', message: `Assignment #${turn!.id} is no longer open: its lease ran out and the work went back to the pool.` });
    expect((await a.heartbeat()).assignments).not.toContain(turn!.id);
    const cancelled = await t.api('POST', `/api/tasks/${id}/cancel`);
    expect(cancelled.body.status).toBe('CANCELLED');
  });
});
