import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.ts';

interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** Reads an SSE stream with a raw HTTP request until it closes; `onEvent` sees each event as it comes. */
function readSse(url: string, headers: Record<string, string> = {}, onEvent?: (e: SseEvent) => void): Promise<{ status: number; type: string; events: SseEvent[] }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
        const events: SseEvent[] = [];
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let i: number;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const e: SseEvent = { event: 'message', data: '' };
            const data: string[] = [];
            let any = false;
            for (const line of block.split('\n')) {
              if (line.startsWith(':') || line.startsWith('retry:')) continue;
              const [k, ...rest] = line.split(':');
              const v = rest.join(':').replace(/^ /, '');
              if (k === 'id') e.id = v;
              if (k === 'event') e.event = v;
              if (k === 'data') data.push(v);
              any = true;
            }
            if (!any) continue;
            e.data = data.join('\n');
            events.push(e);
            onEvent?.(e);
          }
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), events }));
        res.on('error', reject);
      })
      .on('error', reject);
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
    const res = await readSse(`${t.url}/api/runs/${run.id}/events`, {}, () => arrivals.push(Date.now()));
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

  it('a stream of an unknown run is a JSON 404', async () => {
    const res = await t.api('GET', '/api/runs/424242/events');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('RUN_NOT_FOUND');
  });
});
