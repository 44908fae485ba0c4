/**
 * `GET /metrics` as Prometheus scrapes it: after a few runs the counters and histograms hold the
 * right counts, and the Prometheus project's own text-format parser reads the page.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from './fakes/openai.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';
import { parsePrometheus, sampleValue, type PromFamily } from './helpers/prometheus.ts';

const P = 'openorchestrator_';

async function scrape(t: TestApp, headers: Record<string, string> = {}): Promise<PromFamily[]> {
  const res = await fetch(`${t.url}/metrics`, { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheus(await res.text());
}

describe('metrics of runs', () => {
  let openai: FakeOpenAI;
  let t: TestApp;
  beforeAll(async () => {
    openai = await startFakeOpenAI({ apiKey: 'sk-test' });
    // One slot, so runs wait in the queue; slow echo lines, so they are still there when we look.
    t = await startTestApp({ MAX_CONCURRENT_RUNS: '1', ECHO_DELAY_MS: '150', OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: openai.baseURL });
  });
  afterAll(async () => {
    await t?.close();
    await openai?.close();
  });

  it('counts runs by bot and final status, times them, and shows the queue as it is', async () => {
    const scout = (await t.api('POST', '/api/bots', { name: 'Scout', prompt: 'find deals' })).body;
    const idle = (await t.api('POST', '/api/bots', { name: 'Idle', prompt: 'never runs' })).body;
    const runIds: number[] = [];
    for (let i = 0; i < 3; i++) runIds.push((await t.api('POST', `/api/bots/${scout.id}/run`, { input: `page ${i}` })).body.id);
    const idleRun = (await t.api('POST', `/api/bots/${idle.id}/run`, {})).body;
    expect((await t.api('POST', `/api/runs/${idleRun.id}/cancel`)).body.status).toBe('cancelled');

    // One running, two waiting.
    await expect
      .poll(async () => {
        const m = await scrape(t);
        return [sampleValue(m, `${P}runs_running`), sampleValue(m, `${P}runs_queued`)];
      })
      .toEqual([1, 2]);

    // An open event stream is an SSE client until it closes.
    const abort = new AbortController();
    const stream = await fetch(`${t.url}/api/runs/${runIds[2]}/events`, { headers: { accept: 'text/event-stream' }, signal: abort.signal });
    expect(stream.status).toBe(200);
    expect(sampleValue(await scrape(t), `${P}sse_clients`)).toBe(1);
    abort.abort();
    await expect.poll(async () => sampleValue(await scrape(t), `${P}sse_clients`)).toBe(0);

    const runs = await Promise.all(runIds.map((id) => t.waitForRun(id)));
    expect(runs.map((r) => r.status)).toEqual(['completed', 'completed', 'completed']);

    openai.enqueue({ kind: 'text', text: 'Two offers found', usage: { prompt_tokens: 1000, completion_tokens: 500 } });
    const gpt = (await t.api('POST', '/api/bots', { name: 'Gpt', prompt: 'summarize', model: 'openai:gpt-4.1-mini' })).body;
    const gptRun = await t.waitForRun((await t.api('POST', `/api/bots/${gpt.id}/run`, {})).body.id);
    expect(gptRun).toMatchObject({ status: 'completed', tokens_in: 1000, tokens_out: 500 });
    expect(gptRun.cost_usd).toBeGreaterThan(0);

    const m = await scrape(t);
    expect(sampleValue(m, `${P}runs_total`, { bot: 'Scout', status: 'completed' })).toBe(3);
    expect(sampleValue(m, `${P}runs_total`, { bot: 'Idle', status: 'cancelled' })).toBe(1);
    expect(sampleValue(m, `${P}runs_total`, { bot: 'Gpt', status: 'completed' })).toBe(1);
    expect(sampleValue(m, `${P}runs_total`, { bot: 'Scout', status: 'failed' })).toBeUndefined();

    // Duration: one observation per run that ran, summing to the runs' duration_ms.
    const seconds = (ms: number[]) => ms.reduce((a, b) => a + b, 0) / 1000;
    expect(sampleValue(m, `${P}run_duration_seconds_count`, { bot: 'Scout', status: 'completed' })).toBe(3);
    expect(sampleValue(m, `${P}run_duration_seconds_bucket`, { bot: 'Scout', status: 'completed', le: '+Inf' })).toBe(3);
    expect(sampleValue(m, `${P}run_duration_seconds_sum`, { bot: 'Scout', status: 'completed' })).toBeCloseTo(seconds(runs.map((r) => r.duration_ms)), 3);
    // Every echo run takes at least its four 150 ms lines.
    expect(sampleValue(m, `${P}run_duration_seconds_bucket`, { bot: 'Scout', status: 'completed', le: '0.5' })).toBe(0);
    expect(sampleValue(m, `${P}run_duration_seconds_count`, { bot: 'Idle', status: 'cancelled' })).toBeUndefined();

    // Queue wait: from queued to started, for the runs that started.
    expect(sampleValue(m, `${P}run_queue_wait_seconds_count`, { bot: 'Scout' })).toBe(3);
    const waits = runs.map((r) => Date.parse(r.started_at) - Date.parse(r.created_at));
    expect(sampleValue(m, `${P}run_queue_wait_seconds_sum`, { bot: 'Scout' })).toBeCloseTo(seconds(waits), 3);
    // The third run waited for the first two.
    expect(waits[2]).toBeGreaterThan(1000);
    expect(sampleValue(m, `${P}run_queue_wait_seconds_count`, { bot: 'Idle' })).toBeUndefined();

    expect(sampleValue(m, `${P}runs_running`)).toBe(0);
    expect(sampleValue(m, `${P}runs_queued`)).toBe(0);

    // Tokens and cost by model.
    expect(sampleValue(m, `${P}tokens_total`, { model: 'echo', direction: 'in' })).toBe(runs.reduce((a, r) => a + r.tokens_in, 0));
    expect(sampleValue(m, `${P}tokens_total`, { model: 'echo', direction: 'out' })).toBe(runs.reduce((a, r) => a + r.tokens_out, 0));
    expect(sampleValue(m, `${P}tokens_total`, { model: 'openai:gpt-4.1-mini', direction: 'in' })).toBe(1000);
    expect(sampleValue(m, `${P}tokens_total`, { model: 'openai:gpt-4.1-mini', direction: 'out' })).toBe(500);
    expect(sampleValue(m, `${P}cost_usd_total`, { model: 'openai:gpt-4.1-mini' })).toBeCloseTo(gptRun.cost_usd, 9);

    // The families have their declared types, and the process metrics are there.
    const type = (name: string) => m.find((f) => f.name === name)?.type;
    expect(type(`${P}runs`)).toBe('counter');
    expect(type(`${P}run_duration_seconds`)).toBe('histogram');
    expect(type(`${P}run_queue_wait_seconds`)).toBe('histogram');
    expect(type(`${P}runs_queued`)).toBe('gauge');
    expect(type(`${P}sse_clients`)).toBe('gauge');
    expect(type(`${P}chat_messages`)).toBe('counter');
    expect(sampleValue(m, `${P}chat_messages_total`, { platform: 'telegram', outcome: 'sent' })).toBe(0);
    expect(type('nodejs_eventloop_lag_seconds')).toBe('gauge');
    expect(sampleValue(m, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
  });
});

describe('metrics of schedules', () => {
  it('counts fires and skipped occurrences as the activity feed tells them', async () => {
    // Runs of 4 × 400 ms outlast the one-second schedule, so some occurrences find it busy.
    const t = await startTestApp({ ECHO_DELAY_MS: '400' });
    try {
      const bot = (await t.api('POST', '/api/bots', { name: 'Metronome', prompt: 'tick', schedule: '* * * * * *' })).body;
      await expect
        .poll(async () => {
          const m = await scrape(t);
          return (sampleValue(m, `${P}schedule_fires_total`) ?? 0) >= 2 && (sampleValue(m, `${P}schedule_skips_total`, { reason: 'busy' }) ?? 0) >= 1;
        }, { timeout: 15_000, interval: 200 })
        .toBe(true);
      expect((await t.api('PUT', `/api/bots/${bot.id}`, { paused: true })).status).toBe(200);
      const counts = async () => {
        const events = (await t.api('GET', '/api/events?limit=200')).body as { kind: string }[];
        const m = await scrape(t);
        return {
          metrics: [sampleValue(m, `${P}schedule_fires_total`), sampleValue(m, `${P}schedule_skips_total`, { reason: 'busy' }), sampleValue(m, `${P}schedule_skips_total`, { reason: 'missed' })],
          feed: ['schedule.fired', 'schedule.skipped', 'schedule.missed'].map((k) => events.filter((e) => e.kind === k).length),
        };
      };
      await expect.poll(async () => {
        const c = await counts();
        return c.metrics.join() === c.feed.join();
      }).toBe(true);
    } finally {
      await t.close();
    }
  });
});
