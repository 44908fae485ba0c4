import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../src/engine/db/database.ts';
import { agents, tasks } from '../src/engine/db/schema.ts';
import { AssignmentStore } from '../src/engine/swarm/assignments.ts';
import { redact, redactionRules } from '../src/engine/swarm/redaction.ts';
import { planSchema, verdictSchema } from '../src/engine/swarm/schemas.ts';
import { assertTransition, canTransition, TASK_STATUSES } from '../src/engine/swarm/task-status.ts';
import { echoPlan } from '../src/engine/tools/swarm.ts';
import { tempDataDir } from './helpers/app.ts';

// The pure parts of swarm tasks, next to themselves: the state machine, the plan and verdict
// schemas, redaction, the echo plan, and leases on an injected clock.

describe('task state machine', () => {
  it('allows exactly the moves of the diagram', () => {
    const allowed = TASK_STATUSES.flatMap((from) => TASK_STATUSES.filter((to) => canTransition(from, to)).map((to) => `${from}→${to}`));
    expect(allowed).toEqual([
      'CREATED→PLANNED',
      'CREATED→FAILED',
      'CREATED→CANCELLED',
      'PLANNED→IN_PROGRESS',
      'PLANNED→FAILED',
      'PLANNED→CANCELLED',
      'IN_PROGRESS→PLANNED',
      'IN_PROGRESS→COMPLETED',
      'IN_PROGRESS→FAILED',
      'IN_PROGRESS→CANCELLED',
      'COMPLETED→ARCHIVED',
      'FAILED→ARCHIVED',
      'CANCELLED→ARCHIVED',
    ]);
    expect(() => assertTransition(7, 'CREATED', 'COMPLETED')).toThrow('Task #7 cannot go from CREATED to COMPLETED; from CREATED it can only go to PLANNED, FAILED, CANCELLED.');
  });
});

describe('plan and verdict schemas', () => {
  const messages = (r: { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } }) => r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];

  it('a plan has unique ids, dependencies inside the plan and no cycle', () => {
    expect(planSchema.parse({ subtasks: [{ id: 's1', description: 'A', skills: [' Research '] }] })).toEqual({ subtasks: [{ id: 's1', description: 'A', skills: ['research'], depends_on: [] }] });
    expect(messages(planSchema.safeParse({ subtasks: [] }))).toEqual(['subtasks: a plan has at least one sub-task']);
    expect(
      messages(
        planSchema.safeParse({
          subtasks: [
            { id: 'a', description: 'A', depends_on: ['a', 'zz'] },
            { id: 'a', description: 'again' },
          ],
        }),
      ),
    ).toEqual(['subtasks.1.id: id "a" is used twice', 'subtasks.0.depends_on.0: "a" cannot depend on itself', 'subtasks.0.depends_on.1: "zz" is not a sub-task of this plan']);
    expect(
      messages(
        planSchema.safeParse({
          subtasks: [
            { id: 'a', description: 'A', depends_on: ['c'] },
            { id: 'b', description: 'B', depends_on: ['a'] },
            { id: 'c', description: 'C', depends_on: ['b'] },
          ],
        }),
      ),
    ).toEqual(['subtasks: the dependencies form a cycle: a → c → b → a']);
  });

  it('a failing verdict needs a reason', () => {
    expect(verdictSchema.parse({ verdict: 'pass' })).toEqual({ verdict: 'pass', reasons: [], redo: [] });
    expect(messages(verdictSchema.safeParse({ verdict: 'fail' }))).toEqual(['reasons: a failing verdict needs at least one reason']);
    expect(messages(verdictSchema.safeParse({ verdict: 'maybe', reasons: ['x'] }))[0]).toMatch(/^verdict: /);
  });

  it('the echo planner always plans the same two independent sub-tasks, named after the title', () => {
    const plan = echoPlan('Task #3: Ship it\nPriority normal');
    expect(planSchema.parse(plan)).toEqual(plan);
    expect(plan.subtasks.map((s) => [s.id, s.description, s.depends_on])).toEqual([
      ['s1', 'Part 1 of 2 of "Ship it": work out the first half.', []],
      ['s2', 'Part 2 of 2 of "Ship it": work out the second half.', []],
    ]);
    expect(echoPlan('Task #3: Ship it')).toEqual(plan);
  });
});

