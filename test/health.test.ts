/**
 * `/health` and `/healthz` as a probe (Docker, a load balancer) and an operator read them, and the
 * chat part of `/metrics`, against the real process (`npm start`) talking to fake Telegram and
 * Discord servers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import readline from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeDiscord, type FakeDiscord } from './fakes/discord.ts';
import { startFakeTelegram, type FakeTelegram } from './fakes/telegram.ts';
import { startTestApp, tempDataDir, type TestApp } from './helpers/app.ts';
import { parsePrometheus, sampleValue } from './helpers/prometheus.ts';

const ALICE = 1001;
const DISCORD_ALICE = '700000000000000001';
const GUILD = '800000000000000001';
const CHANNEL = '800000000000000010';

async function health(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/health`, { headers });
  return { status: res.status, body: (await res.json()) as any };
}

describe('/health and /healthz in the app', () => {
  const apps: TestApp[] = [];
  afterEach(async () => {
    for (const a of apps.splice(0)) await a.close().catch(() => {});
  });

  it('are ok with the database answering and no chat adapter configured; the queue is shown', async () => {
    const t = await startTestApp();
    apps.push(t);
    const h = await health(t.url);
    expect(h.status).toBe(200);
    expect(h.body).toEqual({
      status: 'ok',
      degraded: [],
      checks: {
        database: { status: 'ok' },
        telegram: { status: 'not_configured' },
        discord: { status: 'not_configured' },
        queue: { status: 'ok', queued: 0, running: 0, max_concurrent: t.config.maxConcurrentRuns, max_queued: 1000 },
      },
    });
    expect(await (await fetch(`${t.url}/healthz`)).json()).toEqual({ status: 'ok', runs: { running: 0, queued: 0 } });
  });

  it('say 503 and name the database (and the queue in it) when it does not answer', async () => {
    const t = await startTestApp();
    apps.push(t);
    t.engine.db.$client.close();
    const h = await health(t.url);
    expect(h.status).toBe(503);
    expect(h.body.status).toBe('degraded');
    // The run queue lives in the database too.
    expect(h.body.degraded).toEqual(['database', 'queue']);
    expect(h.body.checks.database.detail).toMatch(/database does not answer/);
    expect(h.body.checks.queue).toMatchObject({ status: 'degraded', queued: null });
  });

  it('say the queue is degraded while it is full and new runs are refused', async () => {
    const t = await startTestApp({ MAX_CONCURRENT_RUNS: '1', MAX_QUEUED_RUNS: '2', ECHO_DELAY_MS: '60000' });
    apps.push(t);
    const bot = (await t.api('POST', '/api/bots', { name: 'Busy', prompt: 'wait' })).body;
    const ids: number[] = [];
    for (;;) {
      const r = await t.api('POST', `/api/bots/${bot.id}/run`, {});
      if (r.status === 429) break;
      expect(r.status).toBe(202);
      ids.push(r.body.id);
      expect(ids.length).toBeLessThan(10);
    }
    const h = await health(t.url);
    expect(h.status).toBe(503);
    expect(h.body.degraded).toEqual(['queue']);
    expect(h.body.checks.queue).toMatchObject({ status: 'degraded', queued: 2, max_queued: 2 });
    for (const id of ids) await t.api('POST', `/api/runs/${id}/cancel`);
    await expect.poll(async () => (await health(t.url)).status).toBe(200);
  });

  it('a configured chat adapter that has not started is degraded', async () => {
    // startTestApp starts no chat adapter, as a process whose adapters are still connecting.
    const t = await startTestApp({ TELEGRAM_BOT_TOKEN: '123:abc' });
    apps.push(t);
    const h = await health(t.url);
    expect(h.status).toBe(503);
    expect(h.body.degraded).toEqual(['telegram']);
    expect(h.body.checks.discord).toEqual({ status: 'not_configured' });
  });

  it('with a dashboard token: probes need none, /metrics is guarded like the API', async () => {
    const t = await startTestApp({ DASHBOARD_TOKEN: 's3cret' });
    apps.push(t);
    expect((await health(t.url)).status).toBe(200);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    const denied = await fetch(`${t.url}/metrics`);
    expect(denied.status).toBe(401);
    expect(((await denied.json()) as any).error.code).toBe('UNAUTHORIZED');
    const allowed = await fetch(`${t.url}/metrics`, { headers: { authorization: 'Bearer s3cret' } });
    expect(allowed.status).toBe(200);
    expect(sampleValue(parsePrometheus(await allowed.text()), 'openorchestrator_runs_queued')).toBe(0);
  });
});

describe('the process with Telegram and Discord', () => {
  let tg: FakeTelegram;
  let dc: FakeDiscord;
  let proc: ChildProcess;
  let url: string;
  const dataDir = tempDataDir();

  beforeAll(async () => {
    tg = await startFakeTelegram();
    dc = await startFakeDiscord({ guild: { id: GUILD, channelIds: [CHANNEL] } });
    proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: {
        PATH: process.env.PATH!,
        PORT: '0',
        LOG_LEVEL: 'info',
        DATA_DIR: dataDir,
        TELEGRAM_BOT_TOKEN: tg.token,
        TELEGRAM_API_ROOT: tg.apiRoot,
        TELEGRAM_ALLOWED_USERS: String(ALICE),
        DISCORD_BOT_TOKEN: 'fake-token.abc.def',
        DISCORD_API_BASE: dc.apiBase,
        DISCORD_GUILD_ID: GUILD,
        DISCORD_ALLOWED_USERS: DISCORD_ALICE,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    proc.stderr!.on('data', (d) => (stderr += d));
    url = await new Promise<string>((resolve, reject) => {
      readline.createInterface({ input: proc.stdout! }).on('line', (line) => {
        const m = /running on (http:\/\/[^"\s]+)/.exec(line);
        if (m) resolve(m[1]!);
      });
      proc.once('exit', (code) => reject(new Error(`exited (${code}) before listening: ${stderr}`)));
    });
  });

  afterAll(async () => {
    if (proc && proc.exitCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
    await tg?.close();
    await dc?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const chatMetric = async (platform: string, outcome: string) => {
    const res = await fetch(`${url}/metrics`);
    return sampleValue(parsePrometheus(await res.text()), 'openorchestrator_chat_messages_total', { platform, outcome });
  };

  it('is healthy once both adapters are connected', async () => {
    await expect.poll(async () => (await health(url)).status, { timeout: 20_000, interval: 200 }).toBe(200);
    const h = await health(url);
    expect(h.body.checks).toMatchObject({ database: { status: 'ok' }, telegram: { status: 'ok' }, discord: { status: 'ok' } });
  });

  it('counts the messages it sends to chats, and those that fail', async () => {
    const sentByFake = () => tg.calls.filter((c) => c.method.startsWith('send') && c.method !== 'sendChatAction' && c.ok === true).length;
    tg.pushMessage({ chatId: ALICE, fromId: ALICE, text: '/bots' });
    await tg.waitForCall('sendMessage', (p) => p.chat_id === ALICE);
    await expect.poll(() => chatMetric('telegram', 'sent')).toBe(sentByFake());
    expect(sentByFake()).toBeGreaterThan(0);
    expect(await chatMetric('telegram', 'failed')).toBe(0);

    tg.failNext('sendMessage', { error_code: 400, description: 'Bad Request: chat not found' });
    const before = tg.calls.length;
    tg.pushMessage({ chatId: ALICE, fromId: ALICE, text: '/bots' });
    await tg.waitForCall('sendMessage', (_p, call) => call.seq >= before && call.ok === false);
    await expect.poll(() => chatMetric('telegram', 'failed')).toBe(1);

    // Discord: the slash command's answer is a message sent.
    const ref = dc.slashCommand({ name: 'bots', userId: DISCORD_ALICE, guildId: GUILD, channelId: CHANNEL });
    await dc.waitForCall((c) => c.path.startsWith(`/interactions/${ref.id}/`));
    const isMessage = (c: { method: string; path: string; status: number }) =>
      c.status < 400 &&
      ((c.method === 'POST' && /^\/(channels\/\d+\/messages|interactions\/\d+\/[^/]+\/callback|webhooks\/\d+\/[^/]+)$/.test(c.path)) ||
        (c.method === 'PATCH' && /^\/webhooks\/\d+\/[^/]+\/messages\/@original$/.test(c.path)));
    await expect.poll(() => chatMetric('discord', 'sent')).toBe(dc.calls.filter(isMessage).length);
    expect(await chatMetric('discord', 'sent')).toBeGreaterThan(0);
  });

  it('is degraded while Telegram polling fails, and healthy again when it recovers', async () => {
    tg.failNext('getUpdates', { error_code: 502, description: 'Bad Gateway' });
    // Answers the pending long poll, so the next getUpdates is the one that fails.
    tg.pushMessage({ chatId: ALICE, fromId: ALICE, text: 'hello' });
    await expect.poll(async () => (await health(url)).body.degraded, { timeout: 10_000, interval: 100 }).toEqual(['telegram']);
    const h = await health(url);
    expect(h.status).toBe(503);
    expect(h.body.checks.telegram.detail).toMatch(/Bad Gateway/);
    expect(h.body.checks.discord.status).toBe('ok');
    // grammY retries after 3 s; the retry's long poll returns with the next update.
    await expect
      .poll(
        async () => {
          tg.pushMessage({ chatId: ALICE, fromId: ALICE, text: 'still there?' });
          return (await health(url)).status;
        },
        { timeout: 15_000, interval: 500 },
      )
      .toBe(200);
  });
});
