import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startFakeOpenAI, type FakeOpenAI } from './openai.ts';
import { startFakeAnthropic, type FakeAnthropic } from './anthropic.ts';

describe('fake OpenAI server + real openai SDK', () => {
  let fake: FakeOpenAI;
  let client: OpenAI;
  beforeEach(async () => {
    fake = await startFakeOpenAI();
    client = new OpenAI({ apiKey: 'sk-test-key-123456', baseURL: fake.baseURL });
  });
  afterEach(async () => {
    await fake.close();
  });

  it('streams the default text reply with usage', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const pieces: string[] = [];
    let usage: OpenAI.CompletionUsage | null | undefined;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      expect(chunk.object).toBe('chat.completion.chunk');
      const c = chunk.choices[0];
      if (c?.delta.content) pieces.push(c.delta.content);
      if (c?.finish_reason) finish = c.finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(pieces.join('')).toBe('Hello from fake OpenAI.\nSecond line.');
    expect(pieces.length).toBeGreaterThan(2);
    expect(pieces.some((p) => p.endsWith('\n'))).toBe(true);
    expect(finish).toBe('stop');
    expect(usage).toEqual({ prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 });

    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]!.path).toBe('/v1/chat/completions');
    expect(fake.requests[0]!.headers['authorization']).toBe('Bearer sk-test-key-123456');
    expect(fake.requests[0]!.body.messages).toEqual([{ role: 'user', content: 'hi' }]);
  });

  it('omits the usage chunk without include_usage, and works with the stream() helper', async () => {
    fake.enqueue({ kind: 'text', text: 'a b\nc', chunkDelayMs: 2 }, { kind: 'text', text: 'x\ny' });
    const raw = await client.chat.completions.create({ model: 'm', messages: [], stream: true });
    const chunks = [];
    for await (const chunk of raw) chunks.push(chunk);
    expect(chunks.every((c) => c.choices.length === 1 && c.usage === undefined)).toBe(true);
    expect(chunks.map((c) => c.choices[0]!.delta.content ?? '').join('')).toBe('a b\nc');

    const helper = client.chat.completions.stream({ model: 'm', messages: [{ role: 'user', content: 'q' }] });
    const deltas: string[] = [];
    helper.on('content', (d) => deltas.push(d));
    const final = await helper.finalChatCompletion();
    expect(final.choices[0]!.message.content).toBe('x\ny');
    expect(deltas).toEqual(['x\n', 'y']);
  });

  it('returns a non-streamed completion', async () => {
    fake.enqueue({ kind: 'text', text: 'Plain answer.', usage: { prompt_tokens: 3, completion_tokens: 2 } });
    const res = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'q' }] });
    expect(res.object).toBe('chat.completion');
    expect(res.model).toBe('gpt-4o');
    expect(res.choices[0]!.message).toMatchObject({ role: 'assistant', content: 'Plain answer.' });
    expect(res.choices[0]!.finish_reason).toBe('stop');
    expect(res.usage).toEqual({ prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 });
  });

  it('streams tool calls with arguments split across chunks', async () => {
    const args1 = JSON.stringify({ city: 'Paris', unit: 'celsius' });
    fake.enqueue({
      kind: 'tool_calls',
      calls: [{ id: 'call_abc', name: 'get_weather', arguments: args1 }, { name: 'get_time', arguments: '{}' }],
      usage: { prompt_tokens: 20, completion_tokens: 9 },
    });
    const stream = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'weather?' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const calls: { id?: string; name?: string; args: string }[] = [];
    let argChunks = 0;
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      const c = chunk.choices[0];
      if (!c) continue;
      if (c.finish_reason) finish = c.finish_reason;
      for (const tc of c.delta.tool_calls ?? []) {
        const slot = (calls[tc.index] ??= { args: '' });
        if (tc.id) slot.id = tc.id;
        if (tc.function?.name) slot.name = tc.function.name;
        if (tc.function?.arguments) {
          slot.args += tc.function.arguments;
          argChunks++;
        }
      }
    }
    expect(finish).toBe('tool_calls');
    expect(argChunks).toBeGreaterThan(2);
    expect(calls[0]).toEqual({ id: 'call_abc', name: 'get_weather', args: args1 });
    expect(calls[1]?.name).toBe('get_time');
    expect(calls[1]?.args).toBe('{}');
    expect(calls[1]?.id).toMatch(/^call_/);
    expect(usage?.total_tokens).toBe(29);
  });

  it('accumulates streamed tool calls via the SDK stream() helper', async () => {
    fake.enqueue({ kind: 'tool_calls', calls: [{ id: 'call_1', name: 'lookup', arguments: '{"q":"long query text"}' }] });
    const final = await client.chat.completions
      .stream({ model: 'm', messages: [{ role: 'user', content: 'x' }] })
      .finalChatCompletion();
    expect(final.choices[0]!.finish_reason).toBe('tool_calls');
    expect(final.choices[0]!.message.tool_calls).toEqual([
      expect.objectContaining({ id: 'call_1', type: 'function', function: expect.objectContaining({ name: 'lookup', arguments: '{"q":"long query text"}' }) }),
    ]);
  });

  it('returns non-streamed tool calls', async () => {
    fake.enqueue({ kind: 'tool_calls', calls: [{ id: 'call_9', name: 'f', arguments: '{"a":1}' }] });
    const res = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
    expect(res.choices[0]!.finish_reason).toBe('tool_calls');
    expect(res.choices[0]!.message.tool_calls).toEqual([{ id: 'call_9', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }]);
  });

  it('rejects a wrong key with AuthenticationError', async () => {
    fake.setApiKey('sk-right');
    const err = await client.chat.completions
      .create({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    const e = err as InstanceType<typeof OpenAI.AuthenticationError>;
    expect(e.status).toBe(401);
    expect(e.code).toBe('invalid_api_key');
    expect(e.type).toBe('invalid_request_error');
    expect(e.message).toMatch(/^401 Incorrect API key provided: /);
    expect(fake.requests).toHaveLength(1); // 401 is not retried

    fake.setApiKey('sk-test-key-123456');
    const ok = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
    expect(ok.choices[0]!.message.content).toBe('Hello from fake OpenAI.\nSecond line.');
  });

  it('surfaces a 500 after the SDK retries', async () => {
    fake.enqueue(...Array.from({ length: 3 }, () => ({ kind: 'error', status: 500, message: 'boom' }) as const));
    const err = await client.chat.completions
      .create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }, { maxRetries: 2 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect((err as Error).message).toBe('500 boom');
    expect(fake.requests).toHaveLength(3);
  });

  it('recovers from a 429 via retry', async () => {
    fake.enqueue({ kind: 'error', status: 429 });
    const res = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
    expect(res.choices[0]!.message.content).toBe('Hello from fake OpenAI.\nSecond line.');
    expect(fake.requests).toHaveLength(2);
  });

  it('a hanging stream can be aborted', async () => {
    fake.enqueue({ kind: 'hang' }, { kind: 'hang' });
    const ac = new AbortController();
    const stream = await client.chat.completions.create(
      { model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true },
      { signal: ac.signal },
    );
    setTimeout(() => ac.abort(), 50);
    const chunks = [];
    for await (const c of stream) chunks.push(c); // the SDK ends iteration quietly on abort
    expect(chunks).toEqual([]);
    expect(ac.signal.aborted).toBe(true);

    const ac2 = new AbortController();
    setTimeout(() => ac2.abort(), 50);
    const err = await client.chat.completions
      .create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }, { signal: ac2.signal })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIUserAbortError);
  });
});