describe('redaction', () => {
  const rules = redactionRules();
  it.each([
    ['sk-live-abc123def456', '[REDACTED:api_key]'],
    ['key oo_AbCdEfGhIjKlMnOpQrStUv here', 'key [REDACTED:api_key] here'],
    ['ghp_0123456789abcdefABCDEF', '[REDACTED:api_key]'],
    ['AKIAABCDEFGHIJKLMNOP', '[REDACTED:api_key]'],
    ['Authorization: Bearer eyJhbGciOi.x-y', 'Authorization: [REDACTED:bearer_token]'],
    ['password=hunter2 and more', '[REDACTED:password] and more'],
    ['write to jane.doe+tag@mail.example.co.uk today', 'write to [REDACTED:email] today'],
    ['skills: sk-1 is short, nothing to see', 'skills: sk-1 is short, nothing to see'],
  ])('%s', (input, output) => {
    expect(redact({ text: input }, rules).value).toEqual({ text: output });
  });
  it('never changes its input, and lists array paths', () => {
    const input = { list: ['ok', 'x@y.example'], deep: { Api_Key: 'abc' } };
    const out = redact(input, rules);
    expect(input.list[1]).toBe('x@y.example');
    expect(out).toEqual({ value: { list: ['ok', '[REDACTED:email]'], deep: { Api_Key: '[REDACTED]' } }, redactedFields: ['list[1]', 'deep.Api_Key'] });
  });
});

describe('leases on an injected clock', () => {
  const dir = tempDataDir();
  let db: Db;
  beforeAll(async () => {
    db = await openDatabase(dir);
  });
  afterAll(() => {
    db?.$client.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('an offer or a turn expires when its lease passes without a poll or heartbeat', async () => {
    let now = 1_000_000;
    const store = new AssignmentStore(db, { leaseMs: 1000, now: () => now });
    const [task] = await db.insert(tasks).values({ title: 't', status: 'IN_PROGRESS', phase: 'executing', createdBy: 'test', createdAt: now, updatedAt: now }).returning();
    const [agent] = await db.insert(agents).values({ name: 'ext', role: 'executor', kind: 'external', createdAt: now }).returning();
    const offered = await store.insert({ taskId: task!.id, round: 1, kind: 'execute', agentId: agent!.id, subtaskId: null, input: 'do it', external: true });
    expect(offered).toMatchObject({ status: 'offered', leaseExpiresAt: now + 1000 });
    now += 1000;
    expect(await store.expired()).toEqual([]);
    now += 1;
    expect((await store.expired()).map((a) => a.id)).toEqual([offered.id]);

    // Polling claims it and renews the lease; heartbeats renew it again.
    const working = (await store.claimNext(agent!.id))!;
    expect(working).toMatchObject({ id: offered.id, status: 'working', startedAt: now, leaseExpiresAt: now + 1000 });
    now += 900;
    expect((await store.renew(agent!.id)).map((a) => a.leaseExpiresAt)).toEqual([now + 1000]);
    now += 1000;
    expect(await store.expired()).toEqual([]);
    now += 1;
    expect(await store.settle(offered.id, 'expired', { error: 'silent' })).toMatchObject({ status: 'expired', finishedAt: now });
    // An ended assignment is settled once only, and is no one's work any more.
    expect(await store.settle(offered.id, 'completed')).toBeUndefined();
    expect(await store.activeForAgent(agent!.id)).toEqual([]);
    expect(await store.expired()).toEqual([]);
  });
});
