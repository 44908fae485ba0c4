/**
 * Telegram in webhook mode (TELEGRAM_WEBHOOK_URL): the adapter calls setWebhook with a secret
 * token, and Telegram (the fake, test/fakes/telegram.ts) posts each update to this server's route,
 * which only takes updates carrying that token. Nothing polls getUpdates.
 */
import fs from 'node:fs';
import net from 'node:net';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import type { Message as TgMessage, Update } from 'grammy/types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatAdapter } from '../src/bot/adapter.ts';
import { startTelegram } from '../src/bot/telegram/adapter.ts';
import { TelegramWebhook } from '../src/bot/telegram/webhook.ts';
import { loadConfig, type Config } from '../src/config.ts';
import { Engine } from '../src/engine/engine.ts';
import { buildApp } from '../src/web/app.ts';
import { startFakeTelegram, type FakeTelegram } from './fakes/telegram.ts';
import { tempDataDir } from './helpers/app.ts';

const ALICE = 1001;

/** A port nobody listens on now (the server must know its URL before it listens). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

let tg: FakeTelegram;
let config: Config;
let engine: Engine;
let app: FastifyInstance;
let webhook: TelegramWebhook;
let adapter: ChatAdapter | undefined;
let dataDir: string;

beforeAll(async () => {
  tg = await startFakeTelegram();
  const port = await freePort();
  dataDir = tempDataDir();
  config = loadConfig({
    PORT: String(port),
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    ECHO_DELAY_MS: '5',
    DASHBOARD_TOKEN: 'dash-token', // the webhook route authenticates itself instead
    TELEGRAM_BOT_TOKEN: tg.token,
    TELEGRAM_API_ROOT: tg.apiRoot,
    TELEGRAM_ALLOWED_USERS: String(ALICE),
    TELEGRAM_WEBHOOK_URL: `http://127.0.0.1:${port}/telegram/hook`,
  });
  const logger = pino({ level: 'silent' });
  engine = await Engine.open(config, logger);
  await engine.start();
  webhook = new TelegramWebhook({ url: config.telegram.webhookUrl!, token: config.telegram.token! });
  app = await buildApp({ engine, logger, webhooks: [webhook] });
  await app.listen({ port, host: '127.0.0.1' });
});

afterAll(async () => {
  await adapter?.stop();
  await app?.close();
  await engine?.close();
  await tg?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const update = (text: string): Update =>
  ({ update_id: 1, message: { message_id: 1, date: 0, chat: { id: ALICE, type: 'private', first_name: 'A' }, from: { id: ALICE, is_bot: false, first_name: 'A' }, text } }) as Update;

describe('Telegram webhook mode', () => {
  it('before the adapter runs, the route answers 503 (Telegram tries again later)', async () => {
    const res = await fetch(`${webhook.url}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(update('/help')) });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: { code: 'CHAT_NOT_READY' } });
  });

  it('setWebhook is called with the URL and a secret token; updates then come by webhook, and nothing polls', async () => {
    adapter = await startTelegram(engine, config, pino({ level: 'silent' }), { webhook });
    const set = await tg.waitForCall('setWebhook', (_p, c) => c.ok === true);
    expect(set.payload).toMatchObject({ url: webhook.url, secret_token: webhook.secret, allowed_updates: ['message', 'callback_query'] });
    expect(webhook.secret).toMatch(/^[A-Za-z0-9_-]{1,256}$/);
    expect(webhook.secret).not.toContain(tg.token.split(':')[1]!);

    await engine.createBot({ name: 'Hooked', prompt: 'By webhook.' });
    const mark = tg.calls.length;
    const id = tg.pushMessage({ chatId: ALICE, fromId: ALICE, text: '/run Hooked' });
    expect(await tg.waitForWebhookDelivery(id)).toMatchObject({ status: 200, secretToken: webhook.secret });
    const card = await tg.waitForCall('sendMessage', (p, c) => c.seq >= mark && p.chat_id === ALICE && c.ok === true);
    expect((card.result as TgMessage).text).toMatch(/Hooked · run #\d+/);
    await tg.waitForCall('editMessageText', (p, c) => p.message_id === (card.result as TgMessage).message_id && /completed/.test(String(c.payload.text)), 10_000);
    expect(tg.calls.filter((c) => c.method === 'getUpdates')).toEqual([]);
  });

  it('an update without the secret token, or with another one, is refused and not handled', async () => {
    const before = (await engine.bots.list()).length;
    for (const secret of ['wrong', undefined]) {
      const res = await fetch(webhook.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(secret ? { 'x-telegram-bot-api-secret-token': secret } : {}) },
        body: JSON.stringify(update('/newbot Intruder do things')),
      });
      expect(res.status).toBe(401);
    }
    expect(await tg.postToWebhook(update('/newbot Intruder2 do things'), 'also-wrong')).toBe(401);
    expect(await engine.bots.list()).toHaveLength(before);
    // The dashboard itself still wants its token.
    expect((await fetch(`http://127.0.0.1:${config.port}/api/bots`)).status).toBe(401);
  });

  it('the secret can be configured (TELEGRAM_WEBHOOK_SECRET) and must be one Telegram accepts', () => {
    expect(new TelegramWebhook({ url: 'https://x.example/hook', token: 't', secret: 'my_secret-1' }).secret).toBe('my_secret-1');
    expect(() => loadConfig({ TELEGRAM_WEBHOOK_SECRET: 'no spaces allowed' })).toThrow(/TELEGRAM_WEBHOOK_SECRET/);
    expect(() => loadConfig({ TELEGRAM_WEBHOOK_URL: 'ftp://x.example/hook' })).toThrow(/TELEGRAM_WEBHOOK_URL/);
    expect(loadConfig({ PUBLIC_URL: 'https://bots.example.com/' }).publicUrl).toBe('https://bots.example.com');
  });
});
