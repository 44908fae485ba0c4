import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { notifySchema } from '../src/engine/notify/index.ts';
import { startFakeOpenAI, type FakeOpenAI } from './fakes/openai.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

// A bot's `notify` sends each finished run's outcome on: a signed webhook POST (retried with
// backoff, never failing the run) and an e-mail through SMTP.

interface Hook {
  headers: http.IncomingHttpHeaders;
  raw: string;
  at: number;
}

/** A webhook receiver on 127.0.0.1 answering each request with the next status of `statuses` (then 200). */
async function startReceiver(statuses: number[] = []) {
  const hooks: Hook[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      hooks.push({ headers: req.headers, raw: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      res.writeHead(statuses.shift() ?? 200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/hooks/bots?token=abc`;
  return { hooks, url, close: () => new Promise((r) => server.close(r)) };
}

/** A receiver checks the signature like this: HMAC-SHA256 of the raw body, compared in constant time. */
function validSignature(hook: Hook, secret: string): boolean {
  const expected = Buffer.from('sha256=' + createHmac('sha256', secret).update(hook.raw).digest('hex'));
  const got = Buffer.from(String(hook.headers['x-openorchestrator-signature'] ?? ''));
  return got.length === expected.length && timingSafeEqual(got, expected);
}

interface Mail {
  from: string;
  to: string[];
  data: string;
}

/** Just enough of an SMTP server (RFC 5321, no TLS, no auth) for nodemailer to hand over mail. */
async function startFakeSmtp() {
  const mails: Mail[] = [];
  const server = net.createServer((sock) => {
    let buf = '';
    let inData = false;
    let cur: Mail = { from: '', to: [], data: '' };
    sock.write('220 fake.smtp.test ESMTP\r\n');
    sock.on('data', (chunk) => {
      buf += chunk.toString('latin1');
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) return;
          cur.data = buf.slice(0, end);
          buf = buf.slice(end + 5);
          inData = false;
          mails.push(cur);
          cur = { from: '', to: [], data: '' };
          sock.write('250 2.0.0 queued\r\n');
          continue;
        }
        const nl = buf.indexOf('\r\n');
        if (nl < 0) return;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') sock.write('250-fake.smtp.test\r\n250 8BITMIME\r\n');
        else if (verb === 'HELO' || verb === 'RSET' || verb === 'NOOP') sock.write('250 OK\r\n');
        else if (verb === 'MAIL') (cur.from = /<(.*)>/.exec(line)?.[1] ?? ''), sock.write('250 OK\r\n');
        else if (verb === 'RCPT') cur.to.push(/<(.*)>/.exec(line)?.[1] ?? ''), sock.write('250 OK\r\n');
        else if (verb === 'DATA') (inData = true), sock.write('354 go ahead\r\n');
        else if (verb === 'QUIT') sock.end('221 bye\r\n');
        else sock.write('502 not implemented\r\n');
      }
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { mails, url: `smtp://127.0.0.1:${(server.address() as net.AddressInfo).port}`, close: () => new Promise((r) => server.close(r)) };
}

/** A header of a raw mail, unfolded, with RFC 2047 encoded words decoded. */
function header(data: string, name: string): string {
  const head = data.split('\r\n\r\n')[0]!.replace(/\r\n[ \t]+/g, ' ');
  const line = head.split('\r\n').find((l) => l.toLowerCase().startsWith(name.toLowerCase() + ':')) ?? '';
  return line
    .slice(name.length + 1)
    .trim()
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?utf-8\?([bq])\?([^?]*)\?=/gi, (_m, enc: string, text: string) =>
      enc.toLowerCase() === 'b'
        ? Buffer.from(text, 'base64').toString('utf8')
        : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9a-f]{2})/gi, (_x, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8'),
    );
}

/** The text body of a raw mail, quoted-printable decoded. */
function body(data: string): string {
  const text = data.split('\r\n\r\n').slice(1).join('\r\n\r\n');
  return Buffer.from(text.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_x, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
}

describe('notifications', () => {
  let fake: FakeOpenAI;
  let smtp: Awaited<ReturnType<typeof startFakeSmtp>>;
  let t: TestApp;
  const closers: (() => Promise<unknown>)[] = [];
  beforeAll(async () => {
    fake = await startFakeOpenAI();
    smtp = await startFakeSmtp();
    t = await startTestApp({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.baseURL, SMTP_URL: smtp.url, SMTP_FROM: 'Orchestrator <bots@example.test>', WEBHOOK_SECRET: 'global-secret-123' });
  });
  afterEach(async () => {
    await Promise.all(closers.splice(0).map((c) => c()));
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
    await smtp.close();
  });

  const receiver = async (statuses?: number[]) => {
    const r = await startReceiver(statuses);
    closers.push(r.close);
    return r;
  };
  const run = async (botId: number, input?: string) => t.waitForRun((await t.api('POST', `/api/bots/${botId}/run`, input === undefined ? {} : { input })).body.id);
  const feed = async () => ((await t.api('GET', '/api/events?limit=200')).body as any[]).reverse();

  it('the webhook receiver gets the run outcome as JSON, signed with HMAC-SHA256 of the raw body', async () => {
    const rx = await receiver();
    const bot = (await t.api('POST', '/api/bots', { name: 'Hooked', emoji: '🪝', prompt: 'report', notify: { webhook: { url: rx.url, secret: 'bot-secret-456' } } })).body;
    const r = await run(bot.id, 'größe 43 — €');
    await expect.poll(() => rx.hooks.length, { timeout: 10_000 }).toBe(1);
    const hook = rx.hooks[0]!;
    expect(hook.headers['content-type']).toBe('application/json');
    expect(hook.headers['x-openorchestrator-event']).toBe('run.finished');
    expect(hook.headers['x-openorchestrator-delivery']).toMatch(/^[0-9a-f-]{36}$/);
    expect(validSignature(hook, 'bot-secret-456')).toBe(true);
    expect(validSignature(hook, 'global-secret-123')).toBe(false); // the bot's own secret wins
    expect(validSignature({ ...hook, raw: hook.raw.replace('43', '44') }, 'bot-secret-456')).toBe(false);
    expect(JSON.parse(hook.raw)).toMatchObject({
      event: 'run.finished',
      bot: { id: bot.id, name: 'Hooked', emoji: '🪝' },
      run: { id: r.id, status: 'completed', trigger: 'manual', input: 'größe 43 — €', output: r.output, error: null, new_results: 1, duration_ms: r.duration_ms },
    });
  });

  it('without a secret of its own, the bot signs with WEBHOOK_SECRET; a failed run is reported too', async () => {
    const rx = await receiver();
    const bot = (await t.api('POST', '/api/bots', { name: 'Failing', prompt: 'x', model: 'openai:gpt-4.1-mini', notify: { webhook: { url: rx.url } } })).body;
    fake.enqueue({ kind: 'error', status: 401, message: 'Incorrect API key provided' });
    const r = await run(bot.id);
    expect(r.status).toBe('failed');
    await expect.poll(() => rx.hooks.length, { timeout: 10_000 }).toBe(1);
    expect(validSignature(rx.hooks[0]!, 'global-secret-123')).toBe(true);
    expect(JSON.parse(rx.hooks[0]!.raw).run).toMatchObject({ id: r.id, status: 'failed', output: null, error: r.error });
  });

  it('a failing receiver is retried with backoff; the delivery id stays the same', async () => {
    const rx = await receiver([503, 500]);
    const bot = (await t.api('POST', '/api/bots', { name: 'Retried', prompt: 'x', notify: { webhook: { url: rx.url, secret: 'bot-secret-456' } } })).body;
    await run(bot.id);
    await expect.poll(() => rx.hooks.length, { timeout: 10_000 }).toBe(3);
    const [a, b, c] = rx.hooks;
    expect(b!.at - a!.at).toBeGreaterThanOrEqual(450); // 0.5 s
    expect(c!.at - b!.at).toBeGreaterThanOrEqual(950); // then 1 s
    expect(new Set(rx.hooks.map((h) => h.headers['x-openorchestrator-delivery'])).size).toBe(1);
    expect(rx.hooks.every((h) => validSignature(h, 'bot-secret-456'))).toBe(true);
    expect((await feed()).filter((e) => e.kind === 'notify.failed' && e.bot_id === bot.id)).toHaveLength(0);
  });

  it('when the receiver stays down, the run is unaffected and the activity feed says the webhook failed', async () => {
    const rx = await receiver([500, 500, 500, 500, 500]);
    const bot = (await t.api('POST', '/api/bots', { name: 'Unlucky', prompt: 'x', notify: { webhook: { url: rx.url } } })).body;
    const r = await run(bot.id);
    expect(r.status).toBe('completed');
    await expect.poll(async () => (await feed()).find((e) => e.kind === 'notify.failed' && e.bot_id === bot.id), { timeout: 15_000 }).toBeTruthy();
    expect(rx.hooks).toHaveLength(4); // 1 + 3 retries
    const ev = (await feed()).find((e) => e.kind === 'notify.failed' && e.bot_id === bot.id);
    expect(ev).toMatchObject({ level: 'error', run_id: r.id });
    // The host only: the URL's path and query (which may hold a token) stay out of the feed.
    expect(ev.message).toBe(`🤖 Unlucky: webhook to ${new URL(rx.url).host} failed after 4 attempts (HTTP 500) — run #${r.id} is unaffected`);
    expect((await t.api('GET', `/api/runs/${r.id}`)).body.status).toBe('completed');
  });

  it('e-mail goes out through SMTP with the outcome', async () => {
    const bot = (await t.api('POST', '/api/bots', { name: 'Mailer', emoji: '📬', prompt: 'deals', notify: { email: { to: ['me@example.test', 'you@example.test'] } } })).body;
    const r = await run(bot.id, 'Nike Air Max');
    await expect.poll(() => smtp.mails.length, { timeout: 10_000 }).toBe(1);
    const mail = smtp.mails[0]!;
    expect(mail.from).toBe('bots@example.test');
    expect(mail.to).toEqual(['me@example.test', 'you@example.test']);
    expect(header(mail.data, 'Subject')).toBe(`✅ Mailer: run #${r.id} completed`);
    expect(body(mail.data)).toContain(`📬 Mailer: run #${r.id} completed (manual).`);
    expect(body(mail.data)).toContain('Input: Nike Air Max');
  });

  it('notify settings are validated by their schema', () => {
    expect(notifySchema.safeParse({ webhook: { url: 'https://example.com/h', secret: 'long-enough' }, email: { to: 'a@b.co' }, telegram: true }).success).toBe(true);
    expect(notifySchema.safeParse({ webhook: { url: 'ftp://example.com/h' } }).success).toBe(false);
    expect(notifySchema.safeParse({ webhook: { url: 'https://example.com', secret: 'short' } }).success).toBe(false);
    expect(notifySchema.safeParse({ email: { to: 'not an address' } }).success).toBe(false);
    expect(notifySchema.safeParse({ email: { to: 'a@b.co', on: ['sometimes'] } }).success).toBe(false);
  });
});

describe('notifications without SMTP', () => {
  it('an e-mail setting without SMTP_URL is skipped with an event, not an error', async () => {
    const t = await startTestApp();
    try {
      const bot = (await t.api('POST', '/api/bots', { name: 'NoMail', prompt: 'x', notify: { email: { to: 'me@example.test' } } })).body;
      const r = await t.waitForRun((await t.api('POST', `/api/bots/${bot.id}/run`, {})).body.id);
      expect(r.status).toBe('completed');
      await expect
        .poll(async () => ((await t.api('GET', '/api/events?limit=50')).body as any[]).find((e) => e.kind === 'notify.skipped')?.message)
        .toBe('🤖 NoMail: e-mail not sent — SMTP_URL is not set');
    } finally {
      await t.close();
    }
  });
});
