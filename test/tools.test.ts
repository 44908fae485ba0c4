import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from './fakes/anthropic.ts';
import { startFakeOpenAI, type FakeOpenAI } from './fakes/openai.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';
import { CodeSandbox } from '../src/engine/tools/sandbox.ts';
import { isPrivateAddress } from '../src/engine/tools/web.ts';

/** A small web site for web_fetch and a SearXNG-like search API, on 127.0.0.1. */
async function startSite(): Promise<{ url: string; close(): Promise<void> }> {
  const article = `<!doctype html><html><head><title>Deals of the day</title><script>window.tracking = 'x'</script></head><body>
    <nav><a href="/">Home</a> · <a href="/about">About</a></nav>
    <article><h1>Nike Air Max 90 for 35 €</h1>
      <p>A pair of Nike Air Max 90 in size 43, worn twice, is on offer for 35 € including shipping. The seller ships within two days.</p>
      <p>See the <a href="/item/1?ref=day">listing</a> for photos; more offers follow every morning on this page, sorted by price.</p>
      <p>Prices checked today. Offers like this one usually sell within hours, so act fast if the size fits you.</p>
    </article><footer>© Deals</footer></body></html>`;
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname === '/old') return res.writeHead(301, { location: '/article' }).end();
    if (u.pathname.startsWith('/loop')) return res.writeHead(302, { location: `/loop${Number(u.pathname.slice(5) || 0) + 1}` }).end();
    if (u.pathname === '/article') return res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(article);
    if (u.pathname === '/huge') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = 'x'.repeat(64 * 1024);
      for (let i = 0; i < 40; i++) res.write(chunk);
      return res.end();
    }
    if (u.pathname === '/search') {
      return res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({ query: u.searchParams.get('q'), results: [{ title: 'Air Max 90 offers', url: 'https://shop.example.com/search?q=air+max', content: `Found for <b>${u.searchParams.get('q')}</b>` }] }),
      );
    }
    res.writeHead(404).end('not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

// The tools a bot's checkboxes give it, each exercised through a real run: the model (a fake
// server) calls the tool, the next request shows what the tool answered.
describe('tools', () => {
  let openai: FakeOpenAI;
  let anthropic: FakeAnthropic;
  let site: Awaited<ReturnType<typeof startSite>>;
  let t: TestApp;
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'oo-outside-'));
  beforeAll(async () => {
    openai = await startFakeOpenAI();
    anthropic = await startFakeAnthropic();
    site = await startSite();
    // The test site is on 127.0.0.1, which web_fetch refuses unless allowed.
    t = await startTestApp({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: openai.baseURL, ANTHROPIC_API_KEY: 'ak-test', ANTHROPIC_BASE_URL: anthropic.baseURL, SEARXNG_URL: site.url, WEB_FETCH_ALLOW_PRIVATE: 'true' });
  });
  afterAll(async () => {
    await t?.close();
    await openai?.close();
    await anthropic?.close();
    await site?.close();
    fs.rmSync(outside, { recursive: true, force: true });
  });
  afterEach(() => {
    openai.requests.length = 0;
    anthropic.requests.length = 0;
  });

  let n = 0;
  const newBot = async (tools: string[], model = 'openai:gpt-4.1-mini') => (await t.api('POST', '/api/bots', { name: `Tools ${++n}`, prompt: 'Work.', model, tools })).body;
  const run = async (app: TestApp, botId: number) => app.waitForRun((await app.api('POST', `/api/bots/${botId}/run`, {})).body.id);
  /** Every tool message the model got back, in order (the last request carries the whole conversation). */
  const toolReplies = (): string[] => (openai.requests.at(-1)?.body.messages ?? []).filter((m: any) => m.role === 'tool').map((m: any) => m.content);
  const logsOf = async (app: TestApp, runId: number): Promise<string[]> => (await app.api('GET', `/api/runs/${runId}/logs`)).body.map((l: any) => l.text);

  describe('files', () => {
    it('write_file writes inside the docs folder; "..", absolute paths and symlinks out of it are refused', async () => {
      const bot = await newBot(['files'], 'anthropic:claude-sonnet-4-5');
      fs.symlinkSync(outside, path.join(bot.docs_path, 'escape'));
      anthropic.enqueue(
        {
          kind: 'tool_use',
          calls: [
            { name: 'write_file', input: { path: 'deals/seen.md', content: 'item 1\n' } },
            { name: 'write_file', input: { path: '../../evil.md', content: 'x' } },
            { name: 'write_file', input: { path: path.join(outside, 'abs.md'), content: 'x' } },
            { name: 'write_file', input: { path: 'escape/through-link.md', content: 'x' } },
            { name: 'append_file', input: { path: 'deals/seen.md', content: 'item 2\n' } },
            { name: 'read_file', input: { path: 'deals/seen.md' } },
            { name: 'read_file', input: { path: 'escape/../../etc/passwd' } },
            { name: 'list_files', input: {} },
          ],
        },
        { kind: 'text', text: 'Done.' },
      );
      const r = await run(t, bot.id);
      expect(r.status).toBe('completed');

      expect(fs.readFileSync(path.join(bot.docs_path, 'deals/seen.md'), 'utf8')).toBe('item 1\nitem 2\n');
      expect(fs.readdirSync(outside)).toEqual([]);
      expect(fs.existsSync(path.resolve(bot.docs_path, '../../evil.md'))).toBe(false);

      const results = anthropic.requests[1]!.body.messages[2].content.map((c: any) => [c.is_error === true, c.content]);
      expect(results).toEqual([
        [false, 'Wrote 7 bytes to deals/seen.md.'],
        [true, expect.stringContaining('contains "..": paths must stay inside your documents folder')],
        [true, expect.stringContaining('is an absolute path')],
        [true, expect.stringContaining('leads outside your documents folder (a symlink); refused')],
        [false, 'Appended 7 bytes to deals/seen.md (now 14 bytes).'],
        [false, 'item 1\nitem 2\n'],
        [true, expect.stringContaining('contains ".."')],
        [false, expect.stringMatching(/^deals\/seen\.md\t14 B\t\d{4}-/)],
      ]);
      const logs = await logsOf(t, r.id);
      expect(logs.filter((l) => l.startsWith('🔧 write_file') && l.includes('· error:'))).toHaveLength(3);
    });

    it('the run child itself cannot write outside its folder: it runs under the permission model', async () => {
      const bot = await newBot([]);
      openai.enqueue({ kind: 'hang' });
      const started = new Promise<number>((resolve) => t.engine.bus.on('run.started', (e) => e.botId === bot.id && resolve(e.pid)));
      const queued = (await t.api('POST', `/api/bots/${bot.id}/run`, {})).body;
      const pid = await started;
      await expect.poll(() => openai.requests.length, { timeout: 10_000 }).toBe(1);

      // The flags the live child was started with, read from the kernel.
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      const scriptAt = argv.findIndex((a, i) => i > 0 && !a.startsWith('-'));
      const execArgv = argv.slice(1, scriptAt);
      const docs = fs.realpathSync(bot.docs_path);
      expect(execArgv).toContain(process.allowedNodeEnvironmentFlags.has('--permission') ? '--permission' : '--experimental-permission');
      expect(execArgv.filter((a) => a.startsWith('--allow-fs-write'))).toEqual([`--allow-fs-write=${docs}`]);
      expect(execArgv.filter((a) => /^--allow-(child-process|worker|addons)/.test(a))).toEqual([]);
      expect(fs.readFileSync(`/proc/${pid}/environ`, 'utf8')).not.toContain('sk-test');

      // The same flags, the same working directory: a direct write outside fails, inside works.
      fs.writeFileSync(
        path.join(docs, 'probe.mjs'),
        `import fs from 'node:fs';
         const attempt = (p) => { try { fs.writeFileSync(p, 'x'); return 'written'; } catch (e) { return e.code; } };
         console.log(JSON.stringify({ outside: attempt(${JSON.stringify(path.join(outside, 'probe.txt'))}), inside: attempt('inside.txt'), canWriteTmp: process.permission.has('fs.write', ${JSON.stringify(os.tmpdir())}) }));`,
      );
      const out = execFileSync(process.execPath, [...execArgv, path.join(docs, 'probe.mjs')], { cwd: docs, env: {}, encoding: 'utf8' });
      expect(JSON.parse(out)).toEqual({ outside: 'ERR_ACCESS_DENIED', inside: 'written', canWriteTmp: false });
      expect(fs.existsSync(path.join(outside, 'probe.txt'))).toBe(false);
      expect((await t.api('POST', `/api/runs/${queued.id}/cancel`)).body.status).toBe('cancelled');
    });
  });

  describe('web_fetch', () => {
    it('follows a redirect and gives the model the readable text of the page, with its links', async () => {
      const bot = await newBot(['web_fetch']);
      openai.enqueue({ kind: 'tool_calls', calls: [{ name: 'web_fetch', arguments: JSON.stringify({ url: `${site.url}/old` }) }] }, { kind: 'text', text: 'Read it.' });
      const r = await run(t, bot.id);
      expect(r.status).toBe('completed');
      const [page] = toolReplies();
      expect(page).toContain(`URL: ${site.url}/article`);
      expect(page).toContain('Title: Deals of the day');
      expect(page).toContain('A pair of Nike Air Max 90 in size 43, worn twice, is on offer for 35 € including shipping.');
      expect(page).toContain(`- listing: ${site.url}/item/1?ref=day`);
      expect(page).not.toContain('window.tracking');
      expect(page).not.toContain('<p>');
      expect(await logsOf(t, r.id)).toEqual(expect.arrayContaining([expect.stringMatching(/^🔧 web_fetch \{"url":"http:\/\/127\.0\.0\.1:\d+\/old"\} · \d+ ms · ok$/)]));
    });

    it('more than 5 redirects, more than 2 MB, and HTTP errors are tool errors', async () => {
      const bot = await newBot(['web_fetch']);
      openai.enqueue(
        { kind: 'tool_calls', calls: ['/loop0', '/huge', '/missing', 'file:///etc/passwd'].map((p) => ({ name: 'web_fetch', arguments: JSON.stringify({ url: p.startsWith('/') ? site.url + p : p }) })) },
        { kind: 'text', text: 'ok' },
      );
      const r = await run(t, bot.id);
      expect(r.status).toBe('completed');
      expect(toolReplies()).toEqual([
        'Error: too many redirects (more than 5)',
        'Error: the page is larger than 2 MB',
        expect.stringMatching(/^Error: HTTP 404 Not Found from/),
        'Error: only http and https URLs can be fetched, not file:',
      ]);
    });
  });

  describe('web_fetch without WEB_FETCH_ALLOW_PRIVATE', () => {
    it('refuses this machine and private networks: the app’s own API, link-local metadata, private and IPv6 loopback addresses', async () => {
      const strict = await startTestApp({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: openai.baseURL });
      try {
        const bot = (await strict.api('POST', '/api/bots', { name: 'Fetcher', prompt: 'Fetch.', model: 'openai:gpt-4.1-mini', tools: ['web_fetch'] })).body;
        const port = new URL(strict.url).port;
        const urls = [`${strict.url}/api/bots`, `http://localhost:${port}/api/bots`, `${site.url}/old`, 'http://169.254.169.254/latest/meta-data/', 'http://10.0.0.1/', 'http://192.168.1.1/', 'http://[::1]:9/', 'http://[::ffff:127.0.0.1]/', 'http://0x7f000001/'];
        openai.enqueue({ kind: 'tool_calls', calls: urls.map((url) => ({ name: 'web_fetch', arguments: JSON.stringify({ url }) })) }, { kind: 'text', text: 'Refused.' });
        const r = await run(strict, bot.id);
        expect(r).toMatchObject({ status: 'completed', output: 'Refused.' });
        const refused = 'Error: web_fetch refuses private and loopback addresses (set WEB_FETCH_ALLOW_PRIVATE=true to allow)';
        expect(toolReplies()).toEqual(urls.map(() => expect.stringContaining(refused)));
        expect(toolReplies()[1]).toBe(`${refused}: localhost resolves to 127.0.0.1`);
        expect(toolReplies().join('\n')).not.toContain('Fetcher');
      } finally {
        await strict.close();
      }
    });
  });

  it('counts IPv6 forms that carry a private IPv4 address, and reserved IPv4 ranges, as private', () => {
    for (const ip of ['64:ff9b::7f00:1', '64:ff9b::a9fe:a9fe', '2002:7f00:1::1', '::7f00:1', '::ffff:0:7f00:1', '::ffff:127.0.0.1', '192.0.0.1', '198.18.0.1', '::1', '::']) {
      expect(isPrivateAddress(ip), ip).toBe(true);
    }
    for (const ip of ['8.8.8.8', '1.1.1.1', '::ffff:8.8.8.8', '2606:4700:4700::1111']) expect(isPrivateAddress(ip), ip).toBe(false);
  });

  describe('web_search', () => {
    it('searches the configured SearXNG instance', async () => {
      const bot = await newBot(['web_search']);
      openai.enqueue({ kind: 'tool_calls', calls: [{ name: 'web_search', arguments: '{"query":"air max 90"}' }] }, { kind: 'text', text: 'ok' });
      await run(t, bot.id);
      expect(toolReplies()).toEqual(['1. Air Max 90 offers\n   https://shop.example.com/search?q=air+max\n   Found for air max 90']);
    });

    it('unconfigured, the tool tells the model and the log says so', async () => {
      const bare = await startTestApp({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: openai.baseURL });
      try {
        const bot = (await bare.api('POST', '/api/bots', { name: 'Searcher', prompt: 'Search.', model: 'openai:gpt-4.1-mini', tools: ['web_search'] })).body;
        openai.enqueue({ kind: 'tool_calls', calls: [{ name: 'web_search', arguments: '{"query":"air max"}' }] }, { kind: 'text', text: 'I cannot search.' });
        const r = await run(bare, bot.id);
        expect(r.status).toBe('completed');
        expect(toolReplies()).toEqual([expect.stringMatching(/^Error: web search is not configured on this server \(set SEARXNG_URL or BRAVE_API_KEY\)/)]);
        const logs = await logsOf(bare, r.id);
        expect(logs).toEqual(expect.arrayContaining([expect.stringMatching(/^web search is not configured/), expect.stringMatching(/^🔧 web_search \{"query":"air max"\} · \d+ ms · error: web search is not configured/)]));
      } finally {
        await bare.close();
      }
    });
  });

  describe('run_code', () => {
    it('runs JavaScript confined to the docs folder and returns its output', async () => {
      const bot = await newBot(['code']);
      const source = `const fs = require('fs');
        fs.writeFileSync('made-by-code.txt', 'hello');
        let outside; try { fs.writeFileSync(${JSON.stringify(path.join(outside, 'x.txt'))}, 'x'); outside = 'written'; } catch (e) { outside = e.code; }
        let spawn; try { require('child_process').execSync('id'); spawn = 'ran'; } catch (e) { spawn = e.code; }
        console.log(JSON.stringify({ cwdFiles: fs.readdirSync('.'), outside, spawn, env: Object.keys(process.env) }));`;
      openai.enqueue({ kind: 'tool_calls', calls: [{ name: 'run_code', arguments: JSON.stringify({ language: 'javascript', source }) }] }, { kind: 'text', text: 'ok' });
      const r = await run(t, bot.id);
      expect(r.status).toBe('completed');
      const [reply] = toolReplies();
      expect(reply).toMatch(/^exit code 0 after \d+ ms\n--- stdout ---\n/);
      expect(JSON.parse(reply!.split('\n')[2]!)).toEqual({ cwdFiles: ['made-by-code.txt'], outside: 'ERR_ACCESS_DENIED', spawn: 'ERR_ACCESS_DENIED', env: ['PWD'] });
      expect(fs.readFileSync(path.join(bot.docs_path, 'made-by-code.txt'), 'utf8')).toBe('hello');
      expect(fs.readdirSync(outside)).toEqual([]);
    });

    it('has no network: not this app on 127.0.0.1, not anything else', async () => {
      const bot = await newBot(['code']);
      const source = `fetch(${JSON.stringify(t.url + '/api/bots')}).then((r) => console.log('reached', r.status), (e) => console.log('refused', e.cause?.code ?? e.message));`;
      openai.enqueue({ kind: 'tool_calls', calls: [{ name: 'run_code', arguments: JSON.stringify({ language: 'javascript', source }) }] }, { kind: 'text', text: 'ok' });
      const r = await run(t, bot.id);
      expect(r.status).toBe('completed');
      const [reply] = toolReplies();
      expect(reply).toMatch(/--- stdout ---\nrefused /);
      expect(reply).not.toContain('reached');
    });

    it('code that loops forever is killed at the 10 s limit; the run goes on', async () => {
      const bot = await newBot(['code']);
      openai.enqueue(
        { kind: 'tool_calls', calls: [{ name: 'run_code', arguments: JSON.stringify({ language: 'javascript', source: 'console.log("start"); for (;;) {}' }) }] },
        { kind: 'text', text: 'It hung.' },
      );
      const started = Date.now();
      const r = await run(t, bot.id);
      expect(r).toMatchObject({ status: 'completed', output: 'It hung.' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(10_000);
      expect(toolReplies()).toEqual([expect.stringMatching(/^Error: killed after 10 s \(time limit\)\n--- stdout ---\nstart\n/)]);
      expect(await logsOf(t, r.id)).toEqual(expect.arrayContaining([expect.stringMatching(/^🔧 run_code \{"language":"javascript","source":"console.log\(\\"start\\"\); for \(;;\) \{\}"\} · 1\d{4} ms · error: killed after 10 s/)]));
    }, 30_000);

    it('memory outside the JavaScript heap is limited too: 8 × 100 MB of Buffers fail; the run goes on', async () => {
      const bot = await newBot(['code']);
      const source = 'const kept = []; for (let i = 1; i <= 8; i++) { kept.push(Buffer.alloc(100 * 1024 * 1024, 1)); console.log(`allocated ${i * 100} MB`); }';
      openai.enqueue({ kind: 'tool_calls', calls: [{ name: 'run_code', arguments: JSON.stringify({ language: 'javascript', source }) }] }, { kind: 'text', text: 'Too big.' });
      const r = await run(t, bot.id);
      expect(r).toMatchObject({ status: 'completed', output: 'Too big.' });
      const [reply] = toolReplies();
      expect(reply).toMatch(/^Error: exited with code 1 after \d+ ms\n--- stdout ---\n/);
      expect(reply).toContain('RangeError');
      expect(reply).not.toContain('allocated 800 MB');
    });

    it('the kernel limits CPU seconds and data size too, so a loop dies even if the server does not', async () => {
      const docs = fs.mkdtempSync(path.join(os.tmpdir(), 'oo-code-'));
      try {
        const outcome = new CodeSandbox().run('for (;;) {}', fs.realpathSync(docs), { timeoutMs: 2_000, memoryMb: 64 });
        // prlimit sets the limits on itself, then becomes bwrap (same pid), which starts Node: all inherit them.
        const cmdline = (pid: string) => {
          try {
            return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
          } catch {
            return ''; // gone meanwhile
          }
        };
        const find = () => fs.readdirSync('/proc').find((p) => /^\d+$/.test(p) && cmdline(p).includes(`--allow-fs-write=${docs}`) && !cmdline(p).includes('prlimit'));
        await expect.poll(find, { timeout: 5_000 }).toBeTruthy();
        const node = find()!;
        const limits = fs.readFileSync(`/proc/${node}/limits`, 'utf8');
        expect(limits).toMatch(/^Max cpu time\s+3\s+4\s+seconds/m);
        expect(limits).toMatch(new RegExp(`^Max data size\\s+${(64 + 256) * 1024 * 1024}\\s+${(64 + 256) * 1024 * 1024}\\s+bytes`, 'm'));
        expect(await outcome).toMatchObject({ timedOut: true });
      } finally {
        fs.rmSync(docs, { recursive: true, force: true });
      }
    });

    it('a bot without the code tool is not offered run_code', async () => {
      const bot = await newBot(['files']);
      openai.enqueue({ kind: 'tool_calls', calls: [{ name: 'run_code', arguments: '{"language":"javascript","source":"1"}' }] }, { kind: 'text', text: 'ok' });
      await run(t, bot.id);
      expect(openai.requests[0]!.body.tools.map((x: any) => x.function.name)).toEqual(['report_result', 'list_files', 'read_file', 'write_file', 'append_file']);
      expect(toolReplies()).toEqual([expect.stringMatching(/^Error: there is no tool "run_code"/)]);
    });
  });
});