describe('fake Anthropic server + real @anthropic-ai/sdk', () => {
  let fake: FakeAnthropic;
  let client: Anthropic;
  beforeEach(async () => {
    fake = await startFakeAnthropic();
    client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: fake.baseURL });
  });
  afterEach(async () => {
    await fake.close();
  });

  const params = { model: 'claude-fake-model', max_tokens: 1024, messages: [{ role: 'user' as const, content: 'hi' }] };

  it('streams the default text reply via messages.stream()', async () => {
    const stream = client.messages.stream(params);
    const deltas: string[] = [];
    stream.on('text', (d) => deltas.push(d));
    const msg = await stream.finalMessage();
    expect(deltas.join('')).toBe('Hello from fake Anthropic.\nSecond line.');
    expect(deltas.length).toBeGreaterThan(2);
    expect(msg.content).toEqual([{ type: 'text', text: 'Hello from fake Anthropic.\nSecond line.' }]);
    expect(msg.stop_reason).toBe('end_turn');
    expect(msg.model).toBe('claude-fake-model');
    expect(msg.usage.input_tokens).toBe(10);
    expect(msg.usage.output_tokens).toBe(6);

    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]!.path).toBe('/v1/messages');
    // @anthropic-ai/sdk 1.x sends the apiKey as a bearer token rather than x-api-key.
    const h = fake.requests[0]!.headers;
    expect(h['x-api-key'] ?? h['authorization']).toMatch(/^(Bearer )?sk-ant-test$/);
    expect(h['anthropic-version']).toBeTruthy();
    expect(fake.requests[0]!.body).toMatchObject({ stream: true, max_tokens: 1024 });
  });

  it('streams text with a delay and custom usage', async () => {
    fake.enqueue({ kind: 'text', text: 'one\ntwo three', chunkDelayMs: 2, usage: { input_tokens: 4, output_tokens: 3 } });
    const events: string[] = [];
    const stream = client.messages.stream(params);
    for await (const ev of stream) events.push(ev.type);
    const msg = await stream.finalMessage();
    expect(msg.content).toEqual([{ type: 'text', text: 'one\ntwo three' }]);
    expect(msg.usage).toMatchObject({ input_tokens: 4, output_tokens: 3 });
    expect(events[0]).toBe('message_start');
    expect(events.at(-1)).toBe('message_stop');
    expect(events.filter((e) => e === 'content_block_delta')).toHaveLength(3);
  });

  it('returns a non-streamed message', async () => {
    fake.enqueue({ kind: 'text', text: 'Plain.', usage: { input_tokens: 5, output_tokens: 1 } });
    const msg = await client.messages.create(params);
    expect(msg.type).toBe('message');
    expect(msg.content).toEqual([{ type: 'text', text: 'Plain.' }]);
    expect(msg.stop_reason).toBe('end_turn');
    expect(msg.usage).toMatchObject({ input_tokens: 5, output_tokens: 1 });
  });

  it('returns tool_use blocks from messages.create', async () => {
    fake.enqueue({ kind: 'tool_use', calls: [{ id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] });
    const msg = await client.messages.create({
      ...params,
      tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
    });
    expect(msg.stop_reason).toBe('tool_use');
    expect(msg.content).toEqual([{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }]);
    expect(fake.requests[0]!.body.tools[0].name).toBe('get_weather');
  });

  it('streams tool_use input as input_json_delta', async () => {
    const input = { query: 'a fairly long search query', limit: 5 };
    fake.enqueue({ kind: 'tool_use', text: 'Let me search.', calls: [{ name: 'search', input }, { name: 'noop', input: {} }] });
    const stream = client.messages.stream(params);
    const json: string[] = [];
    stream.on('inputJson', (partial) => json.push(partial));
    const msg = await stream.finalMessage();
    expect(msg.stop_reason).toBe('tool_use');
    expect(msg.content[0]).toEqual({ type: 'text', text: 'Let me search.' });
    expect(msg.content[1]).toMatchObject({ type: 'tool_use', name: 'search', input });
    expect(msg.content[2]).toMatchObject({ type: 'tool_use', name: 'noop', input: {} });
    expect((msg.content[1] as Anthropic.ToolUseBlock).id).toMatch(/^toolu_/);
    expect(json.filter((p) => p !== '').length).toBeGreaterThan(2);
  });

  it('rejects a wrong key with AuthenticationError', async () => {
    fake.setApiKey('sk-ant-right');
    const err = await client.messages.create(params).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.AuthenticationError);
    const e = err as InstanceType<typeof Anthropic.AuthenticationError>;
    expect(e.status).toBe(401);
    expect(e.error).toEqual({ type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } });
    expect(e.message).toContain('invalid x-api-key');
    expect(fake.requests).toHaveLength(1);

    const streamErr = await client.messages.stream(params).finalMessage().catch((x: unknown) => x);
    expect(streamErr).toBeInstanceOf(Anthropic.AuthenticationError);
  });

  it('checks a raw x-api-key header too', async () => {
    fake.setApiKey('sk-ant-right');
    const post = (headers: Record<string, string>) =>
      fetch(`${fake.baseURL}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(params),
      });
    const bad = await post({ 'x-api-key': 'nope' });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toEqual({ type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } });
    const missing = await post({});
    expect(((await missing.json()) as { error: { message: string } }).error.message).toBe('x-api-key header is required');
    const good = await post({ 'x-api-key': 'sk-ant-right' });
    expect(good.status).toBe(200);
    expect(((await good.json()) as { content: unknown[] }).content).toEqual([
      { type: 'text', text: 'Hello from fake Anthropic.\nSecond line.' },
    ]);
  });

  it('surfaces a 500 after the SDK retries', async () => {
    fake.enqueue(...Array.from({ length: 3 }, () => ({ kind: 'error', status: 500, message: 'kaboom' }) as const));
    const err = await client.messages.stream(params, { maxRetries: 2 }).finalMessage().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.InternalServerError);
    expect((err as InstanceType<typeof Anthropic.InternalServerError>).error).toEqual({
      type: 'error',
      error: { type: 'api_error', message: 'kaboom' },
    });
    expect(fake.requests).toHaveLength(3);
  });

  it('recovers from a 529 overloaded via retry', async () => {
    fake.enqueue({ kind: 'error', status: 529 });
    const msg = await client.messages.create(params);
    expect(msg.content[0]).toMatchObject({ type: 'text', text: 'Hello from fake Anthropic.\nSecond line.' });
    expect(fake.requests).toHaveLength(2);
  });

  it('a hanging stream can be aborted', async () => {
    fake.enqueue({ kind: 'hang' }, { kind: 'hang' });
    const ac = new AbortController();
    const stream = client.messages.stream(params, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(stream.finalMessage()).rejects.toBeInstanceOf(Anthropic.APIUserAbortError);

    const ac2 = new AbortController();
    setTimeout(() => ac2.abort(), 50);
    await expect(client.messages.create(params, { signal: ac2.signal })).rejects.toBeInstanceOf(Anthropic.APIUserAbortError);
  });
});

describe('fake lifecycle', () => {
  it('close() tears down hanging connections promptly', async () => {
    const fake = await startFakeAnthropic();
    fake.enqueue({ kind: 'hang' });
    const client = new Anthropic({ apiKey: 'k', baseURL: fake.baseURL, maxRetries: 0 });
    const pending = client.messages.create({ model: 'm', max_tokens: 10, messages: [] }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 30));
    const t0 = Date.now();
    await fake.close();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(await pending).toBeInstanceOf(Anthropic.APIConnectionError);
  });
});
