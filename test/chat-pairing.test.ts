/**
 * Chat pairing, as people meet it: a stranger writes to the Telegram bot (real grammY against
 * test/fakes/telegram.ts) and gets a one-time code; its owner enters it on the dashboard (HTTP,
 * as that user with their API key); from then on their commands act as that user, on that user's
 * bots. Codes expire (the engine's clock is moved, nothing waits) and work once; unlinking is one
 * request; `TELEGRAM_ALLOWED_USERS` still acts as the first admin; a user's own Telegram bot
 * answers only its owner's linked chats.
 */
import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import type { Message as TgMessage } from 'grammy/types';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatAdapter } from '../src/bot/adapter.ts';
import { startDiscord } from '../src/bot/discord/adapter.ts';
import { startTelegram } from '../src/bot/telegram/adapter.ts';
import { startUserTelegramBots, type UserTelegramBots } from '../src/bot/telegram/user-bots.ts';
import { CommandCore } from '../src/bot/core.ts';
import { messageText } from '../src/bot/message.ts';
import { CODE_TTL_MS, MAX_CODES_PER_HOUR } from '../src/engine/chat-identities.ts';
import { bots, type BotRow } from '../src/engine/db/schema.ts';
import { startFakeDiscord, type FakeDiscord, type InteractionRef } from './fakes/discord.ts';
import { startFakeTelegram, startFakeTelegramRouter, type FakeTelegram, type FakeTelegramRouter } from './fakes/telegram.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

const ADMIN_TG = 1001; // on TELEGRAM_ALLOWED_USERS: the bootstrap admin
const ALICE_TG = 5001; // Alice's phone; a stranger until paired
const BOB_TG = 5002;
const VIC_TG = 5003; // a viewer
const LATE_TG = 5004; // enters their code too late
const OWN_TOKEN = '987654321:AAAliceOwnTelegramBotTokenForTests_99';

let mainTg: FakeTelegram;
let aliceTg: FakeTelegram;
let router: FakeTelegramRouter;
let t: TestApp;
let adapter: ChatAdapter;
let userBots: UserTelegramBots | undefined;
/** Added to the engine's clock (pairing codes' expiry). */
let offsetMs = 0;
const logger = pino({ level: 'silent' });

let alice: { id: number; key: string };
let bob: { id: number; key: string };
let vic: { id: number; key: string };
let scout: BotRow;
let ledger: BotRow;

/** A user with an API key acting as them (X-API-Key). */
async function user(username: string, role: 'operator' | 'viewer') {
  const row = await t.engine.users.create({ username, role });
  const { key } = await t.engine.swarm.keys.create({ name: `${username}-key`, scopes: ['admin', 'tasks', 'agents'] }, 'test', null, row.id);
  return { id: row.id, key };
}

/** Creates a bot owned by `ownerId`. */
async function botOf(name: string, ownerId: number): Promise<BotRow> {
  const bot = await t.engine.createBot({ name, prompt: `Be ${name}` });
  await t.engine.db.update(bots).set({ ownerId }).where(eq(bots.id, bot.id));
  return await t.engine.bots.get(bot.id);
}

/** A person types `text` to a bot (of fake `tg`) in their private chat; resolves with its first answer. */
async function type(tg: FakeTelegram, fromId: number, text: string): Promise<string> {
  const mark = tg.calls.length;
  tg.pushMessage({ chatId: fromId, fromId, text, username: `u${fromId}` });
  const call = await tg.waitForCall('sendMessage', (p, c) => c.seq >= mark && p.chat_id === fromId && c.ok === true, 10_000);
  return (call.result as TgMessage).text ?? '';
}

/** The pairing code in a bot's answer. */
function codeIn(text: string): string {
  const m = /pairing code is ([A-Z2-9]{8})\b/.exec(text);
  if (!m) throw new Error(`no pairing code in: ${text}`);
  return m[1]!;
}

const as = (who: { key: string }) => ({ 'x-api-key': who.key });

beforeAll(async () => {
  mainTg = await startFakeTelegram();
  aliceTg = await startFakeTelegram({ token: OWN_TOKEN });
  router = await startFakeTelegramRouter([mainTg, aliceTg]);
  t = await startTestApp(
    { TELEGRAM_BOT_TOKEN: mainTg.token, TELEGRAM_API_ROOT: router.apiRoot, TELEGRAM_ALLOWED_USERS: String(ADMIN_TG), ECHO_DELAY_MS: '5' },
    { now: () => Date.now() + offsetMs },
  );
  adapter = await startTelegram(t.engine, t.config, logger, { retryDelaysMs: [100], refusalCooldownMs: 0 });
  alice = await user('alice', 'operator');
  bob = await user('bob', 'operator');
  vic = await user('vic', 'viewer');
  scout = await botOf('Scout', alice.id);
  ledger = await botOf('Ledger', bob.id);
});

