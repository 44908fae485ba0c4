import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic, type FakeAnthropicReply } from './fakes/anthropic.ts';
import { startFakeOpenAI, type FakeOpenAI, type FakeOpenAIReply } from './fakes/openai.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

const HTML = '<!doctype html><html><head><title>Sign in</title></head><body><form action="/login">…</form></body></html>';

/** One fault, as each provider's server would commit it. */
interface Fault {
  name: string;
  openai: FakeOpenAIReply;
  anthropic: FakeAnthropicReply;
  /** The run's error after `<provider>: `, the same on both. */
  error: RegExp;
}

const FAULTS: Fault[] = [
  {
    name: 'a stream that ends cleanly in the middle of an event, before its final event',
    openai: { kind: 'text', text: 'The best deal is', cut: 'end' },
    anthropic: { kind: 'text', text: 'The best deal is', cut: 'end' },
    error: /^the answer stream ended before its final event \((no chunk with a finish_reason|no message_stop)\): the answer is incomplete$/,
  },
  {
    name: 'a connection that closes in the middle of an event',
    openai: { kind: 'text', text: 'The best deal is', cut: 'reset' },
    anthropic: { kind: 'text', text: 'The best deal is', cut: 'reset' },
    error: /^the answer stream ended before its final event \(the connection closed.*\): the answer is incomplete$/,
  },
  {
    name: 'a 200 HTML page instead of an event stream',
    openai: { kind: 'raw', contentType: 'text/html; charset=utf-8', body: HTML },
    anthropic: { kind: 'raw', contentType: 'text/html; charset=utf-8', body: HTML },
    error: /^answered HTTP 200 with "text\/html; charset=utf-8" instead of an event stream \(text\/event-stream\)$/,
  },
  {
    name: 'a 200 JSON body instead of an event stream',
    openai: { kind: 'raw', contentType: 'application/json', body: '{"status":"ok"}' },
    anthropic: { kind: 'raw', contentType: 'application/json', body: '{"status":"ok"}' },
    error: /^answered HTTP 200 with "application\/json" instead of an event stream \(text\/event-stream\)$/,
  },
  {
    name: 'events whose data is not JSON',
    openai: { kind: 'raw', contentType: 'text/event-stream', body: 'data: <html>Bad gateway</html>\n\n' },
    anthropic: { kind: 'raw', contentType: 'text/event-stream', body: 'event: message_start\ndata: <html>Bad gateway</html>\n\n' },
    error: /^the answer stream carried an event that is not the provider's JSON \(Unexpected token '<'.*\)$/,
  },
  {
    name: "events that are JSON but not the provider's",
    openai: { kind: 'raw', contentType: 'text/event-stream', body: 'data: {"message":"hello"}\n\ndata: [DONE]\n\n' },
    anthropic: { kind: 'raw', contentType: 'text/event-stream', body: 'event: message_start\ndata: {"type":"message_start","message":"hello"}\n\n' },
    error: /^the answer stream carried an event that is not the provider's JSON \((choices|message_start: message): .+\)$/,
  },
];

// A provider's answer either ends properly or fails the run with a reason that says what was
// wrong; the same fault reads the same on OpenAI and Anthropic. Through the real SDKs, against the
// fake servers.
describe('provider streams that end properly or fail', () => {
  let openai: FakeOpenAI;
  let anthropic: FakeAnthropic;
  let t: TestApp;
  beforeAll(async () => {
    openai = await startFakeOpenAI();
    anthropic = await startFakeAnthropic();
    t = await startTestApp({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: openai.baseURL, ANTHROPIC_API_KEY: 'ak-test', ANTHROPIC_BASE_URL: anthropic.baseURL });
  });
  afterAll(async () => {
    await t?.close();
    await openai?.close();
    await anthropic?.close();
  });

  let n = 0;
  const run = async (model: string) => {
    const bot = (await t.api('POST', '/api/bots', { name: `Faulty ${++n}`, prompt: 'Find deals.', model, tools: ['files'] })).body;
    return t.waitForRun((await t.api('POST', `/api/bots/${bot.id}/run`, {})).body.id);
  };
  const bothProviders = (fault: Fault) => [
    ['openai', 'openai:gpt-4.1-mini', () => openai.enqueue(fault.openai)],
    ['anthropic', 'anthropic:claude-sonnet-4-5', () => anthropic.enqueue(fault.anthropic)],
  ] as const;

  for (const fault of FAULTS) {
    it(`${fault.name}: the run fails and says so, on both providers`, async () => {
      const outcomes: Record<string, { status: string; output: string | null; error: string }> = {};
      for (const [provider, model, enqueue] of bothProviders(fault)) {
        enqueue();
        const r = await run(model);
        outcomes[provider] = { status: r.status, output: r.output, error: r.error };
      }
      for (const provider of ['openai', 'anthropic']) {
        const o = outcomes[provider]!;
        expect(o, provider).toMatchObject({ status: 'failed', output: null });
        expect(o.error.startsWith(`${provider}: `), o.error).toBe(true);
        expect(o.error.slice(provider.length + 2)).toMatch(fault.error);
      }
    });
  }

  it('a proper stream still completes on both (the checks pass what is whole)', async () => {
    openai.enqueue({ kind: 'text', text: 'Deal: 35 €' });
    anthropic.enqueue({ kind: 'text', text: 'Deal: 35 €' });
    expect(await run('openai:gpt-4.1-mini')).toMatchObject({ status: 'completed', output: 'Deal: 35 €' });
    expect(await run('anthropic:claude-sonnet-4-5')).toMatchObject({ status: 'completed', output: 'Deal: 35 €' });
  });

  it('tool arguments that are not JSON go back to the model as an error on both, and the run completes', async () => {
    openai.enqueue({ kind: 'tool_calls', calls: [{ name: 'write_file', arguments: '{"path": "a.md", "content": ' }] }, { kind: 'text', text: 'Sorry.' });
    anthropic.enqueue({ kind: 'tool_use', calls: [{ name: 'write_file', input: '{"path": "a.md", "content": ' }] }, { kind: 'text', text: 'Sorry.' });
    const onOpenAI = await run('openai:gpt-4.1-mini');
    const onAnthropic = await run('anthropic:claude-sonnet-4-5');
    expect(onOpenAI).toMatchObject({ status: 'completed', output: 'Sorry.' });
    expect(onAnthropic).toMatchObject({ status: 'completed', output: 'Sorry.' });
    const openaiReply = openai.requests.at(-1)!.body.messages.find((m: any) => m.role === 'tool').content;
    const anthropicReply = anthropic.requests.at(-1)!.body.messages.at(-1).content[0];
    expect(openaiReply).toMatch(/^Error: the arguments are not valid JSON \(.+\)$/);
    expect(anthropicReply).toMatchObject({ type: 'tool_result', is_error: true, content: openaiReply });
    for (const r of [onOpenAI, onAnthropic]) {
      const logs = (await t.api('GET', `/api/runs/${r.id}/logs`)).body.map((l: any) => l.text);
      expect(logs).toEqual(expect.arrayContaining([expect.stringMatching(/^🔧 write_file \(unreadable arguments\) · \d+ ms · error: the arguments are not valid JSON/)]));
    }
  });
});
