import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { botSecretsDir } from '../src/engine/bot-secrets.ts';
import { createBackup, restoreBackup } from '../src/engine/db/backup.ts';
import { redactSecrets, secretRedactionRules } from '../src/engine/swarm/redaction.ts';
import { fetchPage, withSecrets } from '../src/engine/tools/web.ts';
import { startFakeOpenAI, type FakeOpenAI } from './fakes/openai.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

// Per-bot secrets (issue 12, seed 003): a folder of mode 0700 per bot with one file of mode 0600
// per secret, names only on the API and the page, the values handed to that bot's runs alone and
// redacted out of everything a run leaves behind.

const SERVER_KEY = 'sk-server-wide-key-0001';
const BOT_KEY = 'sk-scout-own-key-Qm7x2Lw9';
const SITE_TOKEN = 'tok_9f8e7d6c5b4a39281706';

/** Every file under `dir`, recursively (relative paths). */
function allFiles(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const p = path.join(rel, e.name);
    if (e.isDirectory()) out.push(...allFiles(dir, p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** The files under `dataDir` (the SQLite database and its WAL included) whose bytes contain `value`. */
function filesContaining(dataDir: string, value: string): string[] {
  const needle = Buffer.from(value, 'utf8');
  return allFiles(dataDir).filter((f) => fs.readFileSync(path.join(dataDir, f)).includes(needle));
}

/** A PUT with its path exactly as given (no URL normalization). */
function rawPut(url: string, body: string): Promise<{ status: number; body: string }> {
  const u = new URL(url.replace(/\/secrets\/.*$/, '/'));
  const pathname = url.slice(u.origin.length);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method: 'PUT', path: pathname, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('bot secrets', () => {
  let openai: FakeOpenAI;
  let site: http.Server;
  let siteUrl: string;
  /** Authorization headers the site saw, in order. */
  const siteAuth: (string | undefined)[] = [];
  let t: TestApp;
  let scout: { id: number };
  let other: { id: number };
  let umask: number;

  beforeAll(async () => {
    // The modes must not depend on the umask: with none at all, the files would be 0666 by default.
    umask = process.umask(0o000);
    openai = await startFakeOpenAI();
    site = http.createServer((req, res) => {
      siteAuth.push(req.headers.authorization);
      res.writeHead(200, { 'content-type': 'text/plain' });
      // A careless site that echoes the credential back: the page text reaches the model.
      res.end(`hello, you sent ${req.headers.authorization ?? 'nothing'}`);
    });
    await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
    siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}/account`;
    t = await startTestApp({ OPENAI_API_KEY: SERVER_KEY, OPENAI_BASE_URL: openai.baseURL, WEB_FETCH_ALLOW_PRIVATE: 'true' });
    scout = (await t.api('POST', '/api/bots', { name: 'Scout', prompt: 'Check my account.', model: 'openai:gpt-4.1-mini', tools: ['web_fetch'] })).body;
    other = (await t.api('POST', '/api/bots', { name: 'Other', prompt: 'Check the account too.', model: 'openai:gpt-4.1-mini', tools: ['web_fetch'] })).body;
  });

  afterAll(async () => {
    process.umask(umask);
    await t?.close();
    await openai?.close();
    await new Promise((r) => site?.close(r));
  });

  it('stores each secret as a file of mode 0600 in a folder of mode 0700, and shows only names', async () => {
    const put = await t.api('PUT', `/api/bots/${scout.id}/secrets/OPENAI_API_KEY`, { value: BOT_KEY });
    expect(put.status).toBe(200);
    expect(Object.keys(put.body).sort()).toEqual(['name', 'updated_at']);
    expect(put.body.name).toBe('OPENAI_API_KEY');
    expect((await t.api('PUT', `/api/bots/${scout.id}/secrets/SITE_TOKEN`, { value: `  ${SITE_TOKEN}\n` })).status).toBe(200);

    const dir = path.join(t.dataDir, 'secrets', 'bots', String(scout.id));
    for (const d of [path.join(t.dataDir, 'secrets'), path.join(t.dataDir, 'secrets', 'bots'), dir]) expect((fs.statSync(d).mode & 0o777).toString(8), d).toBe('700');
    for (const f of ['OPENAI_API_KEY', 'SITE_TOKEN']) expect((fs.statSync(path.join(dir, f)).mode & 0o777).toString(8), f).toBe('600');
    expect(fs.readdirSync(dir).sort()).toEqual(['OPENAI_API_KEY', 'SITE_TOKEN']);
    // Surrounding whitespace of a pasted value is dropped.
    expect(fs.readFileSync(path.join(dir, 'SITE_TOKEN'), 'utf8')).toBe(SITE_TOKEN);

    const list = await t.api('GET', `/api/bots/${scout.id}/secrets`);
    expect(list.status).toBe(200);
    expect(list.body.map((s: { name: string }) => s.name)).toEqual(['OPENAI_API_KEY', 'SITE_TOKEN']);
    expect((await t.api('GET', `/api/bots/${other.id}/secrets`)).body).toEqual([]);

    // Replacing keeps the modes and the one file.
    expect((await t.api('PUT', `/api/bots/${scout.id}/secrets/TEMP_LOGIN`, { value: 'first-value' })).status).toBe(200);
    expect((await t.api('PUT', `/api/bots/${scout.id}/secrets/TEMP_LOGIN`, { value: 'second-value' })).status).toBe(200);
    expect(fs.readFileSync(path.join(dir, 'TEMP_LOGIN'), 'utf8')).toBe('second-value');
    expect((fs.statSync(path.join(dir, 'TEMP_LOGIN')).mode & 0o777).toString(8)).toBe('600');
    expect(fs.readdirSync(dir).sort()).toEqual(['OPENAI_API_KEY', 'SITE_TOKEN', 'TEMP_LOGIN']);
    expect((await t.api('DELETE', `/api/bots/${scout.id}/secrets/TEMP_LOGIN`)).status).toBe(204);
    expect(fs.existsSync(path.join(dir, 'TEMP_LOGIN'))).toBe(false);
    expect((await t.api('DELETE', `/api/bots/${scout.id}/secrets/TEMP_LOGIN`)).body.error.code).toBe('SECRET_NOT_FOUND');
  });

  it('refuses bad names and values with a 400 that names the field, and unknown bots with a 404', async () => {
    for (const name of ['lower', '1ABC', 'A-B', 'A.B', 'ÄPFEL', `A${'B'.repeat(64)}`, '.hidden', 'A/B']) {
      const res = await t.api('PUT', `/api/bots/${scout.id}/secrets/${encodeURIComponent(name)}`, { value: 'some-value' });
      expect(res.status, name).toBe(400);
      expect(res.body.error.code, name).toBe('VALIDATION_FAILED');
      expect(res.body.error.message, name).toContain('not a secret name');
    }
    // `..` and a path out of the folder, sent as they are (fetch would resolve dot segments itself).
    for (const raw of ['%2E%2E', '..%2F..%2Fusers%2F1%2FTOKEN']) {
      const res = await rawPut(`${t.url}/api/bots/${scout.id}/secrets/${raw}`, JSON.stringify({ value: 'some-value' }));
      expect(res.status, raw).toBe(400);
      expect(JSON.parse(res.body).error.code, raw).toBe('VALIDATION_FAILED');
    }
    const cases: [unknown, string][] = [
      [{}, 'value is required'],
      [{ value: 42 }, 'value is required'],
      [{ value: 'abc' }, 'at least 4 characters'],
      [{ value: 'x'.repeat(8193) }, 'at most 8192 bytes'],
      [{ value: 'ü'.repeat(4097) }, 'at most 8192 bytes'],
    ];
    for (const [body, message] of cases) {
      const res = await t.api('PUT', `/api/bots/${scout.id}/secrets/GOOD_NAME`, body);
      expect(res.status, message).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(res.body.error.message).toContain(message);
    }
    expect((await t.api('DELETE', `/api/bots/${scout.id}/secrets/bad-name`)).status).toBe(400);
    expect((await t.api('PUT', '/api/bots/999/secrets/GOOD_NAME', { value: 'some-value' })).body.error.code).toBe('BOT_NOT_FOUND');
    expect((await t.api('GET', '/api/bots/abc/secrets')).status).toBe(404);
    expect(fs.readdirSync(path.join(t.dataDir, 'secrets', 'bots')).sort()).toEqual([String(scout.id)]);
  });

  it('the bot page lists names with forms to add, replace and delete, values only in password fields going in', async () => {
    const page = await (await fetch(`${t.url}/bots/${scout.id}`)).text();
    expect(page).toContain(`hx-get="/partials/bots/${scout.id}/secrets"`);
    const panel = await (await fetch(`${t.url}/partials/bots/${scout.id}/secrets`)).text();
    expect(panel).toContain('OPENAI_API_KEY');
    expect(panel).toContain('SITE_TOKEN');
    expect(panel).toMatch(/<input type="password" name="value"/);
    for (const html of [page, panel]) {
      expect(html).not.toContain(BOT_KEY);
      expect(html).not.toContain(SITE_TOKEN);
    }

    // The panel's own form: add, then a bad name shown in the panel, then delete.
    const post = (p: string, form: Record<string, string>) =>
      fetch(t.url + p, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'hx-request': 'true' }, body: new URLSearchParams(form).toString() });
    const added = await post(`/bots/${scout.id}/secrets`, { name: 'FORM_SECRET', value: 'typed-in-the-form' });
    expect(added.status).toBe(200);
    const addedHtml = await added.text();
    expect(addedHtml).toContain('Saved FORM_SECRET.');
    expect(addedHtml).not.toContain('typed-in-the-form');
    const bad = await (await post(`/bots/${scout.id}/secrets`, { name: 'no good', value: 'typed-in-the-form' })).text();
    expect(bad).toContain('role="alert"');
    expect(bad).toContain('not a secret name');
    expect(bad).not.toContain('typed-in-the-form');
    const deleted = await post(`/bots/${scout.id}/secrets/FORM_SECRET/delete`, {});
    expect(await deleted.text()).toContain('Deleted FORM_SECRET.');
    // A plain form post (no htmx) is redirected back to the bot page.
    const plain = await fetch(`${t.url}/bots/${scout.id}/secrets`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=PLAIN_FORM&value=plain-value-1' });
    expect(plain.status).toBe(303);
    expect(plain.headers.get('location')).toBe(`/bots/${scout.id}#bot-secrets`);
    expect((await t.api('DELETE', `/api/bots/${scout.id}/secrets/PLAIN_FORM`)).status).toBe(204);
  });

  it('a viewer sees the names but changes nothing; another operator does not see the bot at all', async () => {
    const keyOf = async (username: string, role: 'viewer' | 'operator') => {
      const user = await t.engine.users.create({ username, role });
      return { 'x-api-key': (await t.engine.swarm.keys.create({ name: username, scopes: ['admin'] }, 'test', null, user.id)).key };
    };
    const viewer = await keyOf('vera', 'viewer');
    const list = await t.api('GET', `/api/bots/${scout.id}/secrets`, undefined, viewer);
    expect(list.body.map((s: { name: string }) => s.name)).toEqual(['OPENAI_API_KEY', 'SITE_TOKEN']);
    const put = await t.api('PUT', `/api/bots/${scout.id}/secrets/SITE_TOKEN`, { value: 'viewer-overwrite' }, viewer);
    expect([put.status, put.body.error.code]).toEqual([403, 'FORBIDDEN_ROLE']);
    expect((await t.api('DELETE', `/api/bots/${scout.id}/secrets/SITE_TOKEN`, undefined, viewer)).status).toBe(403);
    const panel = await (await fetch(`${t.url}/partials/bots/${scout.id}/secrets`, { headers: viewer })).text();
    expect(panel).toContain('SITE_TOKEN');
    expect(panel).not.toContain('type="password"');

    const operator = await keyOf('otto', 'operator');
    for (const [method, body] of [['GET', undefined], ['PUT', { value: 'operator-overwrite' }], ['DELETE', undefined]] as const) {
      const res = await t.api(method, `/api/bots/${scout.id}/secrets${method === 'GET' ? '' : '/SITE_TOKEN'}`, body, operator);
      expect([method, res.status, res.body.error.code]).toEqual([method, 404, 'BOT_NOT_FOUND']);
    }
    expect(t.engine.botSecrets.values(scout.id).SITE_TOKEN).toBe(SITE_TOKEN);
  });

  it("the bot's run calls the provider with its own key; another bot's run uses the server's and gets none of its secrets", async () => {
    openai.enqueue(
      { kind: 'tool_calls', calls: [{ name: 'web_fetch', arguments: JSON.stringify({ url: siteUrl, headers: { Authorization: 'Bearer {{secret.SITE_TOKEN}}' } }) }] },
      { kind: 'tool_calls', calls: [{ name: 'report_result', arguments: JSON.stringify({ title: `Account token ${SITE_TOKEN}`, content: `key ${BOT_KEY}`, url: `https://example.com/?t=${SITE_TOKEN}` }) }] },
      // A model that repeats what it saw, secrets and all.
      { kind: 'text', text: `Done. The site said: you sent Bearer ${SITE_TOKEN}\nMy key is ${BOT_KEY}.` },
    );
    const before = openai.requests.length;
    const run = (await t.api('POST', `/api/bots/${scout.id}/run`, {})).body;
    const done = await t.waitForRun(run.id);
    expect(done.status).toBe('completed');
    const calls = openai.requests.slice(before);
    expect(calls.length).toBe(3);
    for (const c of calls) expect(c.headers.authorization).toBe(`Bearer ${BOT_KEY}`);
    // The tool sent the secret where the model asked; the model was told its name, never its value.
    expect(siteAuth).toEqual([`Bearer ${SITE_TOKEN}`]);
    expect(calls[0]!.body.messages[0].content).toContain('Secrets of this bot (use one as {{secret.NAME}} in a web_fetch header; you never see the values): OPENAI_API_KEY, SITE_TOKEN');
    expect(JSON.stringify(calls[0]!.body)).not.toContain(SITE_TOKEN);

    expect(done.output).toBe('Done. The site said: you sent Bearer [redacted SITE_TOKEN]\nMy key is [redacted OPENAI_API_KEY].');
    const results = (await t.api('GET', `/api/bots/${scout.id}/results`)).body;
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ title: 'Account token [redacted SITE_TOKEN]', content: 'key [redacted OPENAI_API_KEY]', url: 'https://example.com/?t=[redacted SITE_TOKEN]' });
    const logs = (await t.api('GET', `/api/runs/${run.id}/logs`)).body.map((l: { text: string }) => l.text);
    expect(logs.some((l: string) => l.includes('{{secret.SITE_TOKEN}}'))).toBe(true);
    expect(logs.some((l: string) => l.includes('My key is [redacted OPENAI_API_KEY].'))).toBe(true);

    // The other bot: the server's key, and no secret of Scout's to put in a header.
    openai.enqueue(
      { kind: 'tool_calls', calls: [{ name: 'web_fetch', arguments: JSON.stringify({ url: siteUrl, headers: { Authorization: 'Bearer {{secret.SITE_TOKEN}}' } }) }] },
      { kind: 'text', text: 'Could not.' },
    );
    const mark = openai.requests.length;
    const run2 = (await t.api('POST', `/api/bots/${other.id}/run`, {})).body;
    const done2 = await t.waitForRun(run2.id);
    expect(done2.status).toBe('completed');
    const calls2 = openai.requests.slice(mark);
    expect(calls2.map((c) => c.headers.authorization)).toEqual([`Bearer ${SERVER_KEY}`, `Bearer ${SERVER_KEY}`]);
    expect(calls2[0]!.body.messages[0].content).not.toContain('Secrets of this bot');
    expect(siteAuth).toHaveLength(1);
    const toolAnswer = calls2[1]!.body.messages.find((m: { role: string }) => m.role === 'tool');
    expect(toolAnswer.content).toBe('Error: this bot has no secret named SITE_TOKEN (it has none)');
  });

  it('no value appears in any API answer, the activity feed, the database, its WAL or any other file of the data folder', async () => {
    const answers: string[] = [];
    for (const p of ['/api/bots', `/api/bots/${scout.id}`, `/api/bots/${scout.id}/secrets`, `/api/bots/${scout.id}/runs`, `/api/bots/${scout.id}/results`, '/api/events?limit=200', '/api/runs', '/api/openapi.json']) {
      const res = await fetch(t.url + p);
      expect(res.status, p).toBe(200);
      answers.push(await res.text());
    }
    for (const run of (await t.api('GET', `/api/bots/${scout.id}/runs`)).body) answers.push(await (await fetch(`${t.url}/api/runs/${run.id}/logs`)).text());
    for (const a of answers) {
      expect(a).not.toContain(BOT_KEY);
      expect(a).not.toContain(SITE_TOKEN);
    }
    expect(answers.find((a) => a.includes('secret OPENAI_API_KEY set'))).toBeTruthy();

    const own = [path.join('secrets', 'bots', String(scout.id), 'OPENAI_API_KEY'), path.join('secrets', 'bots', String(scout.id), 'SITE_TOKEN')];
    expect(allFiles(t.dataDir)).toEqual(expect.arrayContaining(['openorchestrator.db', 'openorchestrator.db-wal', ...own]));
    expect(filesContaining(t.dataDir, BOT_KEY)).toEqual([own[0]]);
    expect(filesContaining(t.dataDir, SITE_TOKEN)).toEqual([own[1]]);
  });

  it('deleting the bot removes its secrets folder', async () => {
    const dir = path.join(t.dataDir, 'secrets', 'bots', String(scout.id));
    expect(fs.existsSync(dir)).toBe(true);
    expect((await t.api('DELETE', `/api/bots/${scout.id}`)).status).toBe(204);
    expect(fs.existsSync(dir)).toBe(false);
    expect((await t.api('GET', `/api/bots/${scout.id}/secrets`)).status).toBe(404);
    expect(filesContaining(t.dataDir, BOT_KEY)).toEqual([]);
  });
});

describe('a bot with its own provider key on a server without one', () => {
  let openai: FakeOpenAI;
  let t: TestApp;
  beforeAll(async () => {
    openai = await startFakeOpenAI();
    t = await startTestApp({ OPENAI_BASE_URL: openai.baseURL });
  });
  afterAll(async () => {
    await t?.close();
    await openai?.close();
  });

  it('may use that provider, and its runs send its key; a bot without one may not', async () => {
    const own = (await t.api('POST', '/api/bots', { name: 'Own', prompt: 'x' })).body;
    const none = (await t.api('POST', '/api/bots', { name: 'None', prompt: 'x' })).body;
    const refused = await t.api('PUT', `/api/bots/${own.id}`, { model: 'openai:gpt-4.1-mini' });
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toContain('give the bot its own OPENAI_API_KEY secret');

    expect((await t.api('PUT', `/api/bots/${own.id}/secrets/OPENAI_API_KEY`, { value: BOT_KEY })).status).toBe(200);
    expect((await t.api('PUT', `/api/bots/${own.id}`, { model: 'openai:gpt-4.1-mini' })).status).toBe(200);
    expect((await t.api('PUT', `/api/bots/${none.id}`, { model: 'openai:gpt-4.1-mini' })).status).toBe(400);

    openai.enqueue({ kind: 'text', text: 'Fine.' });
    const run = (await t.api('POST', `/api/bots/${own.id}/run`, {})).body;
    expect((await t.waitForRun(run.id)).status).toBe('completed');
    expect(openai.requests.at(-1)!.headers.authorization).toBe(`Bearer ${BOT_KEY}`);

    // Without the secret its runs fail as any bot's would without a key.
    expect((await t.api('DELETE', `/api/bots/${own.id}/secrets/OPENAI_API_KEY`)).status).toBe(204);
    const run2 = (await t.api('POST', `/api/bots/${own.id}/run`, {})).body;
    const failed = await t.waitForRun(run2.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toContain('OPENAI_API_KEY is not set');
  });
});

describe('backups and bot secrets', () => {
  it('a backup leaves the secrets out; a forced restore moves the current ones aside', async () => {
    const t = await startTestApp();
    const bot = (await t.api('POST', '/api/bots', { name: 'Kept', prompt: 'x' })).body;
    expect((await t.api('PUT', `/api/bots/${bot.id}/secrets/SITE_TOKEN`, { value: SITE_TOKEN })).status).toBe(200);
    const archive = path.join(t.dataDir, '..', `${path.basename(t.dataDir)}-backup.tar.gz`);
    try {
      await createBackup(t.dataDir, archive);
      const entries: string[] = [];
      await tar.t({ file: archive, onReadEntry: (e) => void entries.push(e.path) });
      expect(entries).toContain('openorchestrator.db');
      expect(entries.some((e) => e.startsWith('secrets'))).toBe(false);
      await t.close({ keepData: true });

      await restoreBackup(archive, t.dataDir, { force: true });
      expect(fs.existsSync(botSecretsDir(t.dataDir, bot.id))).toBe(false);
      const aside = fs.readdirSync(t.dataDir).find((n) => n.startsWith('before-restore-'))!;
      const moved = path.join(t.dataDir, aside, 'secrets', 'bots', String(bot.id), 'SITE_TOKEN');
      expect(fs.readFileSync(moved, 'utf8')).toBe(SITE_TOKEN);
      expect((fs.statSync(path.dirname(moved)).mode & 0o777).toString(8)).toBe('700');
    } finally {
      fs.rmSync(archive, { force: true });
      fs.rmSync(t.dataDir, { recursive: true, force: true });
    }
  });
});

describe('redacting secret values', () => {
  it('replaces each value whole (longest first, regex characters taken literally), each long line of a multi-line one, at any depth', () => {
    const pem = '-----BEGIN KEY-----\nMIIBVgIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----';
    const rules = secretRedactionRules({ SHORT: 'abcd', LONG: 'abcd-efgh', ODD: 'a.b*c(d)$&', PEM: pem });
    expect(redactSecrets('abcd-efgh and abcd', rules)).toBe('[redacted LONG] and [redacted SHORT]');
    expect(redactSecrets('a.b*c(d)$& but not aXbbbc(d)', rules)).toBe('[redacted ODD] but not aXbbbc(d)');
    expect(redactSecrets(`whole: ${pem}`, rules)).toBe('whole: [redacted PEM]');
    expect(redactSecrets('line: MIIBVgIBADANBgkqhkiG9w0BAQEFAASC', rules)).toBe('line: [redacted PEM]');
    let deep: unknown = 'abcd-efgh';
    for (let i = 0; i < 40; i++) deep = { inner: [deep] };
    expect(JSON.stringify(redactSecrets(deep, rules))).not.toContain('abcd');
    expect(redactSecrets({ n: 1, ok: true, s: 'nothing here' }, rules)).toEqual({ n: 1, ok: true, s: 'nothing here' });
    expect(secretRedactionRules({}).patterns).toEqual([]);
  });
});

describe('web_fetch headers', () => {
  it("are sent to the URL's own origin, through its redirects there, and dropped once a redirect leads elsewhere", async () => {
    const seen: [string, string | undefined][] = [];
    const listen = async (handler: http.RequestListener) => {
      const server = http.createServer(handler);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
    };
    const elsewhere = await listen((req, res) => {
      seen.push([`elsewhere${req.url}`, req.headers.authorization]);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('other site');
    });
    const own = await listen((req, res) => {
      seen.push([`own${req.url}`, req.headers.authorization]);
      if (req.url === '/start') return void res.writeHead(302, { location: '/next' }).end();
      res.writeHead(302, { location: `${elsewhere.url}/landing` }).end();
    });
    try {
      const page = await fetchPage(`${own.url}/start`, new AbortController().signal, { allowPrivate: true, headers: withSecrets({ Authorization: 'Bearer {{secret.SITE_TOKEN}}' }, { SITE_TOKEN }) });
      expect(page.text).toBe('other site');
      expect(seen).toEqual([
        ['own/start', `Bearer ${SITE_TOKEN}`],
        ['own/next', `Bearer ${SITE_TOKEN}`],
        ['elsewhere/landing', undefined],
      ]);
      expect(() => withSecrets({ 'X-Token': '{{secret.MISSING}}' }, { SITE_TOKEN })).toThrow('this bot has no secret named MISSING (it has SITE_TOKEN)');
    } finally {
      await new Promise((r) => own.server.close(r));
      await new Promise((r) => elsewhere.server.close(r));
    }
  });
});
