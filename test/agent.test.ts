import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from './fakes/anthropic.ts';
import { startFakeOpenAI, type FakeOpenAI } from './fakes/openai.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';
import { costUsd, priceOf } from '../src/engine/pricing.ts';

// A bot's run is an agent loop: the model calls tools over several rounds until it answers. The
// real OpenAI and Anthropic SDKs talk to fake servers that script those tool calls.
describe('agent loop', () => {
  let openai: FakeOpenAI;
  let anthropic: FakeAnthropic;
  let t: TestApp;
  const finished: { runId: number; newResults: number }[] = [];
  beforeAll(async () => {
    openai = await startFakeOpenAI({ apiKey: 'sk-test' });
    anthropic = await startFakeAnthropic({ apiKey: 'ak-test' });
    t = await startTestApp({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: openai.baseURL, ANTHROPIC_API_KEY: 'ak-test', ANTHROPIC_BASE_URL: anthropic.baseURL });
    t.engine.bus.on('run.finished', (e) => finished.push({ runId: e.runId, newResults: e.newResults }));
  });
  afterAll(async () => {
    await t?.close();
    await openai?.close();
    await anthropic?.close();
  });
  afterEach(() => {
    openai.requests.length = 0;
    anthropic.requests.length = 0;
  });

  let n = 0;
  const newBot = async (body: Record<string, unknown>) => {
    const res = await t.api('POST', '/api/bots', { name: `Agent ${++n}`, prompt: 'Find Nike Air Max deals under 50 €.', ...body });
    expect(res.status).toBe(201);
    return res.body;
  };
  const run = async (botId: number, input?: string) => {
    const queued = await t.api('POST', `/api/bots/${botId}/run`, input === undefined ? {} : { input });
    return t.waitForRun(queued.body.id);
  };
  const logsOf = async (runId: number): Promise<string[]> => (await t.api('GET', `/api/runs/${runId}/logs`)).body.map((l: any) => l.text);
  const deal = { title: 'Nike Air Max 90, size 43 — 35 €', url: 'https://shop.example.com/item/1?utm_source=feed#top', content: 'Good condition' };

  it('OpenAI: report_result twice with one URL keeps one result; tokens of every round are summed and priced', async () => {
    const bot = await newBot({ model: 'openai:gpt-4.1-mini' });
    openai.enqueue(
      {
        kind: 'tool_calls',
        calls: [
          { name: 'report_result', arguments: JSON.stringify(deal) },
          // The same item again, its URL spelled differently: same identity.
          { name: 'report_result', arguments: JSON.stringify({ ...deal, url: 'https://SHOP.example.com/item/1' }) },
        ],
        usage: { prompt_tokens: 100, completion_tokens: 20 },
      },
      { kind: 'tool_calls', calls: [{ name: 'report_result', arguments: JSON.stringify({ title: 'Air Max 97 — 48 €', url: 'https://shop.example.com/item/2' }) }], usage: { prompt_tokens: 150, completion_tokens: 10 } },
      { kind: 'text', text: 'Two deals found.', usage: { prompt_tokens: 200, completion_tokens: 5 } },
    );
    const r = await run(bot.id);
    expect(r).toMatchObject({ status: 'completed', output: 'Two deals found.', tokens_in: 450, tokens_out: 35 });
    expect(r.cost_usd).toBeCloseTo((450 * 0.4 + 35 * 1.6) / 1e6, 9);

    const results = (await t.api('GET', `/api/bots/${bot.id}/results`)).body;
    expect(results.map((x: any) => x.title).sort()).toEqual(['Air Max 97 — 48 €', deal.title]);
    // Each round's request carried the tools; the second told the model which report was a repeat.
    expect(openai.requests).toHaveLength(3);
    expect(openai.requests[0]!.body.tools.map((x: any) => x.function.name)).toEqual(['report_result']);
    const toolMsgs = openai.requests[1]!.body.messages.filter((m: any) => m.role === 'tool');
    expect(toolMsgs.map((m: any) => m.content)).toEqual([expect.stringMatching(/^Recorded as new result #\d+/), expect.stringMatching(/^Already reported before/)]);

    const logs = await logsOf(r.id);
    expect(logs).toContain('2 results found, 2 new');
    expect(logs.filter((l) => /^🔧 report_result \{"title":"Nike Air Max 90.*\} · \d+ ms · ok$/.test(l))).toHaveLength(2);
    expect(logs).toContain('tokens 450 in, 35 out · cost $0.0002');
    expect(finished.find((f) => f.runId === r.id)?.newResults).toBe(2);
  });

  it('a second run reporting the same item finds nothing new', async () => {
    const bot = await newBot({ model: 'openai:gpt-4.1-mini' });
    for (let i = 0; i < 2; i++) openai.enqueue({ kind: 'tool_calls', calls: [{ name: 'report_result', arguments: JSON.stringify(deal) }] }, { kind: 'text', text: 'Done.' });
    const first = await run(bot.id);
    const second = await run(bot.id);
    expect(await logsOf(first.id)).toContain('1 result found, 1 new');
    expect(await logsOf(second.id)).toContain('1 result found, 0 new');
    expect(finished.find((f) => f.runId === second.id)?.newResults).toBe(0);
    const all = (await t.api('GET', `/api/bots/${bot.id}/results`)).body;
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({ run_id: first.id, url: deal.url });
    // A bot with tools reports through report_result: its closing words are not a result.
    expect(all[0].title).toBe(deal.title);
  });

  it('Anthropic tool use: bad calls come back to the model as errors and the run still completes', async () => {
    const bot = await newBot({ model: 'anthropic:claude-sonnet-4-5', tools: ['files'] });
    anthropic.enqueue(
      {
        kind: 'tool_use',
        text: 'Let me note that.',
        calls: [
          { name: 'no_such_tool', input: {} },
          { name: 'report_result', input: { content: 'no title' } },
          { name: 'write_file', input: { path: 'notes.md', content: 'seen: item 1\n' } },
        ],
        usage: { input_tokens: 40, output_tokens: 12 },
      },
      { kind: 'text', text: 'Noted.', usage: { input_tokens: 60, output_tokens: 3 } },
    );
    const r = await run(bot.id);
    expect(r).toMatchObject({ status: 'completed', output: 'Noted.', tokens_in: 100, tokens_out: 15 });
    expect(r.cost_usd).toBeCloseTo((100 * 3 + 15 * 15) / 1e6, 9);
    expect(fs.readFileSync(path.join(bot.docs_path, 'notes.md'), 'utf8')).toBe('seen: item 1\n');

    const second = anthropic.requests[1]!.body;
    expect(second.messages[1]).toMatchObject({ role: 'assistant', content: [{ type: 'text', text: 'Let me note that.' }, { type: 'tool_use', name: 'no_such_tool' }, { type: 'tool_use' }, { type: 'tool_use' }] });
    const [unknown, invalid, written] = second.messages[2].content;
    expect(unknown).toMatchObject({ type: 'tool_result', is_error: true, content: expect.stringContaining('there is no tool "no_such_tool"') });
    expect(invalid).toMatchObject({ type: 'tool_result', is_error: true, content: expect.stringContaining('invalid arguments: title') });
    expect(written).toMatchObject({ type: 'tool_result', content: 'Wrote 13 bytes to notes.md.' });
    expect(written.is_error).toBeUndefined();
    const logs = await logsOf(r.id);
    expect(logs).toEqual(expect.arrayContaining([expect.stringMatching(/^🔧 no_such_tool \{\} · \d+ ms · error: there is no tool/), expect.stringMatching(/^🔧 write_file \{"path":"notes.md","content":"seen: item 1\\n"\} · \d+ ms · ok$/)]));
  });

  it('a model without a known price costs null, never a guess', async () => {
    const bot = await newBot({ model: 'anthropic:claude-from-the-future' });
    anthropic.enqueue({ kind: 'text', text: 'Hi.', usage: { input_tokens: 7, output_tokens: 2 } });
    const r = await run(bot.id);
    expect(r).toMatchObject({ status: 'completed', tokens_in: 7, tokens_out: 2, cost_usd: null });
    expect(await logsOf(r.id)).toContain('tokens 7 in, 2 out · cost unknown (no price for anthropic:claude-from-the-future)');
    expect(priceOf('openai:gpt-4.1-mini-2025-04-14')).toEqual(priceOf('openai:gpt-4.1-mini'));
    expect(priceOf('openai:gpt-4.1-minimal')).toBeNull();
    // A snapshot the table does not list is not priced like its model: old snapshots cost more.
    expect(priceOf('openai:gpt-4o-2024-05-13')).toBeNull();
    expect(costUsd('anthropic:claude-haiku-4-5-20251001', 1_000_000, 1_000_000)).toBe(6);
  });

  it('stops after max_steps rounds; the last round\'s reports still count', async () => {
    const bot = await newBot({ model: 'openai:gpt-4.1-mini', max_steps: 2 });
    openai.enqueue(
      { kind: 'tool_calls', calls: [{ name: 'report_result', arguments: '{"title":"one"}' }] },
      { kind: 'tool_calls', calls: [{ name: 'report_result', arguments: '{"title":"two"}' }] },
    );
    const r = await run(bot.id);
    expect(r.status).toBe('completed');
    expect(openai.requests).toHaveLength(2);
    const logs = await logsOf(r.id);
    expect(logs).toEqual(expect.arrayContaining(['stopped after 2 model rounds (max_steps 2)', '2 results found, 2 new']));
  });

  it('malformed tool arguments are an error for the model, not for the run', async () => {
    const bot = await newBot({ model: 'openai:gpt-4.1-mini' });
    openai.enqueue({ kind: 'tool_calls', calls: [{ name: 'report_result', arguments: '{"title": ' }] }, { kind: 'text', text: 'Sorry.' });
    const r = await run(bot.id);
    expect(r.status).toBe('completed');
    const tool = openai.requests[1]!.body.messages.find((m: any) => m.role === 'tool');
    expect(tool.content).toMatch(/^Error: the arguments are not valid JSON/);
  });

  it('memory: the system prompt lists the docs folder and includes memory.md (first 8 KB)', async () => {
    const bot = await newBot({ model: 'openai:gpt-4.1-mini', prompt: 'Scout deals.' });
    const big = 'x'.repeat(9000);
    await t.api('POST', `/api/bots/${bot.id}/docs`, { name: 'memory.md', content: `seen: item/1\n${big}` });
    await t.api('POST', `/api/bots/${bot.id}/docs`, { name: 'criteria.md', content: 'size 43, under 50 €' });
    openai.enqueue({ kind: 'text', text: 'ok' });
    await run(bot.id);
    const system: string = openai.requests[0]!.body.messages[0].content;
    expect(system.startsWith('Scout deals.\n\n## Your documents')).toBe(true);
    expect(system).toMatch(/- criteria\.md · 21 B · \d{4}-\d{2}-\d{2} \d{2}:\d{2}/);
    expect(system).toMatch(/- memory\.md · 9013 B/);
    expect(system).toContain('### memory.md (always read; first 8 KB of 9013 B)\nseen: item/1\nxxx');
    expect(system).not.toContain('size 43, under 50 €'); // not always-read: listed, not included
    expect(system.length).toBeLessThan(8192 + 1000);
  });
});
