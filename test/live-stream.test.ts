import net from 'node:net';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.ts';
import { openSse } from './helpers/sse-client.ts';
import { StreamHub } from '../src/web/live/hub.ts';

// The dashboard's live stream over HTTP: what a page hears, what it hears again after a
// reconnect, and what an idle reader costs the server.
describe('live stream', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ ECHO_DELAY_MS: '0', LOG_LEVEL: 'error' });
  });
  afterAll(async () => {
    await t?.close();
  });
  const bot = async (name: string) => (await t.api('POST', '/api/bots', { name, prompt: 'p' })).body;

  it("a run's card, header, tiles, runs list and results are sent as rendered HTML to the right scopes", async () => {
    const b = await bot('Scoped');
    const other = await bot('Other');
    // A page rendered now names the id to replay from.
    const html = await (await fetch(`${t.url}/bots/${b.id}`)).text();
    const after = /sse-connect="\/bots\/\d+\/stream\?after=([^"]+)"/.exec(html)![1]!;
    const dash = await openSse(`${t.url}/stream`);
    const page = await openSse(`${t.url}/bots/${b.id}/stream?after=${after}`);
    const otherPage = await openSse(`${t.url}/bots/${other.id}/stream`);
    const run = (await t.api('POST', `/api/bots/${b.id}/run`, {})).body;
    await t.waitForRun(run.id);

    const card = await dash.waitFor((e) => e.event === `card-${b.id}` && e.data.includes('Idle'));
    expect(card.data).toMatch(new RegExp(`^<article id="bot-${b.id}" class="bot-card"[^>]* sse-swap="card-${b.id}"`));
    expect(card.data).toContain('<strong>1</strong> result<');
    await page.waitFor((e) => e.event === 'results-new');
    const heard = page.events.map((e) => e.event);
    for (const e of ['run', `run-${run.id}`, 'head', 'stats', 'runs', 'results', 'results-new']) expect(heard).toContain(e);
    const stats = page.events.filter((e) => e.event === 'stats').at(-1)!;
    expect(stats.data).toMatch(/data-stat="runs">1</);
    expect(stats.data).toMatch(/data-stat="success">100%</);
    // A dashboard hears no bot page's parts, and another bot's page hears nothing of this run.
    expect(dash.events.map((e) => e.event).filter((e) => !e.startsWith('card-') && e !== 'activity')).toEqual([]);
    expect(otherPage.events).toEqual([]);
    for (const c of [dash, page, otherPage]) c.close();
  });

  it('a reconnect with Last-Event-ID misses nothing and repeats nothing', async () => {
    const b = await bot('Reconnect');
    const first = await openSse(`${t.url}/stream`);
    const r1 = (await t.api('POST', `/api/bots/${b.id}/run`, {})).body;
    await t.waitForRun(r1.id);
    await first.waitFor((e) => e.event === 'activity' && e.data.includes(`run #${r1.id} completed`));
    const last = first.events.at(-1)!;
    first.close();

    // While the page is away, two more runs.
    const r2 = (await t.api('POST', `/api/bots/${b.id}/run`, {})).body;
    await t.waitForRun(r2.id);
    const r3 = (await t.api('POST', `/api/bots/${b.id}/run`, {})).body;
    await t.waitForRun(r3.id);
    const back = await openSse(`${t.url}/stream`, { 'last-event-id': last.id! });
    await back.waitFor((e) => e.event === 'activity' && e.data.includes(`run #${r3.id} completed`));
    const seqs = back.events.map((e) => Number(e.id!.split('-')[1]));
    expect(seqs[0]).toBeGreaterThan(Number(last.id!.split('-')[1]));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(back.events.some((e) => e.event === 'activity' && e.data.includes(`run #${r2.id} completed`))).toBe(true);
    expect(back.events.map((e) => e.event)).not.toContain('resync');
    back.close();

    // An id from another process (or nonsense) cannot be replayed: one resync, and the page re-fetches.
    const stranger = await openSse(`${t.url}/stream`, { 'last-event-id': 'zzzz-5' });
    expect((await stranger.waitFor(() => true)).event).toBe('resync');
    stranger.close();
  });

  it('one card update is rendered once, whatever the number of dashboards', async () => {
    const b = await bot('Watched');
    const clients = await Promise.all(Array.from({ length: 20 }, () => openSse(`${t.url}/stream`)));
    await t.engine.bus.flush();
    await new Promise((r) => setImmediate(r));
    const before = { ...t.app.live.view.stats };
    await t.api('PUT', `/api/bots/${b.id}`, { description: 'now described' });
    const got = await Promise.all(clients.map((c) => c.waitFor((e) => e.event === `card-${b.id}`)));
    expect(new Set(got.map((e) => e.data)).size).toBe(1);
    expect(got[0]!.data).toContain('now described');
    // One card (and the pipelines list, which shows bot names): two renders, not twenty.
    expect(t.app.live.view.stats.renders - before.renders).toBe(2);
    for (const c of clients) c.close();
  });

  it("a connection made or removed is heard: the dashboard's list re-fetches, both bots' cards are sent again", async () => {
    const src = await bot('Linker');
    const dst = await bot('Linked');
    const dash = await openSse(`${t.url}/stream`);
    const made = await t.api('POST', '/api/triggers', { source_bot: src.id, event: 'completed', target_bot: dst.id });
    expect(made.status).toBe(201);
    await dash.waitFor((e) => e.event === 'connections');
    await dash.waitFor((e) => e.event === `card-${dst.id}`);
    await dash.waitFor((e) => e.event === `card-${src.id}`);
    // What the list fetches on that cue: the new connection.
    const list = await (await fetch(`${t.url}/partials/connections?list=1`)).text();
    expect(list.trim()).toMatch(/^<div id="connection-list"/);
    expect(list).toContain(`data-trigger-id="${made.body.id}"`);
    const seen = dash.events.length;
    expect((await t.api('DELETE', `/api/triggers/${made.body.id}`)).status).toBe(204);
    await dash.waitFor((e) => e.event === 'connections', { from: seen });
    expect(await (await fetch(`${t.url}/partials/connections?list=1`)).text()).not.toContain(`data-trigger-id="${made.body.id}"`);
    dash.close();
  });

  it("an open page of a bot that is deleted is told so", async () => {
    const b = await bot('Doomed');
    const page = await openSse(`${t.url}/bots/${b.id}/stream`);
    expect((await t.api('DELETE', `/api/bots/${b.id}`)).status).toBe(204);
    const head = await page.waitFor((e) => e.event === 'head');
    expect(head.data).toContain('This bot was deleted');
    expect(head.data).not.toContain('hx-get');
    page.close();
  });

  it('idle readers of a 30,000-line log: the replay waits for each socket, the server buffers no log', async () => {
    const b = await bot('Verbose');
    const sqlite = t.engine.db.$client;
    const now = Date.now();
    const runId = Number(
      sqlite.prepare("insert into runs (bot_id, trigger, status, created_at, started_at, finished_at, duration_ms) values (?, 'manual', 'completed', ?, ?, ?, 1)").run(b.id, now, now, now).lastInsertRowid,
    );
    const insert = sqlite.prepare("insert into run_logs (run_id, seq, ts, stream, text) values (?, ?, ?, 'stdout', ?)");
    sqlite.transaction(() => {
      for (let i = 1; i <= 30_000; i++) insert.run(runId, i, now, `line ${i} `.padEnd(2000, 'x'));
    })();
    // 60 MB per reader: more than a loopback socket's kernel buffers take (up to ~36 MB here).
    const logBytes = 30_000 * 2000;
    const READERS = 5; // bench/sse-slow-client.ts runs 50

    const serverSockets: net.Socket[] = [];
    const onConnection = (s: net.Socket) => serverSockets.push(s);
    t.app.server.on('connection', onConnection);
    const readers = await Promise.all(
      Array.from(
        { length: READERS },
        () =>
          new Promise<net.Socket>((resolve) => {
            const s = net.connect(Number(new URL(t.url).port), '127.0.0.1', () => {
              s.write(`GET /runs/${runId}/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
              s.pause(); // reads nothing
              resolve(s);
            });
          }),
      ),
    );
    // The server streams the log to sockets nobody reads until each is full. Whatever the kernel
    // takes, the server itself holds at most about one chunk (32 KB) per stream: it waits for
    // 'drain' (a stream that did not would queue the rest of the log, tens of MB per reader; one
    // that wrote a page of 500 such lines at once would hold 1 MB).
    const queued = () => serverSockets.reduce((n, s) => n + s.writableLength, 0);
    const sent = () => serverSockets.reduce((n, s) => n + s.bytesWritten, 0);
    let maxQueued = 0;
    let last = -1;
    for (let i = 0; i < 600 && sent() !== last; i++) {
      last = sent();
      for (let j = 0; j < 5; j++) {
        await new Promise((r) => setTimeout(r, 40));
        maxQueued = Math.max(maxQueued, queued());
      }
    }
    t.app.server.off('connection', onConnection);
    expect(serverSockets.length).toBe(READERS);
    expect(sent()).toBe(last); // every stream stalled …
    expect(sent()).toBeLessThan(READERS * logBytes * 0.8); // … well short of the log
    expect(maxQueued).toBeLessThan(READERS * 256 * 1024);
    for (const r of readers) r.destroy();
  }, 60_000);
});

// The hub's ring on its own: a reader older than the ring is told to re-fetch, once.
async function hubServer(hub: StreamHub) {
  const app = Fastify();
  app.get('/s', async (req, reply) => hub.serve(req, reply, 'dash'));
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, url: `http://127.0.0.1:${(app.server.address() as net.AddressInfo).port}/s` };
}

describe('stream hub', () => {
  it('a slow reader gets the events the ring still holds, else one resync; an idle reader holds no copies', async () => {
    const hub = new StreamHub({ maxEvents: 50, heartbeatMs: 60_000 });
    const { app, url } = await hubServer(hub);
    try {
      const reader = await openSse(url);
      for (let i = 1; i <= 10; i++) hub.publish(['dash'], 'tick', `t${i}`);
      await reader.waitFor((e) => e.data === 't10');
      const tenth = reader.events.at(-1)!.id!;
      reader.close();

      for (let i = 11; i <= 40; i++) hub.publish(['dash'], 'tick', `t${i}`);
      hub.publish(['other'], 'tick', 'not for dashboards');
      const back = await openSse(url, { 'last-event-id': tenth });
      await back.waitFor((e) => e.data === 't40');
      expect(back.events.map((e) => e.data)).toEqual(Array.from({ length: 30 }, (_, i) => `t${i + 11}`));
      back.close();

      for (let i = 41; i <= 200; i++) hub.publish(['dash'], 'tick', `t${i}`);
      const late = await openSse(url, { 'last-event-id': tenth });
      const first = await late.waitFor(() => true);
      expect(first.event).toBe('resync');
      hub.publish(['dash'], 'tick', 'after');
      await late.waitFor((e) => e.data === 'after');
      expect(late.events.map((e) => e.event)).toEqual(['resync', 'tick']);
      late.close();

      // An idle reader: its socket fills, the hub stops writing to it; the rest stays in the ring.
      const idle = net.connect(Number(new URL(url).port), '127.0.0.1', () => idle.write('GET /s HTTP/1.1\r\nHost: x\r\n\r\n'));
      idle.pause();
      await new Promise((r) => setTimeout(r, 200));
      const big = 'x'.repeat(64 * 1024);
      const writesBefore = hub.stats.writes;
      for (let i = 0; i < 2000; i++) hub.publish(['dash'], 'big', big); // 128 MB published
      const written = hub.stats.writes - writesBefore;
      expect(written).toBeLessThan(2000 / 4);
      idle.destroy();
    } finally {
      hub.close();
      await app.close();
    }
  });

  it('a reader away while nobody wanted its events (so they were never rendered) gets a resync', async () => {
    const hub = new StreamHub({ interestMs: 1000, heartbeatMs: 60_000 });
    const { app, url } = await hubServer(hub);
    try {
      const away = await openSse(url);
      hub.publish(['dash'], 'tick', 'seen');
      const seen = (await away.waitFor((e) => e.data === 'seen')).id!;
      away.close();
      await expect.poll(() => hub.clientCount).toBe(0);
      // Just after a client left, a publisher still renders for it …
      expect(hub.wants('dash')).toBe(true);
      hub.publish(['dash'], 'tick', 'while away');
      const soon = await openSse(url, { 'last-event-id': seen });
      expect((await soon.waitFor(() => true)).data).toBe('while away');
      const soonId = soon.events[0]!.id!;
      soon.close();
      // … but not for long: then it skips (and the hub remembers it did).
      await expect.poll(() => hub.wants('dash'), { timeout: 5000 }).toBe(false);
      const late = await openSse(url, { 'last-event-id': soonId });
      expect((await late.waitFor(() => true)).event).toBe('resync');
      late.close();
    } finally {
      hub.close();
      await app.close();
    }
  });
});
