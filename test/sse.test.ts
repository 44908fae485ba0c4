import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI } from './fakes/openai.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/**
 * Reads an SSE stream with a raw HTTP request until it closes, parsing it as the spec does (CR,
 * LF and CRLF all end a line; a blank line ends an event). `onEvent` sees each event as it comes;
 * returning 'stop' drops the connection there, like a network failure.
 */
function readSse(
  url: string,
  headers: Record<string, string> = {},
  onEvent?: (e: SseEvent) => void | 'stop',
): Promise<{ status: number; type: string; events: SseEvent[] }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      const events: SseEvent[] = [];
      const done = () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), events });
      let buf = '';
      let e: SseEvent = { event: 'message', data: '' };
      let data: string[] = [];
      let any = false;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let m: RegExpExecArray | null;
        // A trailing lone CR may be the first half of a CRLF: wait for more.
        while ((m = /\r\n|\r(?!$)|\n/.exec(buf))) {
          const line = buf.slice(0, m.index);
          buf = buf.slice(m.index + m[0].length);
          if (line === '') {
            if (any) {
              e.data = data.join('\n');
              events.push(e);
              if (onEvent?.(e) === 'stop') {
                req.destroy();
                return done();
              }
            }
            e = { event: 'message', data: '' };
            data = [];
            any = false;
            continue;
          }
          if (line.startsWith(':') || line.startsWith('retry:')) continue;
          const [k, ...rest] = line.split(':');
          const v = rest.join(':').replace(/^ /, '');
          if (k === 'id') e.id = v;
          if (k === 'event') e.event = v;
          if (k === 'data') data.push(v);
          any = true;
        }
      });
      res.on('end', done);
      res.on('error', reject);
    });
    req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
  });
}

// A person watches a run's log live; a dropped connection resumes without gaps or repeats.
describe('run log stream (SSE)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ ECHO_DELAY_MS: '150' });
  });
  afterAll(async () => {
    await t.close();
  });

  it('sends the lines so far, then live ones, each with its sequence number as id, then `end`, and closes', async () => {
    const bot = (await t.api('POST', '/api/bots', { name: 'Live', prompt: 'stream me' })).body;
    const run = (await t.api('POST', `/api/bots/${bot.id}/run`, { input: 'x' })).body;
    // Connect once the run has written its first lines, so both backlog and live lines are covered.
    await expect.poll(async () => (await t.api('GET', `/api/runs/${run.id}/logs`)).body.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    const arrivals: number[] = [];
    const res = await readSse(`${t.url}/api/runs/${run.id}/events`, {}, () => void arrivals.push(Date.now()));
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/event-stream/);

    const logs = res.events.filter((e) => e.event === 'log');
    const stored = (await t.api('GET', `/api/runs/${run.id}/logs`)).body;
    expect(logs.map((e) => Number(e.id))).toEqual(stored.map((l: any) => l.seq));
    expect(logs.map((e) => JSON.parse(e.data).text)).toEqual(stored.map((l: any) => l.text));
    // Live: the lines did not all arrive at once (echo waits 150 ms between lines).
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThan(200);
    const end = res.events.at(-1)!;
    expect(end.event).toBe('end');
    expect(JSON.parse(end.data)).toMatchObject({ status: 'completed', error: null });
  });

  it('a reconnect with Last-Event-ID gets exactly the lines after it', async () => {
    const bot = (await t.api('POST', '/api/bots', { name: 'Resume', prompt: 'again' })).body;
    const run = (await t.api('POST', `/api/bots/${bot.id}/run`)).body;
    await t.waitForRun(run.id);
    const all = (await readSse(`${t.url}/api/runs/${run.id}/events`)).events.filter((e) => e.event === 'log');
    expect(all.length).toBeGreaterThan(4);

    const resumed = await readSse(`${t.url}/api/runs/${run.id}/events`, { 'last-event-id': all[2]!.id! });
    const resumedLogs = resumed.events.filter((e) => e.event === 'log');
    expect(resumedLogs.map((e) => e.id)).toEqual(all.slice(3).map((e) => e.id));
    expect(resumed.events.at(-1)!.event).toBe('end');

    const atEnd = await readSse(`${t.url}/api/runs/${run.id}/events`, { 'last-event-id': all.at(-1)!.id! });
    expect(atEnd.events.map((e) => e.event)).toEqual(['end']);
  });

  it('a reconnect while the run is still going gets the rest, with no gap and no repeat', async () => {
    const bot = (await t.api('POST', '/api/bots', { name: 'Midway', prompt: 'go on' })).body;
    const run = (await t.api('POST', `/api/bots/${bot.id}/run`)).body;
    let seen = 0;
    const first = await readSse(`${t.url}/api/runs/${run.id}/events`, {}, (e) => (e.event === 'log' && ++seen === 2 ? 'stop' : undefined));
    const firstIds = first.events.filter((e) => e.event === 'log').map((e) => Number(e.id));
    expect(firstIds).toEqual([1, 2]);
    expect((await t.api('GET', `/api/runs/${run.id}`)).body.status).toBe('running');

    const rest = await readSse(`${t.url}/api/runs/${run.id}/events`, { 'last-event-id': String(firstIds.at(-1)) });
    const restIds = rest.events.filter((e) => e.event === 'log').map((e) => Number(e.id));
    const stored = (await t.api('GET', `/api/runs/${run.id}/logs`)).body.map((l: any) => l.seq);
    expect([...firstIds, ...restIds]).toEqual(stored);
    expect(rest.events.at(-1)!.event).toBe('end');
  });

  it('model text with CR or LF cannot forge SSE fields in the dashboard stream', async () => {
    const openai = await startFakeOpenAI();
    const t2 = await startTestApp({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: openai.baseURL });
    try {
      openai.enqueue({ kind: 'text', text: 'x\rid: 99999\revent: end\r\ndata: <b>y</b>\nlast' });
      const bot = (await t2.api('POST', '/api/bots', { name: 'Forger', prompt: 'x', model: 'openai:gpt-4.1-mini' })).body;
      const run = (await t2.api('POST', `/api/bots/${bot.id}/run`)).body;
      await t2.waitForRun(run.id);
      const html = await readSse(`${t2.url}/runs/${run.id}/stream`);
      const ends = html.events.filter((e) => e.event === 'end');
      expect(ends).toHaveLength(1);
      expect(html.events.at(-1)).toBe(ends[0]);
      const ids = html.events.filter((e) => e.event === 'log').map((e) => Number(e.id));
      expect(ids).toEqual(ids.map((_, i) => i + 1));
      const all = html.events.map((e) => e.data).join('\n');
      expect(all).toContain('id: 99999');
      expect(all).not.toContain('<b>');
      expect(all).toContain('&lt;b&gt;y&lt;/b&gt;');
    } finally {
      await t2.close();
      await openai.close();
    }
  });

  it('a stream of an unknown run is a JSON 404', async () => {
    const res = await t.api('GET', '/api/runs/424242/events');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('RUN_NOT_FOUND');
  });
});
