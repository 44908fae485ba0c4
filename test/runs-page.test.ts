import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.ts';

// The Runs page over HTTP, as a browser without JavaScript and as htmx use it: rows with stable
// ids, filters, pages, Retry and Cancel answering with the table or a redirect back.
describe('the Runs page (/runs)', () => {
  let t: TestApp;
  let a: any;
  let b: any;
  const runs: any[] = [];
  beforeAll(async () => {
    // One slot held by a long run: everything else stays queued (no process per run).
    t = await startTestApp({ MAX_CONCURRENT_RUNS: '1', ECHO_DELAY_MS: '60000' });
    a = (await t.api('POST', '/api/bots', { name: 'Alpha', emoji: '🅰️', prompt: 'a' })).body;
    b = (await t.api('POST', '/api/bots', { name: 'Beta <b>', emoji: '🅱️', prompt: 'b' })).body;
    for (let i = 0; i < 54; i++) runs.push((await t.api('POST', `/api/bots/${i % 3 === 0 ? b.id : a.id}/run`, { input: `n${i}` })).body);
  });
  afterAll(() => t?.close());

  const page = async (path: string, headers: Record<string, string> = {}) => {
    const res = await fetch(t.url + path, { headers: { accept: 'text/html', ...headers }, redirect: 'manual' });
    return { status: res.status, html: await res.text(), location: res.headers.get('location') };
  };
  const rowIds = (html: string) => [...html.matchAll(/<tr id="run-row-(\d+)"/g)].map((m) => Number(m[1]));
  const post = (path: string, form: Record<string, string | string[]>, headers: Record<string, string> = {}) => {
    const body = new URLSearchParams();
    for (const [k, v] of Object.entries(form)) for (const x of ([] as string[]).concat(v)) body.append(k, x);
    return fetch(t.url + path, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, redirect: 'manual' });
  };

  it('is linked from the header of every page', async () => {
    for (const p of ['/', `/bots/${a.id}`, '/runs']) expect((await page(p)).html).toContain('<a href="/runs">Runs</a>');
  });

  it('lists the newest 50 runs of every bot with a link to the older ones, each row with a stable id', async () => {
    const first = await page('/runs');
    expect(first.status).toBe(200);
    const newest = [...runs].reverse().map((r) => r.id);
    expect(rowIds(first.html)).toEqual(newest.slice(0, 50));
    expect(first.html).toContain('🅱️ Beta &lt;b&gt;'); // the bot's name, escaped
    expect(first.html).not.toContain('Beta <b>');
    const older = /<a class="btn small ghost" href="([^"]+)"[^>]*>Older →<\/a>/.exec(first.html)?.[1]?.replaceAll('&amp;', '&');
    expect(older).toMatch(/^\/runs\?cursor=/);
    const second = await page(older!);
    expect(rowIds(second.html)).toEqual(newest.slice(50));
    expect(second.html).not.toContain('Older →');
    expect(second.html).toContain('← Newest');
  });

  it('filters by bot, status and origin, and keeps the filters in the form and the page links', async () => {
    const onlyB = await page(`/runs?bot=${b.id}`);
    const bRuns = runs.filter((r) => r.bot_id === b.id).map((r) => r.id).reverse();
    expect(rowIds(onlyB.html)).toEqual(bRuns);
    expect(onlyB.html).toContain(`<option value="${b.id}" selected>`);
    const running = await page('/runs?status=running');
    expect(rowIds(running.html)).toEqual([runs[0].id]);
    expect(rowIds((await page('/runs?trigger=schedule')).html)).toEqual([]);
    expect((await page('/runs?trigger=schedule')).html).toContain('No runs match.');
    // Empty fields of the form mean "any".
    expect(rowIds((await page('/runs?bot=&status=&trigger=&since=&until=')).html)).toHaveLength(50);
    const queued = await page('/runs?status=queued');
    expect(queued.html).toMatch(/href="\/runs\?status=queued&amp;cursor=[^"]+"/);
  });

  it('answers htmx with the table alone, and shows a bad filter as a message (400 for a whole page)', async () => {
    const partial = await page('/runs?status=queued', { 'hx-request': 'true' });
    expect(partial.status).toBe(200);
    expect(partial.html.trimStart()).toMatch(/^<section id="all-runs"/);
    expect(partial.html).not.toContain('<html');
    const restore = await page('/runs', { 'hx-request': 'true', 'hx-history-restore-request': 'true' });
    expect(restore.html).toContain('<html');
    const bad = await page('/runs?since=yesterday');
    expect(bad.status).toBe(400);
    expect(bad.html).toContain('role="alert">since must be an ISO 8601 time');
    expect(bad.html).toContain('<form id="runs-filter"');
  });

  it('cancels the selected runs and retries a cancelled one, with htmx and without JavaScript', async () => {
    const [x, y, z] = [runs[53], runs[52], runs[51]];
    // htmx: the table comes back (same filters) with what happened.
    const res = await post('/runs/cancel', { ids: [String(x.id), String(y.id)], bot: String(a.id) }, { 'hx-request': 'true' });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain(`Cancelled #${x.id}, #${y.id}.`);
    expect(html).toMatch(new RegExp(`<tr id="run-row-${y.id}" data-status="cancelled"`));
    expect(rowIds(html).every((id) => runs.find((r) => r.id === id)?.bot_id === a.id)).toBe(true);
    const again = await (await post('/runs/cancel', { ids: String(x.id) }, { 'hx-request': 'true' })).text();
    expect(again).toContain(`Not cancelled: #${x.id} (Run #${x.id} already ended (cancelled).)`);
    // Without JavaScript: a redirect back to the list with its filters.
    const plain = await post('/runs/cancel', { ids: String(z.id), status: 'queued' });
    expect(plain.status).toBe(303);
    expect(plain.headers.get('location')).toBe('/runs?status=queued');
    expect((await t.api('GET', `/api/runs/${z.id}`)).body.status).toBe('cancelled');

    const retried = await post(`/runs/${x.id}/retry`, {}, { 'hx-request': 'true' });
    const retriedHtml = await retried.text();
    const newId = Number(/Retrying run #\d+ as run #(\d+)\./.exec(retriedHtml)?.[1]);
    expect(newId).toBeGreaterThan(z.id);
    expect(rowIds(retriedHtml)[0]).toBe(newId);
    expect(retriedHtml).toContain(`retry of #${x.id}`);
    expect((await t.api('GET', `/api/runs/${newId}`)).body).toMatchObject({ retry_of: x.id, input: x.input, bot_id: x.bot_id });
    // A run that is still active cannot be retried: the table says why.
    const refused = await (await post(`/runs/${runs[0].id}/retry`, {}, { 'hx-request': 'true' })).text();
    expect(refused).toContain(`role="alert">Run #${runs[0].id} is running: only a failed, cancelled, interrupted or rejected run can be retried.`);
    const plainRetry = await post(`/runs/${y.id}/retry`, { bot: String(a.id) });
    expect(plainRetry.status).toBe(303);
    expect(plainRetry.headers.get('location')).toBe(`/runs?bot=${a.id}`);
    expect((await post('/runs/cancel', {}, { 'hx-request': 'true' }).then((r) => r.text()))).toContain('Select the runs to cancel.');
  });

  it('offers Retry only on failed, cancelled and interrupted runs and Cancel (with a checkbox) only on active ones', async () => {
    const html = (await page('/runs')).html + (await page('/runs?status=running')).html;
    const row = (id: number) => new RegExp(`<tr id="run-row-${id}"[\\s\\S]*?</tr>`).exec(html)?.[0] ?? '';
    const cancelled = runs[53];
    expect(row(cancelled.id)).toContain('↻ Retry');
    expect(row(cancelled.id)).not.toContain('type="checkbox"');
    expect(row(runs[0].id)).toContain(`name="ids" value="${runs[0].id}" form="runs-cancel"`);
    expect(row(runs[0].id)).not.toContain('↻ Retry');
  });
});
