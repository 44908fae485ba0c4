import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from './fakes/openai.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

// "Dev-Bot —completed→ Test-Bot": when one bot's run ends, another starts with its output. Loops
// are refused when linked, and a chain too deep stops at run time.

describe('triggers', () => {
  let t: TestApp;
  let fake: FakeOpenAI;
  beforeAll(async () => {
    fake = await startFakeOpenAI();
    t = await startTestApp({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.baseURL });
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
  });

  const bot = async (name: string, extra: Record<string, unknown> = {}) => {
    const r = await t.api('POST', '/api/bots', { name, prompt: `I am ${name}`, ...extra });
    expect(r.status).toBe(201);
    return r.body;
  };
  const link = (source: string | number, event: string, target: string | number) =>
    t.api('POST', '/api/triggers', { source_bot: source, event, target_bot: target });
  const runsOf = async (botId: number) => ((await t.api('GET', `/api/bots/${botId}/runs`)).body as any[]).reverse();
  const run = async (botId: number, input?: string) => t.waitForRun((await t.api('POST', `/api/bots/${botId}/run`, input === undefined ? {} : { input })).body.id);
  const feed = async () => ((await t.api('GET', '/api/events?limit=200')).body as any[]).reverse();

  it('Dev-Bot —completed→ Test-Bot: the output becomes the input, the trigger names the source', async () => {
    const dev = await bot('Dev-Bot', { emoji: '👩‍💻' });
    const test = await bot('Test-Bot', { emoji: '🧪' });
    const created = await link('dev-bot', 'completed', test.id); // by name (any case) or id
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      source_bot_id: dev.id,
      event: 'completed',
      target_bot_id: test.id,
      target_action: 'start',
      enabled: true,
      label: 'Dev-Bot —completed→ Test-Bot',
      source_bot: { id: dev.id, name: 'Dev-Bot', emoji: '👩‍💻' },
      target_bot: { id: test.id, name: 'Test-Bot', emoji: '🧪' },
    });
    expect((await t.api('GET', '/api/triggers')).body.map((x: any) => x.id)).toContain(created.body.id);
    expect((await t.api('GET', `/api/triggers?bot=${test.id}`)).body.map((x: any) => x.id)).toEqual([created.body.id]);

    const source = await run(dev.id, 'feature #42');
    expect(source.status).toBe('completed');
    await expect.poll(async () => (await runsOf(test.id)).length, { timeout: 10_000 }).toBe(1);
    const target = await t.waitForRun((await runsOf(test.id))[0].id);
    expect(target).toMatchObject({ status: 'completed', trigger: 'trigger:Dev-Bot', input: source.output });
    expect(target.output).toBe(`Prompt: I am Test-Bot\nInput: ${source.output}`);

    const fired = (await feed()).filter((e) => e.kind === 'trigger.fired' && e.bot_id === test.id);
    expect(fired.map((e) => e.message)).toEqual([`🔗 Dev-Bot —completed→ Test-Bot: run #${target.id} started from run #${source.id}`]);
  });

  it('a trigger that would close a loop is refused with TRIGGER_CYCLE, disabled links included', async () => {
    const a = await bot('Loop-A');
    const b = await bot('Loop-B');
    const c = await bot('Loop-C');
    expect((await link('Loop-A', 'completed', 'Loop-B')).status).toBe(201);
    const bc = await link('Loop-B', 'result', 'Loop-C');
    expect(bc.status).toBe(201);
    expect((await t.api('PUT', `/api/triggers/${bc.body.id}`, { enabled: false })).body.enabled).toBe(false);

    const back = await link('Loop-C', 'failed', 'Loop-A');
    expect(back.status).toBe(409);
    expect(back.body.error.code).toBe('TRIGGER_CYCLE');
    expect(back.body.error.message).toBe('Linking Loop-C to Loop-A would close a loop: Loop-C → Loop-A → Loop-B → Loop-C. Chains must not lead back to where they started.');

    const self = await link(a.id, 'completed', a.id);
    expect(self.status).toBe(409);
    expect(self.body.error.code).toBe('TRIGGER_CYCLE');

    // Re-pointing an existing trigger into a loop is refused too.
    const repoint = await t.api('PUT', `/api/triggers/${bc.body.id}`, { target_bot: 'Loop-A' });
    expect(repoint.status).toBe(409);
    expect(repoint.body.error.code).toBe('TRIGGER_CYCLE');

    const dup = await link('Loop-A', 'completed', 'Loop-B');
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('TRIGGER_EXISTS');
    // A different event between the same bots is a different trigger, and no loop.
    expect((await link('Loop-A', 'failed', 'Loop-B')).status).toBe(201);
    expect((await link(c.id, 'completed', 'nobody')).body.error.code).toBe('BOT_NOT_FOUND');
    expect((await link(b.id, 'finished', c.id)).body.error.code).toBe('VALIDATION_FAILED');
    expect((await t.api('GET', '/api/triggers/99999')).body.error.code).toBe('TRIGGER_NOT_FOUND');
  });

  it('a failed run fires its failed trigger exactly once, with the error as input; completed triggers stay quiet', async () => {
    const scraper = await bot('Scraper', { model: 'openai:gpt-4.1-mini' });
    const alerter = await bot('Alerter');
    const reporter = await bot('Reporter');
    expect((await link('Scraper', 'failed', 'Alerter')).status).toBe(201);
    expect((await link('Scraper', 'completed', 'Reporter')).status).toBe(201);

    fake.enqueue({ kind: 'error', status: 401, message: 'Incorrect API key provided' });
    const failed = await run(scraper.id);
    expect(failed.status).toBe('failed');
    await expect.poll(async () => (await runsOf(alerter.id)).length, { timeout: 10_000 }).toBe(1);
    const alert = await t.waitForRun((await runsOf(alerter.id))[0].id);
    expect(alert).toMatchObject({ trigger: 'trigger:Scraper', input: failed.error, status: 'completed' });
    // Its run has ended, so any second firing would be there by now.
    expect(await runsOf(alerter.id)).toHaveLength(1);
    expect(await runsOf(reporter.id)).toHaveLength(0);
    expect((await feed()).filter((e) => e.kind === 'trigger.fired' && e.bot_id === alerter.id)).toHaveLength(1);
  });

  it('`result` fires only when the run found something new; a disabled trigger does not fire', async () => {
    const scout = await bot('Scout');
    const notifier = await bot('Deal-Notifier');
    const muted = await bot('Muted');
    const witness = await bot('Witness');
    expect((await link('Scout', 'result', 'Deal-Notifier')).status).toBe(201);
    const off = await link('Scout', 'completed', 'Muted');
    await t.api('PUT', `/api/triggers/${off.body.id}`, { enabled: false });
    expect((await link('Scout', 'completed', 'Witness')).status).toBe(201);

    await run(scout.id, 'size 43'); // a new result
    await expect.poll(async () => (await runsOf(witness.id)).length, { timeout: 10_000 }).toBe(1);
    await expect.poll(async () => (await runsOf(notifier.id)).length, { timeout: 10_000 }).toBe(1);
    await run(scout.id, 'size 43'); // the same output: nothing new
    await expect.poll(async () => (await runsOf(witness.id)).length, { timeout: 10_000 }).toBe(2);
    // Triggers of one run fire together, so once the witness has started the others have too.
    expect(await runsOf(notifier.id)).toHaveLength(1);
    expect(await runsOf(muted.id)).toHaveLength(0);
  });

  it('a chain deeper than 10 hops stops with an event', async () => {
    const chain = [];
    for (let i = 0; i <= 11; i++) chain.push(await bot(`Hop-${i}`));
    for (let i = 0; i < 11; i++) expect((await link(chain[i].id, 'completed', chain[i + 1].id)).status).toBe(201);

    await run(chain[0].id, 'go');
    await expect.poll(async () => (await feed()).filter((e) => e.kind === 'trigger.stopped').length, { timeout: 30_000, interval: 200 }).toBe(1);
    for (let i = 0; i <= 10; i++) expect(await runsOf(chain[i].id), `Hop-${i}`).toHaveLength(1);
    expect(await runsOf(chain[11].id)).toHaveLength(0);
    const stopped = (await feed()).find((e) => e.kind === 'trigger.stopped');
    const last = (await runsOf(chain[10].id))[0];
    expect(stopped).toMatchObject({ level: 'error', bot_id: chain[11].id, run_id: last.id });
    expect(stopped.message).toBe(`⛔ Hop-10 —completed→ Hop-11: chain stopped — run #${last.id} is already 10 hops deep (limit 10)`);
  });

  it('unlinking and deleting', async () => {
    const x = await bot('Del-X');
    const y = await bot('Del-Y');
    const tr = (await link('Del-X', 'completed', 'Del-Y')).body;
    expect((await t.api('DELETE', `/api/triggers/${tr.id}`)).status).toBe(204);
    expect((await t.api('GET', `/api/triggers/${tr.id}`)).status).toBe(404);
    expect((await t.api('DELETE', `/api/triggers/${tr.id}`)).body.error.code).toBe('TRIGGER_NOT_FOUND');

    // The chat adapters' /unlink goes through the engine.
    await t.engine.triggers.create({ source_bot: 'Del-X', event: 'failed', target_bot: 'Del-Y' });
    expect((await t.engine.triggers.unlink({ source_bot: 'del-x', target_bot: 'DEL-Y' })).map((v) => v.label)).toEqual(['Del-X —failed→ Del-Y']);
    await expect(t.engine.triggers.unlink({ source_bot: 'Del-X', target_bot: 'Del-Y' })).rejects.toThrow(/not linked/);

    // Deleting a bot removes its triggers.
    const again = (await link('Del-X', 'completed', 'Del-Y')).body;
    await t.api('DELETE', `/api/bots/${y.id}`);
    expect((await t.api('GET', `/api/triggers/${again.id}`)).status).toBe(404);
    expect((await t.api('GET', `/api/triggers?bot=${x.id}`)).body).toEqual([]);
  });
});
