import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from './fakes/anthropic.ts';
import { startFakeOpenAI, type FakeOpenAI } from './fakes/openai.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

/** A port on 127.0.0.1 where nothing listens (for "connection refused"). */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

// The same bot runs on OpenAI (or any OpenAI-compatible server) and on Anthropic, through the real
// SDKs talking to fake servers on 127.0.0.1.
describe('model providers', () => {
  let openai: FakeOpenAI;
  let anthropic: FakeAnthropic;
  let t: TestApp;
  beforeAll(async () => {
    openai = await startFakeOpenAI({ apiKey: 'sk-test' });
    anthropic = await startFakeAnthropic({ apiKey: 'ak-test' });
    t = await startTestApp({
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: openai.baseURL,
      ANTHROPIC_API_KEY: 'ak-test',
      ANTHROPIC_BASE_URL: anthropic.baseURL,
    });
  });
  afterAll(async () => {
    await t.close();
    await openai.close();
    await anthropic.close();
  });
  afterEach(() => {
    openai.requests.length = 0;
    anthropic.requests.length = 0;
  });

  const runBot = async (model: string, input?: string) => {
    const name = `${model.replace(/[^a-z0-9]/gi, '-')}-${Math.random().toString(36).slice(2, 7)}`;
    const bot = await t.api('POST', '/api/bots', { name, prompt: 'You find deals.', model });
    expect(bot.status).toBe(201);
    const run = await t.api('POST', `/api/bots/${bot.body.id}/run`, input === undefined ? {} : { input });
    return { bot: bot.body, run: await t.waitForRun(run.body.id) };
  };

  it('openai:<model> streams chat completions, logs each line, records usage and the result', async () => {
    openai.enqueue({ kind: 'text', text: 'Nike Air Max 90 — 35 €\nhttps://example.com/item/1', usage: { prompt_tokens: 21, completion_tokens: 13 } });
    const { bot, run } = await runBot('openai:gpt-4.1-mini', 'size 43');
    expect(run).toMatchObject({ status: 'completed', output: 'Nike Air Max 90 — 35 €\nhttps://example.com/item/1', tokens_in: 21, tokens_out: 13 });

    const req = openai.requests.find((r) => r.path === '/v1/chat/completions')!;
    expect(req.headers.authorization).toBe('Bearer sk-test');
    expect(req.body).toMatchObject({
      model: 'gpt-4.1-mini',
      stream: true,
      stream_options: { include_usage: true },
      messages: [
        { role: 'system', content: 'You find deals.' },
        { role: 'user', content: 'size 43' },
      ],
    });
    const logs = (await t.api('GET', `/api/runs/${run.id}/logs`)).body.map((l: any) => l.text);
    expect(logs).toEqual(expect.arrayContaining(['model openai:gpt-4.1-mini', 'Nike Air Max 90 — 35 €', 'https://example.com/item/1']));
    const results = (await t.api('GET', `/api/bots/${bot.id}/results`)).body;
    expect(results[0]).toMatchObject({ title: 'Nike Air Max 90 — 35 €', run_id: run.id });
  });

  it('anthropic:<model> streams messages and records usage', async () => {
    anthropic.enqueue({ kind: 'text', text: 'Found 2 deals.\nBoth under 50 €.', usage: { input_tokens: 30, output_tokens: 9 } });
    const { run } = await runBot('anthropic:claude-sonnet-4-5');
    expect(run).toMatchObject({ status: 'completed', output: 'Found 2 deals.\nBoth under 50 €.', tokens_in: 30, tokens_out: 9 });
    const req = anthropic.requests.find((r) => r.path === '/v1/messages')!;
    expect(req.body).toMatchObject({ model: 'claude-sonnet-4-5', stream: true, system: 'You find deals.', max_tokens: 4096 });
    expect(req.body.messages[0].role).toBe('user');
    const logs = (await t.api('GET', `/api/runs/${run.id}/logs`)).body.map((l: any) => l.text);
    expect(logs).toEqual(expect.arrayContaining(['Found 2 deals.', 'Both under 50 €.']));
  });

  describe('a provider error fails the run with the provider message; the process carries on', () => {
    it('401 from OpenAI', async () => {
      openai.setApiKey('sk-other');
      try {
        const { run } = await runBot('openai:gpt-4.1-mini');
        expect(run.status).toBe('failed');
        expect(run.error).toMatch(/^openai: 401 Incorrect API key provided/);
      } finally {
        openai.setApiKey('sk-test');
      }
    });

    it('429 from OpenAI, still after the SDK retries', async () => {
      for (let i = 0; i < 3; i++) openai.enqueue({ kind: 'error', status: 429, message: 'Rate limit reached for gpt-4.1-mini' });
      const { run } = await runBot('openai:gpt-4.1-mini');
      expect(run.status).toBe('failed');
      expect(run.error).toBe('openai: 429 Rate limit reached for gpt-4.1-mini');
    });

    it('529 overloaded from Anthropic', async () => {
      for (let i = 0; i < 3; i++) anthropic.enqueue({ kind: 'error', status: 529, message: 'Overloaded' });
      const { run } = await runBot('anthropic:claude-sonnet-4-5');
      expect(run.status).toBe('failed');
      expect(run.error).toBe('anthropic: 529 Overloaded');
    });

    it('500 from OpenAI', async () => {
      for (let i = 0; i < 3; i++) openai.enqueue({ kind: 'error', status: 500, message: 'The server had an error' });
      const { run } = await runBot('openai:gpt-4.1-mini');
      expect(run.error).toBe('openai: 500 The server had an error');
    });

    it('a refused connection', async () => {
      const port = await closedPort();
      const t2 = await startTestApp({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: `http://127.0.0.1:${port}/v1` });
      try {
        const bot = (await t2.api('POST', '/api/bots', { name: 'Nowhere', prompt: 'x', model: 'openai:gpt-4.1-mini' })).body;
        const run = await t2.waitForRun((await t2.api('POST', `/api/bots/${bot.id}/run`)).body.id);
        expect(run.status).toBe('failed');
        expect(run.error).toMatch(/^openai: cannot connect/);
        expect((await t2.api('GET', '/healthz')).status).toBe(200);
      } finally {
        await t2.close();
      }
    });
  });

  it('cancelling a run that waits on a hung provider ends it cancelled', async () => {
    openai.enqueue({ kind: 'hang' });
    const bot = (await t.api('POST', '/api/bots', { name: 'Hung', prompt: 'x', model: 'openai:gpt-4.1-mini' })).body;
    const run = (await t.api('POST', `/api/bots/${bot.id}/run`)).body;
    await expect.poll(() => openai.requests.length, { timeout: 10_000 }).toBeGreaterThan(0);
    const res = await t.api('POST', `/api/runs/${run.id}/cancel`);
    expect(res.body.status).toBe('cancelled');
  });
});
