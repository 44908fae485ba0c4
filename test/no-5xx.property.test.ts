import type { RouteOptions } from 'fastify';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.ts';

// Issue 9: "10,000 generated requests over every route: 0 responses of 5xx". fast-check drives
// every registered route (API and pages, every method) with generated path parameters, query
// strings, JSON, form and multipart bodies, odd content types, cookies and headers, against the
// running app (app.inject: the whole fastify pipeline without sockets, which is faster here).
// Requests are sent one after another, each checked for a status below 500.

/** How many requests; NO_5XX_RUNS=1000 for a quick look while working on it. */
const RUNS = Number(process.env.NO_5XX_RUNS ?? 10_000);
const TOKEN = 'property-test-token';

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'OPTIONS' | 'HEAD';
interface GeneratedRequest {
  method: Method;
  url: string;
  headers: Record<string, string>;
  body?: string | Buffer;
}

/** Field names the routes read, so generated bodies reach past "name is required". */
const FIELDS = [
  'name', 'prompt', 'emoji', 'description', 'model', 'tools', 'schedule', 'notify', 'paused', 'max_steps', 'input', 'pinned', 'content',
  'source_bot', 'target_bot', 'event', 'enabled', 'steps', 'ids', 'file', 'bot', 'status', 'trigger', 'since', 'until',
] as const;
const QUERY_KEYS = ['limit', 'after', 'new', 'bot', 'status', 'trigger', 'since', 'until', 'cursor', 'template', 'open', 'run', 'token', 'lastEventId', 'list', 'x'] as const;