afterAll(async () => {
  await userBots?.stop();
  await adapter?.stop();
  await t?.close();
  await router?.close();
  await aliceTg?.close();
  await mainTg?.close();
});

describe('Chat pairing through Telegram and the dashboard', () => {
  it('a stranger gets a one-time code and runs nothing; the same code until it is used', async () => {
    const first = await type(mainTg, ALICE_TG, '/bots');
    expect(first).toMatch(/^🔒 I don't know you yet\. Your pairing code is [A-Z2-9]{8} \(valid 1 hour\)/);
    expect(first).not.toMatch(/Scout|Ledger/);
    const again = await type(mainTg, ALICE_TG, '/run Scout');
    expect(codeIn(again)).toBe(codeIn(first));
    // A button press (Run on Scout) is refused as an alert, and nothing runs.
    const { callbackQueryId } = mainTg.pushCallbackQuery({ chatId: ALICE_TG, fromId: ALICE_TG, data: `run:${scout.id}`, messageId: 1 });
    const alert = await mainTg.waitForCall('answerCallbackQuery', (p) => p.callback_query_id === callbackQueryId);
    expect(alert.payload).toMatchObject({ show_alert: true, text: expect.stringContaining(codeIn(first)) });
    expect(await t.engine.runner.listForBot(scout.id)).toEqual([]);
    // In a group the code is not shown (anyone there could enter it): a pointer to the private chat.
    const mark = mainTg.calls.length;
    mainTg.pushMessage({ chatId: -100777, fromId: ALICE_TG, text: '/bots' });
    const inGroup = await mainTg.waitForCall('sendMessage', (p, c) => c.seq >= mark && p.chat_id === -100777 && c.ok === true);
    expect((inGroup.result as TgMessage).text).toBe("🔒 I don't know you yet. Write to me in a private chat for your pairing code.");
    // The admin sees it among the pending codes.
    const pending = await t.api('GET', '/api/chat/pairings');
    expect(pending.status).toBe(200);
    expect(pending.body).toContainEqual(expect.objectContaining({ code: codeIn(first), platform: 'telegram', externalId: String(ALICE_TG), displayName: `@u${ALICE_TG}` }));
    // Only admins do.
    expect((await t.api('GET', '/api/chat/pairings', undefined, as(alice))).body.error.code).toBe('FORBIDDEN_ROLE');
  });

  it('after Alice enters the code, her commands act as her: /bots shows her bots only, another user\'s bot is not found', async () => {
    const code = codeIn(await type(mainTg, ALICE_TG, '/bots'));
    const linked = await t.api('POST', '/api/chat/pairings', { code: code.toLowerCase().replace(/(....)/, '$1-') }, as(alice));
    expect(linked.status).toBe(201);
    expect(linked.body).toMatchObject({ platform: 'telegram', externalId: String(ALICE_TG), userId: alice.id, username: 'alice' });
    const list = await type(mainTg, ALICE_TG, '/bots');
    expect(list).toMatch(/Bots \(1\)/);
    expect(list).toContain('Scout');
    expect(list).not.toContain('Ledger');
    expect(await type(mainTg, ALICE_TG, '/run Ledger')).toMatch(/^⚠️ No bot named "Ledger"/);
    expect(await t.engine.runner.listForBot(ledger.id)).toEqual([]);
    await type(mainTg, ALICE_TG, '/run Scout');
    expect(await t.engine.runner.listForBot(scout.id)).toHaveLength(1);
    // Subscribing to Bob's bot is refused the same way; to her own it works.
    expect(await type(mainTg, ALICE_TG, '/subscribe Ledger')).toMatch(/^⚠️ No bot named "Ledger"/);
    expect(await type(mainTg, ALICE_TG, '/subscribe Scout')).toMatch(/will get every run of/);
    // Her identity is listed for her, not for Bob.
    expect((await t.api('GET', '/api/chat/identities', undefined, as(alice))).body).toEqual([expect.objectContaining({ externalId: String(ALICE_TG), userId: alice.id })]);
    expect((await t.api('GET', '/api/chat/identities', undefined, as(bob))).body).toEqual([]);
  });

  it('a used code is refused, and so is an unknown one', async () => {
    const code = codeIn(await type(mainTg, BOB_TG, '/bots'));
    expect((await t.api('POST', '/api/chat/pairings', { code }, as(bob))).status).toBe(201);
    const reused = await t.api('POST', '/api/chat/pairings', { code }, as(alice));
    expect(reused.status).toBe(409);
    expect(reused.body.error.code).toBe('PAIRING_CODE_USED');
    expect((await t.engine.chatIdentities.callerFor('telegram', String(BOB_TG)))?.userId).toBe(bob.id);
    const unknown = await t.api('POST', '/api/chat/pairings', { code: 'ZZZZ2222' }, as(alice));
    expect(unknown).toMatchObject({ status: 404, body: { error: { code: 'PAIRING_CODE_UNKNOWN' } } });
    expect((await t.api('POST', '/api/chat/pairings', {}, as(alice))).body.error.code).toBe('VALIDATION_FAILED');
    // Bob sees his bot only.
    const list = await type(mainTg, BOB_TG, '/bots');
    expect(list).toContain('Ledger');
    expect(list).not.toContain('Scout');
    // Names are unique per owner: Bob may make his own Scout beside Alice's, and it is his.
    expect(await type(mainTg, BOB_TG, '/newbot Scout find things')).not.toMatch(/already exists|⚠️/);
    const mine = (await t.engine.bots.findByName('Scout', bob.id))!;
    expect(mine.ownerId).toBe(bob.id);
    expect((await t.engine.bots.findByName('Scout', alice.id))!.id).not.toBe(mine.id);
    await t.engine.deleteBot(mine.id);
  });

  it('an expired code is refused; the next command gets a new one', async () => {
    const code = codeIn(await type(mainTg, LATE_TG, '/help'));
    offsetMs += CODE_TTL_MS + 1000;
    const late = await t.api('POST', '/api/chat/pairings', { code }, as(alice));
    expect(late).toMatchObject({ status: 410, body: { error: { code: 'PAIRING_CODE_EXPIRED' } } });
    expect(await t.engine.chatIdentities.callerFor('telegram', String(LATE_TG))).toBeNull();
    expect(codeIn(await type(mainTg, LATE_TG, '/help'))).not.toBe(code);
  });

  it('an admin approves a pending code for a viewer: the viewer reads but cannot start, stop or pause', async () => {
    const code = codeIn(await type(mainTg, VIC_TG, '/bots'));
    const id = (await t.engine.chatIdentities.pendingCodes()).find((c) => c.code === code)!.id;
    // An operator may not approve.
    expect((await t.api('POST', `/api/chat/pairings/${id}/approve`, { userId: vic.id }, as(alice))).status).toBe(403);
    const approved = await t.api('POST', `/api/chat/pairings/${id}/approve`, { userId: vic.id });
    expect(approved).toMatchObject({ status: 201, body: { userId: vic.id, username: 'vic' } });
    const list = await type(mainTg, VIC_TG, '/bots');
    expect(list).toMatch(/Bots \(2\)/);
    const runsBefore = (await t.engine.runner.listForBot(ledger.id)).length;
    expect(await type(mainTg, VIC_TG, '/run Ledger')).toBe('⚠️ You are a viewer on this server: you may look, but not start, stop or change anything.');
    expect(await type(mainTg, VIC_TG, '/pause Ledger')).toMatch(/^⚠️ You are a viewer/);
    expect(await type(mainTg, VIC_TG, '/newbot Evil do evil')).toMatch(/^⚠️ You are a viewer/);
    expect(await t.engine.runner.listForBot(ledger.id)).toHaveLength(runsBefore);
    expect((await t.engine.bots.get(ledger.id)).paused).toBe(false);
    expect((await t.engine.bots.list()).map((b) => b.name)).not.toContain('Evil');
    // Reading works.
    expect(await type(mainTg, VIC_TG, '/status Ledger')).toMatch(/Ledger — /);
  });

  it('TELEGRAM_ALLOWED_USERS still acts as the first admin without pairing: every bot, and changes allowed', async () => {
    const list = await type(mainTg, ADMIN_TG, '/bots');
    expect(list).toMatch(/Bots \(2\)/);
    expect(list).toContain('Scout');
    expect(list).toContain('Ledger');
    expect(await type(mainTg, ADMIN_TG, '/pause Ledger')).toMatch(/Paused/);
    expect((await t.engine.bots.get(ledger.id)).paused).toBe(true);
    await type(mainTg, ADMIN_TG, '/resume Ledger');
  });

  it('with a bot name two owners use, a user gets their own', async () => {
    const bobsTwin = await botOf('Twin', bob.id);
    const alicesTwin = (await t.engine.db.insert(bots).values({ ...bobsTwin, id: undefined, ownerId: alice.id }).returning())[0]!;
    expect(await type(mainTg, ALICE_TG, '/status Twin')).toMatch(/Twin — /);
    await type(mainTg, ALICE_TG, '/run Twin');
    expect(await t.engine.runner.listForBot(alicesTwin.id)).toHaveLength(1);
    expect(await t.engine.runner.listForBot(bobsTwin.id)).toHaveLength(0);
    // The admin's list shows both; the admin's own (none) is not preferred, the oldest is.
    expect(await type(mainTg, ADMIN_TG, '/bots')).toMatch(/Bots \(4\)/);
    await t.engine.deleteBot(alicesTwin.id);
    await t.engine.deleteBot(bobsTwin.id);
  });

  it('unlinking is one request: the chat user is a stranger again; another user cannot unlink it', async () => {
    const [mine] = (await t.api('GET', '/api/chat/identities', undefined, as(alice))).body;
    const foreign = await t.api('DELETE', `/api/chat/identities/${mine.id}`, undefined, as(bob));
    expect(foreign).toMatchObject({ status: 404, body: { error: { code: 'CHAT_IDENTITY_NOT_FOUND' } } });
    const gone = await t.api('DELETE', `/api/chat/identities/${mine.id}`, undefined, as(alice));
    expect(gone).toMatchObject({ status: 200, body: { unlinked: mine.id } });
    expect(await type(mainTg, ALICE_TG, '/bots')).toMatch(/^🔒 I don't know you yet/);
    expect((await t.api('DELETE', `/api/chat/identities/${mine.id}`, undefined, as(alice))).status).toBe(404);
  });

  it('the settings page links a code to the signed-in user, lists it with Unlink, and unlinks', async () => {
    const code = codeIn(await type(mainTg, ALICE_TG, '/bots'));
    const page = await fetch(`${t.url}/settings/chat`, { headers: as(alice) });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Enter a pairing code');
    expect(html).toContain('No chat account is linked to you yet.');
    expect(html).not.toContain('Pending codes'); // admins only
    const linked = await fetch(`${t.url}/settings/chat/pair`, { method: 'POST', headers: { ...as(alice), 'content-type': 'application/x-www-form-urlencoded', 'hx-request': 'true' }, body: `code=${code}` });
    expect(linked.status).toBe(200);
    const after = await linked.text();
    expect(after).toContain(`Linked Telegram user @u${ALICE_TG}`);
    const id = /data-identity-id="(\d+)"/.exec(after)![1];
    expect(await type(mainTg, ALICE_TG, '/bots')).toContain('Scout');
    // A bad code is shown on the page, as a 4xx.
    const bad = await fetch(`${t.url}/settings/chat/pair`, { method: 'POST', headers: { ...as(alice), 'content-type': 'application/x-www-form-urlencoded' }, body: `code=${code}` });
    expect(bad.status).toBe(409);
    expect(await bad.text()).toContain('already used');
    // The admin's page lists pending codes with a user to choose.
    codeIn(await type(mainTg, LATE_TG, '/bots'));
    const adminPage = await (await fetch(`${t.url}/settings/chat`)).text();
    expect(adminPage).toContain('Pending codes');
    expect(adminPage).toMatch(/<option value="\d+"[^>]*>vic \(viewer\)<\/option>/);
    const unlinked = await fetch(`${t.url}/settings/chat/identities/${id}/unlink`, { method: 'POST', headers: as(alice), redirect: 'manual' });
    expect(unlinked.status).toBe(303);
    expect(await t.engine.chatIdentities.listFor(alice.id)).toEqual([]);
    // Re-link for the next test.
    const again = codeIn(await type(mainTg, ALICE_TG, '/bots'));
    expect((await t.api('POST', '/api/chat/pairings', { code: again }, as(alice))).status).toBe(201);
  });
});

describe('Pairing codes are rate-limited', () => {
  it(`at most ${MAX_CODES_PER_HOUR} new codes an hour per chat user; then a plain sentence`, async () => {
    const core = new CommandCore(t.engine, { allowedUsers: [], allowListVariable: 'DISCORD_ALLOWED_USERS', log: logger });
    const caller = { platform: 'discord' as const, userId: '990001', chatId: 'dm' };
    const seen = new Set<string>();
    for (let i = 0; i < MAX_CODES_PER_HOUR; i++) {
      const text = messageText(await core.runText(caller, 'bots', ''));
      seen.add(codeIn(text));
      // The code is used (by an admin, for Vic), so the next command needs a new one.
      const id = (await t.engine.chatIdentities.pendingCodes()).find((c) => c.externalId === caller.userId)!.id;
      await t.engine.chatIdentities.approve(id, vic.id, t.engine.users.callerOf((await t.engine.users.get(1))!));
      const identity = (await t.engine.chatIdentities.listFor(vic.id)).find((v) => v.externalId === caller.userId)!;
      await t.engine.chatIdentities.unlink(identity.id, t.engine.users.callerOf((await t.engine.users.get(1))!));
    }
    expect(seen.size).toBe(MAX_CODES_PER_HOUR);
    const limited = await core.runText(caller, 'bots', '');
    expect(messageText(limited)).toBe(`🔒 You asked for ${MAX_CODES_PER_HOUR} pairing codes within an hour; please wait an hour before asking for another.`);
    offsetMs += CODE_TTL_MS + 1000;
    expect(codeIn(messageText(await core.runText(caller, 'bots', '')))).toMatch(/^[A-Z2-9]{8}$/);
  });
});

describe('A Telegram bot per user', () => {
  it('Alice adds her own token: it is kept as a secret file, her bot answers her linked chat only, and stops when removed', async () => {
    userBots = startUserTelegramBots(t.engine, t.config, logger, { retryDelaysMs: [100], refusalCooldownMs: 0 });
    const set = await fetch(`${t.url}/settings/chat/telegram-token`, { method: 'POST', headers: { ...as(alice), 'content-type': 'application/x-www-form-urlencoded', 'hx-request': 'true' }, body: `token=${encodeURIComponent(OWN_TOKEN)}` });
    expect(set.status).toBe(200);
    const html = await set.text();
    expect(html).toMatch(/Token: <strong class="token-state">set<\/strong>/);
    expect(html).not.toContain(OWN_TOKEN);
    const file = path.join(t.dataDir, 'secrets', 'users', String(alice.id), 'telegram-token');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(t.dataDir, 'secrets', 'users')).mode & 0o777).toBe(0o700);
    await userBots.idle();
    expect(userBots.owners()).toEqual([alice.id]);
    // Nothing in the database holds the token.
    const dbFiles = fs.readdirSync(t.dataDir).filter((n) => n.startsWith('openorchestrator.db'));
    expect(dbFiles).toContain('openorchestrator.db');
    for (const f of dbFiles) expect(fs.readFileSync(path.join(t.dataDir, f)).includes(OWN_TOKEN), f).toBe(false);
    // Her linked chat is answered by her bot, as her.
    const mine = await type(aliceTg, ALICE_TG, '/bots');
    expect(mine).toContain('Scout');
    expect(mine).not.toContain('Ledger');
    // Bob is linked, but to another account: a plain refusal. A stranger gets a code.
    expect(await type(aliceTg, BOB_TG, '/bots')).toBe("🔒 Sorry, this bot answers only its owner's chats.");
    expect(await type(aliceTg, 5999, '/bots')).toMatch(/^🔒 I don't know you yet/);
    // The allow-listed admin is not the owner here either.
    expect(await type(aliceTg, ADMIN_TG, '/bots')).toMatch(/^🔒 I don't know you yet/);
    // The server's bot still serves everyone as before.
    expect(await type(mainTg, BOB_TG, '/bots')).toContain('Ledger');

    const removed = await fetch(`${t.url}/settings/chat/telegram-token/delete`, { method: 'POST', headers: as(alice), redirect: 'manual' });
    expect(removed.status).toBe(303);
    await userBots.idle();
    expect(userBots.owners()).toEqual([]);
    expect(fs.existsSync(file)).toBe(false);
    const page = await (await fetch(`${t.url}/settings/chat`, { headers: as(alice) })).text();
    expect(page).toMatch(/Token: <strong class="token-state">not set<\/strong>/);
    const mark = aliceTg.calls.length;
    aliceTg.pushMessage({ chatId: ALICE_TG, fromId: ALICE_TG, text: '/bots' });
    await new Promise((r) => setTimeout(r, 300));
    expect(aliceTg.calls.slice(mark).filter((c) => c.method === 'getUpdates' || c.method === 'sendMessage')).toEqual([]);
  });

  it('a token that is not one is refused on the page, and nothing is stored', async () => {
    const res = await fetch(`${t.url}/settings/chat/telegram-token`, { method: 'POST', headers: { ...as(bob), 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=hello' });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('does not look like a Telegram bot token');
    expect(t.engine.userTelegramTokens.has(bob.id)).toBe(false);
  });
});

describe('Chat pairing through Discord', () => {
  const GUILD = '800000000000000001';
  const CHANNEL = '800000000000000010';
  const CAROL = '700000000000000042'; // a stranger until paired
  const BOOT = '700000000000000001'; // on DISCORD_ALLOWED_USERS
  let fake: FakeDiscord;
  let d: TestApp;
  let discord: ChatAdapter;

  beforeAll(async () => {
    fake = await startFakeDiscord({ guild: { id: GUILD, channelIds: [CHANNEL] } });
    d = await startTestApp({ DISCORD_BOT_TOKEN: 'fake-token.abc.def', DISCORD_API_BASE: fake.apiBase, DISCORD_GUILD_ID: GUILD, DISCORD_ALLOWED_USERS: BOOT, ECHO_DELAY_MS: '5' });
    discord = await startDiscord(d.engine, d.config, logger, { retryDelaysMs: [100] });
  });
  afterAll(async () => {
    await discord?.stop();
    await d?.close();
    await fake?.close();
  });

  /** The content of the interaction's first answer, and whether only the person sees it. */
  async function slash(name: string, userId: string, options: Record<string, string> = {}): Promise<{ content: string; ephemeral: boolean; ref: InteractionRef }> {
    const ref = fake.slashCommand({ name, options, userId, username: 'carol', channelId: CHANNEL });
    const cb = await fake.waitForCall((c) => c.path === `/interactions/${ref.id}/${ref.token}/callback` && c.status < 300, 10_000);
    return { content: cb.body.data?.content ?? '', ephemeral: ((cb.body.data?.flags ?? 0) & 64) !== 0, ref };
  }

  it('a stranger gets a code (only they see it) and runs nothing; after pairing, /bots shows their bots only', async () => {
    const carol = await d.engine.users.create({ username: 'carol', role: 'operator' });
    const { key } = await d.engine.swarm.keys.create({ name: 'carol-key', scopes: ['admin', 'tasks', 'agents'] }, 'test', null, carol.id);
    const hers = await d.engine.createBot({ name: 'Finder', prompt: 'x' });
    await d.engine.db.update(bots).set({ ownerId: carol.id }).where(eq(bots.id, hers.id));
    await d.engine.createBot({ name: 'AdminOnly', prompt: 'x' });

    const refused = await slash('run', CAROL, { bot: 'Finder' });
    expect(refused.ephemeral).toBe(true);
    expect(refused.content).toMatch(/^🔒 I don't know you yet\. Your pairing code is `[A-Z2-9]{8}` \(valid 1 hour\)/);
    expect(await d.engine.runner.listForBot(hers.id)).toEqual([]);
    const code = /`([A-Z2-9]{8})`/.exec(refused.content)![1]!;
    expect((await d.engine.chatIdentities.pendingCodes())[0]).toMatchObject({ platform: 'discord', externalId: CAROL, displayName: 'carol' });

    expect((await d.api('POST', '/api/chat/pairings', { code }, { 'x-api-key': key })).status).toBe(201);
    const list = await slash('bots', CAROL);
    expect(list.content).toContain('Finder');
    expect(list.content).not.toContain('AdminOnly');
    // Autocomplete offers her bots only.
    const ac = fake.autocomplete({ name: 'run', focusedOption: 'bot', value: '', userId: CAROL, channelId: CHANNEL });
    const choices = await fake.waitForCall((c) => c.path === `/interactions/${ac.id}/${ac.token}/callback`);
    expect(choices.body).toEqual({ type: 8, data: { choices: [{ name: 'Finder', value: 'Finder' }] } });
    // The allow-listed id still acts as the first admin.
    const boot = await slash('bots', BOOT);
    expect(boot.content).toContain('Finder');
    expect(boot.content).toContain('AdminOnly');
  });
});