describe('no 5xx on generated requests (fast-check)', () => {
  let t: TestApp;
  const routes: { method: string; url: string }[] = [];
  /** Ids that exist, by kind; the generator picks from them so requests reach the handlers' insides. */
  const pool = { bot: [] as number[], run: [] as number[], result: [] as number[], trigger: [] as number[], pipeline: [] as number[], pipelineRun: [] as number[], doc: [] as string[] };
  /** The bot and run that hold the only run slot; never named, so no generated request ends them. */
  const anchor = { bot: 0, run: 0 };
  const auth = { authorization: `Bearer ${TOKEN}` };

  /** (Re)creates what the generated requests act on (bots, a result, docs, a connection, a pipeline, a run) and reads back the ids that exist. */
  const seed = async () => {
    const get = async (p: string) => (await t.api('GET', p, undefined, auth)).body as any[];
    const existing = (await get('/api/bots')).filter((b) => b.id !== anchor.bot);
    for (let i = existing.length; i < 4; i++) await t.api('POST', '/api/bots', { name: `Seed ${Date.now()}-${i}`, prompt: 'seed' }, auth);
    pool.bot = (await get('/api/bots')).map((b) => b.id).filter((id) => id !== anchor.bot);
    const [x, y] = pool.bot as [number, number];
    await t.api('POST', `/api/bots/${x}/docs`, { name: 'notes.md', content: '# notes' }, auth);
    await t.api('POST', `/api/bots/${x}/docs`, { name: 'deals/seen.json', content: '[]' }, auth);
    pool.doc = ['notes.md', 'deals/seen.json'];
    await t.engine.results.record(x, null, { title: 'seed result', content: 'c', url: `https://example.com/${Date.now()}` });
    pool.result = (await Promise.all(pool.bot.map((b) => get(`/api/bots/${b}/results`)))).flat().map((r) => r.id);
    await t.api('POST', '/api/triggers', { source_bot: x, event: 'failed', target_bot: y }, auth);
    pool.trigger = (await get('/api/triggers')).map((tr) => tr.id);
    await t.api('POST', '/api/pipelines', { name: `Line ${Date.now()}`, steps: [x, y] }, auth);
    pool.pipeline = (await get('/api/pipelines')).map((p) => p.id);
    const pr = await t.api('POST', `/api/pipelines/${pool.pipeline[0]}/run`, { input: 'p' }, auth);
    if (pr.status === 202) pool.pipelineRun = [...new Set([...pool.pipelineRun, pr.body.id])].slice(-5);
    const queued = await t.api('POST', `/api/bots/${y}/run`, { input: 'queued' }, auth);
    if (queued.status === 202) pool.run = [...pool.run, queued.body.id].slice(-5);
  };

  beforeAll(async () => {
    // One slot, held for the whole test by the anchor's run (a minute per echo line): every other
    // run waits in the queue, so generated run requests cost a row, not a process.
    t = await startTestApp(
      { DASHBOARD_TOKEN: TOKEN, MAX_CONCURRENT_RUNS: '1', ECHO_DELAY_MS: '60000', RATE_LIMIT_PER_MIN: '0' },
      { onRoute: (r: RouteOptions) => void routes.push(...([] as string[]).concat(r.method).map((method) => ({ method, url: r.url }))) },
    );
    anchor.bot = (await t.api('POST', '/api/bots', { name: 'Anchor', prompt: 'hold the slot' }, auth)).body.id;
    anchor.run = (await t.api('POST', `/api/bots/${anchor.bot}/run`, {}, auth)).body.id;
    await seed();
    const done = (await t.api('POST', `/api/bots/${pool.bot[0]}/run`, {}, auth)).body;
    await t.api('POST', `/api/runs/${done.id}/cancel`, undefined, auth);
    pool.run.push(done.id);
  }, 60_000);
  afterAll(() => t?.close(), 60_000);

  // ——— generators ———

  const notAnchor = (n: number) => n !== anchor.bot && n !== anchor.run;
  const weirdText = fc.oneof(
    fc.constantFrom('', ' ', '0', '-1', '1.5', '1e400', '9007199254740993', 'NaN', 'null', 'true', '[]', '{}', '%', '%zz', '%00', '..', '../..', '..%2F..', '/etc/passwd', '<script>', '\u0000', 'ā😀', 'a'.repeat(300)),
    fc.string({ maxLength: 20 }),
    fc.string({ unit: 'binary', maxLength: 12 }),
  );
  const number = fc.oneof(fc.integer({ min: -5, max: 50 }).filter(notAnchor), fc.integer().filter(notAnchor), fc.double(), fc.constantFrom(Number.MAX_SAFE_INTEGER, 2 ** 63, -0));
  const idFor = (kind: keyof typeof pool) =>
    fc.oneof(
      { weight: 5, arbitrary: fc.constant(null).map(() => pool[kind]).chain((ids) => (ids.length ? fc.constantFrom(...ids.map(String)) : fc.constant('1'))) },
      { weight: 1, arbitrary: number.map(String) },
      { weight: 1, arbitrary: weirdText },
    );
  /** A path parameter by its name and the route it is in (`:id` of `/pipelines/...` is a pipeline). */
  const paramFor = (url: string, name: string): fc.Arbitrary<string> => {
    if (name === 'name') return fc.oneof(fc.constant(null).chain(() => fc.constantFrom(...pool.doc)), weirdText);
    if (name === '*') return fc.oneof(fc.constantFrom('app.css', 'htmx.min.js', 'sse.min.js', '../package.json', '%2e%2e/x', ''), weirdText);
    if (url.startsWith('/api/pipeline-runs') || url.startsWith('/pipeline-runs')) return idFor('pipelineRun');
    if (url.includes('/pipelines')) return idFor('pipeline');
    if (url.includes('/triggers') || url.includes('/connections')) return idFor('trigger');
    if (url.includes('/results')) return idFor('result');
    if (url.includes('/runs/')) return idFor('run');
    return idFor('bot');
  };
  const segment = (s: string) => fc.constantFrom('encoded', 'encoded', 'encoded', 'raw').map((how) => (how === 'raw' ? s.replace(/[?#/\s]/g, '_') : encodeURIComponent(s)));

  const value: fc.Arbitrary<unknown> = fc.oneof(
    weirdText,
    number,
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.oneof(weirdText, number), { maxLength: 4 }),
    fc.constantFrom('echo', 'openai:gpt-4.1-mini', 'every 30m', '0 * * * *', 'completed', 'failed', 'result', 'web_search', 'files'),
    fc.constant(null).chain(() => fc.constantFrom(...[...pool.bot, ...pool.run, 0])),
    fc.jsonValue({ maxDepth: 2 }),
  );
  const fields = fc.dictionary(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...FIELDS) }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) }), value, { maxKeys: 6 });

  /** `arb` one time in `every`, else undefined. */
  const sometimes = <T,>(arb: fc.Arbitrary<T>, every: number) => fc.oneof({ weight: every - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });

  const query = sometimes(
    fc.array(fc.tuple(fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...QUERY_KEYS) }, { weight: 1, arbitrary: weirdText }), fc.oneof(weirdText, number.map(String), fc.constant(TOKEN))), { maxLength: 5 }),
    2,
  );

  const boundary = '----oo-prop';
  const multipart = (name: string, content: string, cut: boolean) => {
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: text/plain\r\n\r\n${content}`;
    return cut ? head : `${head}\r\n--${boundary}--\r\n`;
  };
  const body: fc.Arbitrary<{ type?: string; data?: string | Buffer }> = fc.oneof(
    { weight: 3, arbitrary: fc.constant({}) },
    { weight: 6, arbitrary: fields.map((f) => ({ type: 'application/json', data: JSON.stringify(f) })) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => ({ type: 'application/json', data: JSON.stringify(v) })) },
    { weight: 1, arbitrary: fc.constantFrom('{', '{"a":', 'nul', '"\\u00"', '', '[1,]').map((data) => ({ type: 'application/json', data })) },
    {
      weight: 4,
      arbitrary: fields.map((f) => ({
        type: 'application/x-www-form-urlencoded',
        data: new URLSearchParams(Object.entries(f).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, String(x)]) : [[k, String(v)]]))).toString(),
      })),
    },
    { weight: 1, arbitrary: weirdText.map((data) => ({ type: 'application/x-www-form-urlencoded', data })) },
    {
      weight: 3,
      arbitrary: fc.tuple(fc.oneof(fc.constantFrom('up.md', 'deep/er.txt', '../x.md', '.hidden', ''), weirdText), weirdText, fc.boolean()).map(([n, c, cut]) => ({
        type: `multipart/form-data; boundary=${boundary}`,
        data: multipart(n, c, cut),
      })),
    },
    { weight: 1, arbitrary: weirdText.map((data) => ({ type: 'multipart/form-data', data })) },
    {
      weight: 2,
      arbitrary: fc.tuple(fc.constantFrom('text/plain', 'application/xml', 'application/octet-stream', 'application/json; charset=utf-16', 'image/png', '*/*', 'text/html', ';', 'x'), fc.oneof(weirdText, fields.map((f) => JSON.stringify(f)))).map(
        ([type, data]) => ({ type, data }),
      ),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((a) => ({ type: 'application/json', data: Buffer.from(a) })) },
  );

  const extraHeaders = fc.record(
    {
      auth: fc.oneof(
        { weight: 20, arbitrary: fc.constant(auth) },
        { weight: 1, arbitrary: fc.constant({}) },
        { weight: 1, arbitrary: fc.constantFrom({ authorization: 'Bearer wrong' }, { authorization: 'Basic x' }, { authorization: '' }) },
        { weight: 1, arbitrary: fc.oneof(weirdText, fc.constant(encodeURIComponent(TOKEN))).map((v) => ({ cookie: `oo_token=${v}; other=%` })) },
      ),
      htmx: sometimes(fc.constantFrom({ 'hx-request': 'true' }, { 'hx-request': 'true', 'hx-target': 'run-panel' }, { 'hx-request': 'true', 'hx-history-restore-request': 'true' }), 3),
      accept: sometimes(fc.constantFrom('text/html', 'application/json', '*/*', 'text/event-stream', ''), 2),
      origin: sometimes(fc.constantFrom({ origin: 'http://localhost:80' }, { origin: 'https://evil.example' }, { origin: 'null' }, { 'sec-fetch-site': 'cross-site' }, { host: 'evil.example' }), 12),
      lastEventId: sometimes(fc.oneof(weirdText, number.map(String)).map((v) => ({ 'last-event-id': v.replace(/[\r\n\0]/g, '') })), 10),
    },
  );

  const request: fc.Arbitrary<GeneratedRequest> = fc
    .constant(null)
    .chain(() => fc.constantFrom(...routes))
    .chain((route) => {
      const names = [...route.url.matchAll(/:([A-Za-z0-9_]+)|(\*)/g)].map((m) => m[1] ?? '*');
      const params = fc.tuple(...names.map((n) => paramFor(route.url, n).chain(segment)));
      const method = fc.oneof({ weight: 9, arbitrary: fc.constant(route.method as Method) }, { weight: 1, arbitrary: fc.constantFrom<Method>('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD') });
      return fc.record({ route: fc.constant(route), method, params, query, body, headers: extraHeaders });
    })
    .map(({ route, method, params, query: q, body: b, headers: h }) => {
      let i = 0;
      const path = route.url.replace(/:([A-Za-z0-9_]+)|\*/g, () => params[i++] ?? '');
      const qs = q ? q.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&') : '';
      const all = { ...h.auth, ...(h.htmx ?? {}), ...(h.accept ? { accept: h.accept } : {}), ...(h.origin ?? {}), ...(h.lastEventId ?? {}) };
      const headers = Object.fromEntries(Object.entries(all).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
      const withBody = method !== 'GET' && method !== 'HEAD' && b.data !== undefined;
      if (withBody && b.type) headers['content-type'] = b.type;
      return { method, url: path + (qs ? `?${qs}` : ''), headers, body: withBody ? b.data : undefined };
    });

  /** Sends one request through the app; a streamed answer (SSE) is closed once its status is known. */
  const send = async (req: GeneratedRequest): Promise<number> => {
    const res = await t.app.inject({ method: req.method, url: req.url, headers: req.headers, payload: req.body, payloadAsStream: true });
    const stream = res.stream();
    if (String(res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
      res.raw.res.destroy(); // the client goes away: the stream unsubscribes
      stream.destroy();
    } else {
      for await (const _ of stream); // read to the end, like a client
    }
    return res.statusCode;
  };

  it(`answers ${RUNS} generated requests over every route without a single 5xx`, async () => {
    const byStatus = new Map<number, number>();
    let sent = 0;
    const failures: string[] = [];
    try {
      await fc.assert(
        fc.asyncProperty(request, async (req) => {
          sent++;
          if (sent % 500 === 0) await seed(); // bring back what generated DELETEs removed
          const status = await send(req);
          byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
          if (status >= 500) failures.push(`${status} ${req.method} ${req.url} ${JSON.stringify(req.headers)} ${String(req.body ?? '').slice(0, 200)}`);
          return status < 500;
        }),
        { numRuns: RUNS, endOnFailure: true },
      );
    } finally {
      const fivexx = [...byStatus].filter(([s]) => s >= 500).reduce((n, [, c]) => n + c, 0);
      const summary = [...byStatus].sort(([x], [y]) => x - y).map(([s, c]) => `${s}: ${c}`).join(', ');
      console.log(`no-5xx property test: ${sent} requests over ${routes.length} routes, ${fivexx} responses of 5xx (${summary})`);
    }
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThanOrEqual(RUNS);
    // The generator reached the handlers, not only the auth check and the 404 handler.
    expect([200, 201, 202, 204].reduce((n, s) => n + (byStatus.get(s) ?? 0), 0)).toBeGreaterThan(RUNS / 10);
    expect(byStatus.get(400) ?? 0).toBeGreaterThan(RUNS / 20);
  }, 300_000);
});
