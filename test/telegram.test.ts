/**
 * Telegram chat-ops, as a person sees it: they type `/run Scout` in a chat and the bot answers.
 * The real grammY client long-polls a fake Bot API (test/fakes/telegram.ts) on 127.0.0.1; the
 * engine is the real one with the offline echo model. Live run cards run on a hand-moved clock
 * (test/helpers/clock.ts), so "at most one edit per 3 s" is checked without waiting.
 */
import fs from 'node:fs';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Api, GrammyError } from 'grammy';
import type { Message as TgMessage } from 'grammy/types';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ChatAdapter } from '../src/bot/adapter.ts';
import { startTelegram } from '../src/bot/telegram/adapter.ts';
import type { Config } from '../src/config.ts';
import { AppError } from '../src/engine/errors.ts';
import { startFakeTelegram, type FakeTelegram, type TelegramCall, type UploadedFile } from './fakes/telegram.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';
import { ManualClock } from './helpers/clock.ts';

const ALICE = 1001; // on the allow list; chats with the bot privately
const BOB = 1002; // on the allow list
const MALLORY = 6666; // a stranger
const TRENT = 7777; // another stranger (refusals are rate-limited per user)
const GROUP = -1001234567890;
const FORUM = -1009876543210; // a supergroup with forum topics

/** A logger whose JSON lines the tests can read. */
function captureLogger() {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines, text: () => lines.map((l) => l.msg).join('\n') };
}

let tg: FakeTelegram;
let t: TestApp;
let adapter: ChatAdapter;
/** The cards' clock: never moved here, so a card is only edited when its run ends. */
const clock = new ManualClock();
const log = captureLogger();
const extraAdapters: ChatAdapter[] = [];
const extraFakes: FakeTelegram[] = [];

beforeAll(async () => {
  tg = await startFakeTelegram();
  t = await startTestApp({
    TELEGRAM_BOT_TOKEN: tg.token,
    TELEGRAM_API_ROOT: tg.apiRoot,
    TELEGRAM_ALLOWED_USERS: `${ALICE},${BOB}`,
    ECHO_DELAY_MS: '5',
    PUBLIC_URL: 'https://bots.example.com/',
  });
  adapter = await startTelegram(t.engine, t.config, log.logger, { retryDelaysMs: [150, 300], delivery: { clock } });
});

afterAll(async () => {
  // Stopping twice is harmless; these are only still running when their test failed.
  for (const a of extraAdapters) await a.stop();
  await adapter?.stop();
  await t?.close();
  for (const f of extraFakes) await f.close();
  await tg?.close();
});

/** What the person sees of one bot message. */
interface Seen {
  /** The text as Telegram shows it (HTML parsed away). */
  text: string;
  /** The HTML the bot sent. */
  html: string;
  /** Inline keyboard rows as [label, callback_data] pairs. */
  buttons: [string, string][][];
  chatId: number;
  messageId: number;
  call: TelegramCall;
}

type Keyboard = { inline_keyboard?: { text: string; callback_data: string }[][] } | undefined;
const rowsOf = (kb: Keyboard): [string, string][][] => (kb?.inline_keyboard ?? []).map((r) => r.map((b) => [b.text, b.callback_data]));

function seen(call: TelegramCall): Seen {
  const msg = call.result as TgMessage;
  return { text: msg.text ?? '', html: String(call.payload.text), buttons: rowsOf(call.payload.reply_markup as Keyboard), chatId: msg.chat.id, messageId: msg.message_id, call };
}

/** The message as it is now, after any edits. */
function current(on: Pick<Seen, 'chatId' | 'messageId'>): { text: string; buttons: [string, string][][] } {
  const m = tg.messages.get(`${on.chatId}:${on.messageId}`) as (TgMessage & { reply_markup?: Keyboard }) | undefined;
  return { text: m?.text ?? '', buttons: rowsOf(m?.reply_markup) };
}

/** Waits for the bot's next message in `chatId` after call number `mark` that matches `re`. */
async function botSays(chatId: number, mark: number, re: RegExp = /[\s\S]/, timeoutMs = 10_000): Promise<Seen> {
  const call = await tg.waitForCall('sendMessage', (p, c) => c.seq >= mark && p.chat_id === chatId && c.ok === true && re.test((c.result as TgMessage).text ?? ''), timeoutMs);
  return seen(call);
}

/** Waits until the message `on` is edited to text matching `re`; resolves with the edit. */
async function editedTo(on: Seen, re: RegExp, timeoutMs = 10_000): Promise<TelegramCall> {
  return tg.waitForCall('editMessageText', (p, c) => p.chat_id === on.chatId && p.message_id === on.messageId && c.ok === true && re.test((c.result as TgMessage).text ?? ''), timeoutMs);
}

/** A person types `text` in a chat; resolves with the bot's first answer there. */
async function type(text: string, opts: { chatId?: number; fromId?: number; threadId?: number } = {}): Promise<Seen> {
  const fromId = opts.fromId ?? ALICE;
  const chatId = opts.chatId ?? fromId;
  const mark = tg.calls.length;
  tg.pushMessage({ chatId, fromId, text, ...(opts.threadId ? { threadId: opts.threadId } : {}) });
  return botSays(chatId, mark);
}

/** A person presses an inline button; resolves with the callback answer and the call list mark. */
async function press(on: Seen, label: RegExp, opts: { fromId?: number; buttons?: [string, string][][] } = {}) {
  const data = (opts.buttons ?? current(on).buttons).flat().find(([l]) => label.test(l))?.[1];
  if (!data) throw new Error(`no button ${label} in ${JSON.stringify(current(on).buttons)}`);
  const mark = tg.calls.length;
  const { callbackQueryId } = tg.pushCallbackQuery({ chatId: on.chatId, fromId: opts.fromId ?? ALICE, data, messageId: on.messageId });
  const answer = await tg.waitForCall('answerCallbackQuery', (p) => p.callback_query_id === callbackQueryId);
  return { answer: answer.payload, mark };
}

const createBot = (name: string, prompt = `You are ${name}.`) => t.engine.createBot({ name, prompt });
const runIdOf = (s: { text: string }) => Number(/run #(\d+)/.exec(s.text)![1]);

/** A bot whose runs fail before they start: its docs folder is a file, so the run process cannot be prepared. */
async function createBrokenBot(name: string) {
  const bot = await createBot(name);
  fs.rmSync(bot.docsPath, { recursive: true, force: true });
  fs.writeFileSync(bot.docsPath, 'not a folder');
  return bot;
}

/** The bot's messages in `chatId` from call `from` up to (not including) call `to`. */
function sentTo(chatId: number, from: number, to = Infinity) {
  return tg.calls.filter((c) => c.seq >= from && c.seq < to && c.method === 'sendMessage' && c.payload.chat_id === chatId && c.ok === true).map(seen);
}

/** Everything the bot has handled up to now in `chatId`: a /help there is answered after it. */
const settle = (chatId = ALICE, fromId = ALICE) => type('/help', { chatId, fromId });

describe('Telegram: starting up', () => {
  it('publishes the command menu, /cancel included, with setMyCommands and long-polls getUpdates', async () => {
    await tg.waitForCall('getUpdates');
    await tg.waitForCall('setMyCommands', (_p, c) => c.ok === true); // published alongside polling
    const menu = tg.commands.get('{"type":"default"}|') ?? [];
    expect(menu.map((c) => c.command)).toEqual([
      'bots', 'run', 'stop', 'status', 'results', 'logs', 'newbot', 'schedule', 'pause', 'resume', 'link', 'unlink',
      'subscribe', 'unsubscribe', 'mute', 'pipelines', 'runpipeline', 'delete', 'approvals', 'task', 'cancel', 'help',
    ]);
    expect(log.text()).toMatch(/Telegram bot @fake_test_bot is polling/);
  });

  it('stop() while the command menu waits out a 429 returns at once, and nothing polls after it', async () => {
    const fake = await startFakeTelegram();
    extraFakes.push(fake);
    fake.failNext('setMyCommands', { error_code: 429, description: 'Too Many Requests: retry after 5', parameters: { retry_after: 5 } });
    const config: Config = { ...t.config, telegram: { ...t.config.telegram, token: fake.token, apiRoot: fake.apiRoot } };
    const t0 = Date.now();
    const adapter2 = await startTelegram(t.engine, config, captureLogger().logger);
    extraAdapters.push(adapter2);
    await fake.waitForCall('setMyCommands', (_p, c) => c.error?.error_code === 429);
    const stopAt = fake.calls.length;
    await adapter2.stop();
    // Neither starting nor stopping waited for the 5 s the menu was asked to wait.
    expect(Date.now() - t0).toBeLessThan(2500);
    const stoppedAt = fake.calls.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(fake.calls.slice(stopAt).filter((c) => c.method === 'getUpdates' && c.payload.timeout === 30)).toEqual([]);
    expect(fake.calls.slice(stoppedAt)).toEqual([]);
    // The menu's wait was given up, not retried later.
    expect(fake.calls.filter((c) => c.method === 'setMyCommands')).toHaveLength(1);
    await adapter2.stop(); // stopping again is harmless
  });

  it('the fake Bot API, like Telegram, refuses HTML it cannot parse and unknown forum topics', async () => {
    const api = new Api(tg.token, { apiRoot: tg.apiRoot });
    for (const html of ['Price <b>45 €</b> <tag>', '<b>open', 'a</b>', '<b><i>x</b></i>', 'a < b']) {
      const err = await api.sendMessage(ALICE, html, { parse_mode: 'HTML' }).then(() => null, (e: unknown) => e);
      expect(err, html).toBeInstanceOf(GrammyError);
      expect((err as GrammyError).description).toMatch(/^Bad Request: can't parse entities: /);
    }
    const ok = await api.sendMessage(ALICE, '<b>a &lt;b&gt;</b> <a href="https://x.test/?a=1&amp;b=2">x</a> <pre><code>y</code></pre>', { parse_mode: 'HTML' });
    expect(ok.text).toBe('a <b> x y');
    const err = await api.sendMessage(FORUM, 'x', { message_thread_id: 999 }).then(() => null, (e: unknown) => e);
    expect((err as GrammyError).description).toBe('Bad Request: message thread not found');
  });

  it('/help lists every command with its usage', async () => {
    const help = await type('/help');
    expect(help.text).toContain('/run <bot> [input…]');
    expect(help.text).toContain('/link <bot> <completed|failed|result> <target>');
    expect(help.text).toContain('/subscribe <bot> [all|failures|new]');
    expect(help.text).toContain('/mute <bot> <duration>');
    expect(help.text).toContain('/runpipeline <pipeline> [input…]');
    expect(help.text).toContain('/newbot [name] [prompt…]');
    expect(help.html).toContain('<code>/delete &lt;bot&gt;</code>');
  });
});

describe('Telegram: creating bots', () => {
  it('/newbot Scout <prompt> creates the bot, subscribes the chat and offers its model and schedule as choices', async () => {
    const reply = await type('/newbot Scout find Nike Air Max under 50 €');
    expect(reply.text).toMatch(/✅ Created 🤖 Scout \(model echo\)\. Its results will come to this chat\./);
    const bot = (await t.engine.bots.findByName('scout'))!;
    expect(bot).toMatchObject({ name: 'Scout', prompt: 'find Nike Air Max under 50 €', model: 'echo', schedule: null });
    expect(await t.engine.subscriptions.find(bot.id, 'telegram', String(ALICE))).toMatchObject({ policy: 'all', threadId: null });
    expect(reply.buttons.map((r) => r.map(([l]) => l))).toEqual([
      ['✓ Only when started', 'Every 30 min', 'Every hour', 'Daily 8:00'],
      ['✅ Done', '▶ Run now'],
    ]);
    await press(reply, /Every hour/);
    await editedTo(reply, /Schedule: every hour/);
    expect((await t.engine.bots.findByName('scout'))!.schedule).toBe('0 * * * *');
    expect(current(reply).buttons[0]).toContainEqual(['✓ Every hour', `nbsched:${bot.id}:1h`]);
    await press(reply, /Done/);
    await editedTo(reply, /🤖 Scout is ready: model echo, schedule every hour/);
    expect(current(reply).buttons[0]!.map(([l]) => l)).toEqual(['▶ Run', '📜 Logs', '⏸ Pause']);
  });

  it('/newbot eBay Scout Pro Find more does not silently create "eBay": it asks which words are the name', async () => {
    const ask = await type('/newbot eBay Scout Pro Find more');
    expect(ask.text).toMatch(/Which words are the name\? A name with spaces needs quotes, e\.g\. \/newbot "eBay Scout" Pro Find more/);
    expect(await t.engine.bots.findByName('eBay')).toBeUndefined();
    expect(ask.buttons.map((r) => r[0]![0])).toEqual(['“eBay”', '“eBay Scout”', '“eBay Scout Pro”']);
    await press(ask, /eBay Scout Pro/);
    await editedTo(ask, /Created 🤖 eBay Scout Pro/);
    expect(await t.engine.bots.findByName('ebay scout pro')).toMatchObject({ prompt: 'Find more' });
    expect(await t.engine.bots.findByName('eBay')).toBeUndefined();
    // In quotes there is nothing to ask.
    expect((await type('/newbot "Night Owl" Summarise the night’s news')).text).toMatch(/Created 🤖 Night Owl/);
    expect((await t.engine.bots.findByName('night owl'))?.prompt).toBe('Summarise the night’s news');
  });

  it('/newbot with no arguments offers the templates as buttons; one press creates the bot from it', async () => {
    const pick = await type('/newbot');
    expect(pick.text).toMatch(/Start from a template, or from scratch/);
    expect(pick.buttons.map((r) => r[0]![1])).toEqual(['nbtpl:ebay-scout', 'nbtpl:dev-bot', 'nbtpl:test-bot', 'nbtpl:researcher', 'nbscratch:-']);
    await press(pick, /eBay-Scout/);
    await editedTo(pick, /Created 🛒 eBay-Scout/);
    const bot = (await t.engine.bots.findByName('eBay-Scout'))!;
    expect(bot).toMatchObject({ emoji: '🛒', tools: ['web_search', 'web_fetch', 'files'], schedule: '*/30 * * * *' });
    expect(current(pick).text).toContain('Schedule: every 30 minutes (*/30 * * * *).');
    expect(current(pick).buttons[0]![1]![0]).toBe('✓ Every 30 min');
    // The same template again gets a free name.
    const again = await type('/newbot');
    await press(again, /eBay-Scout/);
    await editedTo(again, /Created 🛒 eBay-Scout 2/);
  });

  it('from scratch in a group asks only the person who asked (force_reply, selective, as a reply) for the name, then the prompt', async () => {
    const pick = await type('/newbot', { chatId: GROUP, fromId: BOB });
    expect(pick.call.payload.reply_parameters).toMatchObject({ message_id: expect.any(Number) });
    const { mark } = await press(pick, /From scratch/, { fromId: BOB });
    const ask = await botSays(GROUP, mark, /What should the new bot be called/);
    expect(ask.call.payload.reply_markup).toEqual({ force_reply: true, selective: true, input_field_placeholder: 'Bot name' });
    const askPrompt = await type('Owl Two', { chatId: GROUP, fromId: BOB });
    expect(askPrompt.text).toMatch(/What should Owl Two do/);
    expect(askPrompt.call.payload.reply_markup).toMatchObject({ force_reply: true, selective: true });
    // Another member's chatter is not taken as Bob's answer (and gets no reply in a group).
    tg.pushMessage({ chatId: GROUP, fromId: ALICE, text: 'lol' });
    const done = await type('Watch the night sky', { chatId: GROUP, fromId: BOB });
    expect(done.text).toMatch(/Created 🤖 Owl Two/);
    expect((await t.engine.bots.findByName('owl two'))?.prompt).toBe('Watch the night sky');
    expect((await type('/cancel', { chatId: GROUP, fromId: BOB })).text).toBe('There is nothing to cancel.');
  });

  it('/cancel ends a guided flow', async () => {
    const pick = await type('/newbot');
    const { mark } = await press(pick, /From scratch/);
    await botSays(ALICE, mark, /What should the new bot be called/);
    expect((await type('/cancel')).text).toBe('Cancelled.');
    expect((await type('Not a bot name')).text).toMatch(/Send \/help to see what I can do/);
    expect(await t.engine.bots.findByName('Not a bot name')).toBeUndefined();
  });
});

describe('Telegram: a run has one live card', () => {
  it('/run Runner size 43 answers with the run’s card, which becomes its outcome: no second message', async () => {
    await createBot('Runner', 'Look for shoes');
    const mark = tg.calls.length;
    const card = await type('/run runner size 43');
    expect(card.text).toMatch(/^(⏳|▶) 🤖 Runner · run #\d+ (queued|running)/);
    expect(card.buttons).toEqual([[['⏹ Stop', `cancel:${runIdOf(card)}`], ['📜 Logs', expect.stringMatching(/^logs:\d+$/)]]]);
    const runId = runIdOf(card);
    expect(await t.engine.runner.get(runId)).toMatchObject({ input: 'size 43', trigger: `telegram:${ALICE}` });

    const outcome = await editedTo(card, /completed/);
    const shown = current(card);
    expect(shown.text).toMatch(new RegExp(`^✓ 🤖 Runner · run #${runId} completed in [\\d.]+ (ms|s) · \\d+ tokens · \\$0\\n`));
    expect(shown.text).toContain('Prompt: Look for shoes\nInput: size 43');
    expect(outcome.payload.text).toMatch(/<pre>Prompt: Look for shoes\nInput: size 43<\/pre>/);
    expect(shown.text).toContain('🆕 1 new result');
    // PUBLIC_URL set: the card links to the run's page.
    expect(outcome.payload.text).toContain(`<a href="https://bots.example.com/bots/${(await t.engine.runner.get(runId)).botId}?run=${runId}">Run #${runId} in the dashboard</a>`);
    // The ⏹ Stop button is gone with the run.
    expect(shown.buttons.flat().map(([l]) => l)).toEqual(['▶ Run again', '📜 Logs']);
    const marker = await settle();
    expect(sentTo(ALICE, mark, marker.call.seq).map((m) => m.messageId)).toEqual([card.messageId]);
  });

  it('pressing ▶ Run under /status answers with the run’s card in the group', async () => {
    const bot = await createBot('Presser');
    const status = await type('/status Presser', { chatId: GROUP, fromId: BOB });
    const { answer, mark } = await press(status, /▶ Run/, { fromId: BOB });
    expect(answer.text).toBe('▶ Started');
    const card = await botSays(GROUP, mark, /Presser · run #\d+/);
    await editedTo(card, /Presser · run #\d+ completed/);
    expect((await t.engine.runner.listForBot(bot.id))[0]).toMatchObject({ status: 'completed', trigger: `telegram:${BOB}` });
  });

  it('a run that fails before it even starts shows as failed on its card', async () => {
    await createBrokenBot('Broken');
    const mark = tg.calls.length;
    const card = await type('/run Broken');
    const runId = runIdOf(card);
    await expect.poll(() => current(card).text, { timeout: 10_000 }).toMatch(new RegExp(`^✗ 🤖 Broken · run #${runId} failed`));
    expect((await t.engine.runner.get(runId)).status).toBe('failed');
    expect(current(card).text).toContain('the run process could not be prepared');
    const marker = await settle();
    expect(sentTo(ALICE, mark, marker.call.seq).filter((m) => m.text.includes(`run #${runId}`))).toHaveLength(1);
  });

  it('an output over 3,500 characters arrives as a .txt document beside a short summary on the card', async () => {
    const prompt = Array.from({ length: 100 }, (_, i) => `Line ${i}: ${'x'.repeat(50)} <tag> & more`).join('\n');
    expect(prompt.length).toBeGreaterThan(6000);
    const bot = await createBot('Verbose', prompt);
    const card = await type('/run Verbose');
    const runId = runIdOf(card);
    const doc = await tg.waitForCall('sendDocument', (p) => p.chat_id === ALICE, 10_000);
    const run = await t.engine.runner.get(runId);
    const file = doc.payload.document as UploadedFile;
    expect(file).toMatchObject({ filename: `verbose-run-${runId}.txt` });
    expect(file.text).toBe(run.output);
    expect(doc.payload.reply_parameters).toMatchObject({ message_id: card.messageId });
    expect(doc.result).toMatchObject({ document: { file_name: `verbose-run-${runId}.txt`, file_size: Buffer.byteLength(run.output!) } });
    const shown = current(card).text;
    expect(shown).toMatch(new RegExp(`📎 The whole output \\(${run.output!.length.toLocaleString('en-US')} characters\\) is in verbose-run-${runId}\\.txt\\.`));
    expect(shown.length).toBeLessThan(1500);
    expect(shown).toContain('Line 0: ');
    expect(bot.id).toBe(run.botId);
  });

  it('a run started in a forum topic is answered in that topic, as a reply to the command', async () => {
    await createBot('Topical');
    const mark = tg.calls.length;
    const id = tg.pushMessage({ chatId: FORUM, fromId: BOB, text: '/run Topical', threadId: 42 });
    const card = await botSays(FORUM, mark, /Topical · run #\d+/);
    expect(card.call.payload).toMatchObject({ message_thread_id: 42, reply_parameters: { message_id: expect.any(Number), allow_sending_without_reply: true } });
    expect(card.call.result).toMatchObject({ message_thread_id: 42, is_topic_message: true, reply_to_message: { text: '/run Topical' } });
    await editedTo(card, /completed/);
    expect(id).toBeGreaterThan(0);
    // A failure in a topic is answered there too.
    const err = await type('/run Nobody', { chatId: FORUM, fromId: BOB, threadId: 42 });
    expect(err.call.payload.message_thread_id).toBe(42);
    expect(err.text).toMatch(/^⚠️ No bot named "Nobody"/);
  });

  it('in groups every answer is a reply to its command; in a private chat it is not', async () => {
    const mark = tg.calls.length;
    tg.pushMessage({ chatId: GROUP, fromId: BOB, text: '/status Runner' });
    const inGroup = await botSays(GROUP, mark, /Runner — idle/);
    const command = [...tg.messages.values()].filter((m) => m.chat.id === GROUP && m.text === '/status Runner').at(-1)!;
    expect(inGroup.call.payload.reply_parameters).toEqual({ message_id: command.message_id, allow_sending_without_reply: true });
    const inPrivate = await type('/status Runner');
    expect(inPrivate.call.payload).not.toHaveProperty('reply_parameters');
  });
});

describe('Telegram: a slow run, on a clock the test moves', () => {
  const slowClock = new ManualClock();
  let fake: FakeTelegram;
  let slow: TestApp;
  let slowAdapter: ChatAdapter;

  beforeAll(async () => {
    fake = await startFakeTelegram();
    slow = await startTestApp({ TELEGRAM_BOT_TOKEN: fake.token, TELEGRAM_API_ROOT: fake.apiRoot, TELEGRAM_ALLOWED_USERS: String(BOB), ECHO_DELAY_MS: '700' });
    slowAdapter = await startTelegram(slow.engine, slow.config, captureLogger().logger, { retryDelaysMs: [100], delivery: { clock: slowClock } });
  });
  afterAll(async () => {
    await slowAdapter?.stop();
    await slow?.close();
    await fake?.close();
  });

  it('its card is edited as it goes — at most once per 3 s, with "typing…" in its topic — and ends as the outcome, with no other message', async () => {
    await slow.engine.createBot({ name: 'Slowpoke', prompt: 'Take your time.' });
    const mark = fake.calls.length;
    fake.pushMessage({ chatId: FORUM, fromId: BOB, text: '/run Slowpoke', threadId: 7 });
    const posted = await fake.waitForCall('sendMessage', (p, c) => c.seq >= mark && p.chat_id === FORUM && c.ok === true);
    expect(posted.payload.message_thread_id).toBe(7);
    const messageId = (posted.result as TgMessage).message_id;
    const runId = Number(/run #(\d+)/.exec((posted.result as TgMessage).text!)![1]);
    const edits = () => fake.calls.filter((c) => c.method === 'editMessageText' && c.payload.message_id === messageId && c.ok === true);
    const text = () => (fake.messages.get(`${FORUM}:${messageId}`) as TgMessage).text!;

    // Log lines come in, but within 3 s of posting the card is not edited.
    await expect.poll(async () => (await slow.engine.runner.logs(runId)).length, { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
    expect(edits()).toHaveLength(0);
    const typing = await fake.waitForCall('sendChatAction', (p) => p.chat_id === FORUM);
    expect(typing.payload).toMatchObject({ action: 'typing', message_thread_id: 7 });

    slowClock.advance(3000);
    await expect.poll(() => edits().length, { timeout: 10_000 }).toBe(1);
    expect(text()).toMatch(new RegExp(`^▶ 🤖 Slowpoke · run #${runId} running · 3 s\\n› `));
    expect(edits()[0]!.payload.reply_markup).toMatchObject({ inline_keyboard: [[{ text: '⏹ Stop' }, { text: '📜 Logs' }]] });

    // It ends: the outcome waits out its 3 s after the last edit, then takes the card's place.
    slowClock.advance(2999);
    await slow.waitForRun(runId);
    await settleSlow();
    expect(edits()).toHaveLength(1);
    slowClock.advance(1);
    await expect.poll(() => text(), { timeout: 10_000 }).toMatch(new RegExp(`^✓ 🤖 Slowpoke · run #${runId} completed in`));
    expect(edits()).toHaveLength(2);
    expect(edits()[1]!.payload.reply_markup).toMatchObject({ inline_keyboard: [[{ text: '▶ Run again' }, { text: '📜 Logs' }]] });
    const sent = fake.calls.filter((c) => c.seq >= mark && ['sendMessage', 'sendDocument'].includes(c.method) && c.payload.chat_id === FORUM);
    expect(sent).toHaveLength(1);
    const typings = fake.calls.filter((c) => c.method === 'sendChatAction').length;
    slowClock.advance(60_000);
    await settleSlow();
    expect(fake.calls.filter((c) => c.method === 'sendChatAction')).toHaveLength(typings); // no "typing…" after the run
    expect(edits()).toHaveLength(2);
  });

  it('⏹ Stop on the card stops that run; the card itself says so — no "cancelled" message after it', async () => {
    const bot = await slow.engine.createBot({ name: 'Sleepy', prompt: 'Zzz.' });
    await slow.engine.subscriptions.subscribe(bot.id, 'telegram', String(BOB));
    const mark = fake.calls.length;
    fake.pushMessage({ chatId: BOB, fromId: BOB, text: '/run Sleepy' });
    const posted = await fake.waitForCall('sendMessage', (p, c) => c.seq >= mark && p.chat_id === BOB && c.ok === true);
    const messageId = (posted.result as TgMessage).message_id;
    const runId = Number(/run #(\d+)/.exec((posted.result as TgMessage).text!)![1]);
    const { callbackQueryId } = fake.pushCallbackQuery({ chatId: BOB, fromId: BOB, data: `cancel:${runId}`, messageId });
    const answer = await fake.waitForCall('answerCallbackQuery', (p) => p.callback_query_id === callbackQueryId);
    expect(answer.payload.text).toBe('⏹ Stopped');
    const edit = await fake.waitForCall('editMessageText', (p, c) => p.message_id === messageId && c.ok === true);
    expect((edit.result as TgMessage).text).toMatch(new RegExp(`^■ 🤖 Sleepy · run #${runId} cancelled`));
    expect((edit.result as TgMessage).text).toContain(`stopped from telegram by user ${BOB}`);
    await settleSlow();
    expect(fake.calls.filter((c) => c.seq >= mark && c.method === 'sendMessage' && c.payload.chat_id === BOB && /cancelled/.test(String(c.payload.text)))).toEqual([]);
    // Pressed again, the run has ended: the toast says so, as an alert.
    const again = fake.pushCallbackQuery({ chatId: BOB, fromId: BOB, data: `cancel:${runId}`, messageId });
    const late = await fake.waitForCall('answerCallbackQuery', (p) => p.callback_query_id === again.callbackQueryId);
    expect(late.payload).toMatchObject({ text: `⚠️ Run #${runId} has already ended.`, show_alert: true });
  });

  it('/stop <bot> answers "Stopped", and the subscribed chat gets no "cancelled" outcome after it', async () => {
    const bot = (await slow.engine.bots.findByName('Sleepy'))!;
    const run = await slow.engine.startRun(bot.id, { trigger: 'manual' });
    const mark = fake.calls.length;
    fake.pushMessage({ chatId: BOB, fromId: BOB, text: '/stop Sleepy' });
    const reply = await fake.waitForCall('sendMessage', (p, c) => c.seq >= mark && p.chat_id === BOB && c.ok === true);
    expect((reply.result as TgMessage).text).toBe(`⏹ Stopped 🤖 Sleepy: run #${run.id}.`);
    expect((await slow.engine.runner.get(run.id)).status).toBe('cancelled');
    await settleSlow();
    expect(fake.calls.filter((c) => c.seq >= mark && c.method === 'sendMessage' && c.payload.chat_id === BOB).map((c) => (c.result as TgMessage).text)).toEqual([
      `⏹ Stopped 🤖 Sleepy: run #${run.id}.`,
      expect.stringMatching(/command your bots/),
    ]);
  });

  /** Everything before it has been handled once Bob's /help is answered. */
  async function settleSlow() {
    const mark = fake.calls.length;
    fake.pushMessage({ chatId: BOB, fromId: BOB, text: '/help' });
    await fake.waitForCall('sendMessage', (p, c) => c.seq >= mark && p.chat_id === BOB && c.ok === true && /command your bots/.test(String(c.payload.text)));
  }
});

describe('Telegram: lists, logs and settings', () => {
  it('/bots pages with more than 5 bots: ◀ ▶ redraw the same message', async () => {
    const total = (await t.engine.bots.list()).length;
    expect(total).toBeGreaterThan(5);
    const list = await type('/bots');
    const pages = Math.ceil(total / 4);
    expect(list.text).toMatch(new RegExp(`^Bots \\(${total}\\) · page 1 of ${pages}`));
    expect(list.buttons).toHaveLength(5); // four bots, then ◀ ▶
    expect(list.buttons.at(-1)).toEqual([['Next ▶', 'bots:1']]);
    await press(list, /Next/);
    await editedTo(list, new RegExp(`page 2 of ${pages}`));
    expect(current(list).buttons.at(-1)!.map(([l]) => l)).toEqual(['◀ Previous', 'Next ▶']);
    // Every bot is on some page, with its ▶ button.
    const names = new Set(list.buttons.flat().filter(([l]) => l.startsWith('▶ ')).map(([l]) => l.slice(2)));
    for (let p = 2; p <= pages; p++) {
      if (p > 2) await press(list, /Next/);
      if (p > 2) await editedTo(list, new RegExp(`page ${p} of ${pages}`));
      for (const [l] of current(list).buttons.flat()) if (l.startsWith('▶ ')) names.add(l.slice(2));
    }
    expect(current(list).buttons.at(-1)!.map(([l]) => l)).toEqual(['◀ Previous']);
    expect([...names].sort()).toEqual((await t.engine.bots.list()).map((b) => b.name).sort());
    expect(sentTo(ALICE, list.call.seq + 1).filter((m) => /^Bots/.test(m.text))).toEqual([]);
  });

  it('/logs shows the tail of the last run; 🔄 Refresh redraws it in place, even for a long log', async () => {
    const logs = await type('/logs Runner');
    expect(logs.text).toMatch(/🤖 Runner · run #\d+ ✓ completed/);
    expect(logs.text).toContain('echo: composing the answer');
    expect(logs.html).toMatch(/<pre>[\s\S]*\[system\] completed<\/pre>/);
    const { answer } = await press(logs, /Refresh/);
    expect(answer.text).toBe('🔄 Refreshed');
    const edit = await tg.waitForCall('editMessageText', (p) => p.message_id === logs.messageId);
    // Unchanged: Telegram refuses the edit, and no error shows.
    expect(edit.error?.description).toMatch(/message is not modified/);

    // A run with long lines: the tail still fits one message, and each refresh edits that message.
    const bot = await createBot('Longwinded');
    const run = await t.engine.startRun(bot.id, { trigger: 'manual' });
    await t.waitForRun(run.id);
    const db = t.engine.db.$client;
    const insert = db.prepare('INSERT INTO run_logs (run_id, seq, ts, stream, text) VALUES (?, ?, ?, ?, ?)');
    for (let i = 100; i < 140; i++) insert.run(run.id, i, Date.now(), 'stdout', `line ${i} ${'y'.repeat(3000)}`);
    const long = await type('/logs Longwinded');
    expect(long.text.length).toBeLessThanOrEqual(4096);
    expect(long.text).toContain('line 139 ');
    insert.run(run.id, 140, Date.now(), 'stdout', 'the very last line');
    const mark = tg.calls.length;
    await press(long, /Refresh/);
    await editedTo(long, /the very last line/);
    await press(long, /Refresh/);
    await settle();
    expect(sentTo(ALICE, mark).filter((m) => !/command your bots/.test(m.text))).toEqual([]);
  });

  it('/logs of a long log shows its real last lines, read without loading the whole log', async () => {
    const bot = await createBot('Chatty');
    const run = await t.engine.startRun(bot.id, { trigger: 'manual' });
    await t.waitForRun(run.id);
    const db = t.engine.db.$client;
    const { last } = db.prepare('SELECT max(seq) AS last FROM run_logs WHERE run_id = ?').get(run.id) as { last: number };
    const extra = 100_050;
    const insert = db.prepare('INSERT INTO run_logs (run_id, seq, ts, stream, text) VALUES (?, ?, ?, ?, ?)');
    db.transaction(() => {
      for (let i = 1; i <= extra; i++) insert.run(run.id, last + i, Date.now(), 'stdout', `line ${i}`);
    })();
    const logs = await type('/logs Chatty');
    expect(logs.text).toContain(`· last 40 of ${last + extra} lines`);
    expect(logs.text.endsWith(`\nline ${extra}`)).toBe(true);
    expect(logs.text).toContain(`\nline ${extra - 39}\n`);
    expect(logs.text).not.toContain(`\nline ${extra - 40}\n`);
  });

  it('/results shows the latest results with their links', async () => {
    const bot = await createBot('Finder');
    await t.engine.results.record(bot.id, null, { title: 'Nike Air Max 90 <size 43>', url: 'https://example.com/item?id=1&x=2', content: 'Great condition, 45 €' });
    const reply = await type('/results finder');
    expect(reply.text).toContain('🤖 Finder — latest 1 result');
    expect(reply.text).toContain('Nike Air Max 90 <size 43>');
    expect(reply.html).toContain('<b><a href="https://example.com/item?id=1&amp;x=2">Nike Air Max 90 &lt;size 43&gt;</a></b>');
    await createBot('Empty');
    expect((await type('/results Empty')).text).toBe('🤖 Empty has no results yet.');
  });

  it('/status shows runs, schedule, success rate, last run and this chat’s subscription; its Pause button pauses the bot', async () => {
    const status = await type('/status Runner');
    expect(status.text).toMatch(/Runs: 1 \(1 completed\) · success rate 100%/);
    expect(status.text).toContain('Schedule: none');
    expect(status.text).toMatch(/Last run: ✓ #\d+ completed just now/);
    expect(status.text).toContain('This chat gets: only the runs started here');
    const { answer, mark } = await press(status, /Pause/);
    expect(answer.text).toBe('⏸ Paused');
    await botSays(ALICE, mark, /Paused 🤖 Runner/);
    expect((await t.engine.bots.findByName('Runner'))!.paused).toBe(true);
    await type('/resume Runner');
  });

  it('/pause and /resume', async () => {
    await createBot('Sleeper');
    expect((await type('/pause sleeper')).text).toMatch(/⏸ Paused 🤖 Sleeper: its schedule and links will not start it until \/resume Sleeper/);
    expect((await t.engine.bots.findByName('Sleeper'))!.paused).toBe(true);
    expect((await type('/pause sleeper')).text).toMatch(/already paused/);
    expect((await type('/resume SLEEPER')).text).toMatch(/▶ Resumed 🤖 Sleeper/);
    expect((await t.engine.bots.findByName('Sleeper'))!.paused).toBe(false);
  });

  it('/schedule Clock every 30m stores */30 * * * *; off clears it; nonsense is explained', async () => {
    await createBot('Clock');
    expect((await type('/schedule Clock every 30m')).text).toBe('⏰ 🤖 Clock runs every 30 minutes (*/30 * * * *).');
    expect((await t.engine.bots.findByName('Clock'))!.schedule).toBe('*/30 * * * *');
    expect((await type('/schedule Clock off')).text).toMatch(/has no schedule now/);
    expect((await type('/schedule Clock whenever')).text).toMatch(/⚠️ "whenever" is not a valid schedule/);
  });

  it('/link and /unlink chain two bots; a loop is refused', async () => {
    await createBot('Dev');
    await createBot('Tester');
    expect((await type('/link Dev completed Tester')).text).toBe('🔗 Linked: when 🤖 Dev completes, 🤖 Tester starts with its output as input.');
    expect((await type('/link Tester completed Dev')).text).toMatch(/⚠️ Linking Tester to Dev would close a loop: Tester → Dev → Tester/);
    expect((await type('/unlink Dev Tester')).text).toBe('✂️ Unlinked: Dev —completed→ Tester.');
  });

  it('/delete asks to confirm with a button; Keep keeps it, Delete deletes it', async () => {
    const bot = await createBot('Doomed');
    const ask = await type('/delete Doomed');
    expect(ask.buttons[0]!.map(([l]) => l)).toEqual(['🗑 Delete Doomed', 'Keep it']);
    await press(ask, /Keep/);
    expect((await editedTo(ask, /Kept/)).payload.text).toBe('Kept <b>🤖 Doomed</b>.');
    const again = await type('/delete Doomed');
    const { answer } = await press(again, /Delete/);
    expect(answer.text).toBe('Deleted');
    expect((await editedTo(again, /Deleted/)).payload.text).toBe('🗑 Deleted <b>🤖 Doomed</b>.');
    await expect(t.engine.bots.get(bot.id)).rejects.toThrow(/No bot/);
  });

  it('a delete that fails says so, in the toast too: never "Deleted"', async () => {
    await createBot('Sticky');
    const ask = await type('/delete Sticky');
    const refused = vi.spyOn(t.engine, 'deleteBot').mockRejectedValueOnce(new AppError('INTERNAL', 'Its docs folder could not be removed.'));
    try {
      const { answer } = await press(ask, /Delete/);
      expect(answer.text).toBe('⚠️ Its docs folder could not be removed.');
      expect((await editedTo(ask, /⚠️/)).payload.text).toBe('⚠️ Its docs folder could not be removed.');
    } finally {
      refused.mockRestore();
    }
    expect(await t.engine.bots.findByName('Sticky')).toBeDefined();
  });
});

describe('Telegram: subscriptions', () => {
  it('/subscribe <bot> gets every run here; failures or new results only; buttons change it', async () => {
    const bot = await createBot('Newsletter');
    const sub = await type('/subscribe Newsletter', { chatId: GROUP, fromId: BOB });
    expect(sub.text).toMatch(/^🔔 This chat will get every run of 🤖 Newsletter, scheduled, triggered or started anywhere\./);
    expect(await t.engine.subscriptions.find(bot.id, 'telegram', String(GROUP))).toMatchObject({ policy: 'all' });
    expect(sub.buttons[0]!.map(([l]) => l)).toEqual(['✓ Every run', 'Failures only', 'New results only']);
    await press(sub, /Failures only/, { fromId: BOB });
    await editedTo(sub, /will get the failed runs of 🤖 Newsletter/);
    expect((await t.engine.subscriptions.find(bot.id, 'telegram', String(GROUP)))!.policy).toBe('failures');
    expect((await type('/subscribe Newsletter new', { chatId: GROUP, fromId: BOB })).text).toMatch(/will get the runs that find new results of/);
    expect((await type('/subscribe newsletter new', { chatId: GROUP, fromId: BOB })).text).toMatch(/already gets the runs that find new results/);
    expect((await type('/status Newsletter', { chatId: GROUP, fromId: BOB })).text).toContain('This chat gets: new results only');
    expect((await type('/unsubscribe Newsletter', { chatId: GROUP, fromId: BOB })).text).toMatch(/🔕 This chat will no longer get the runs of 🤖 Newsletter/);
    expect(await t.engine.subscriptions.isSubscribed(bot.id, 'telegram', String(GROUP))).toBe(false);
  });

  it('"failures only" posts a failed run and not a completed one; "new results only" skips a run with nothing new', async () => {
    const ok = await createBot('Fine');
    const broken = await createBrokenBot('Flaky');
    await t.engine.subscriptions.subscribe(ok.id, 'telegram', String(BOB), { policy: 'failures' });
    await t.engine.subscriptions.subscribe(broken.id, 'telegram', String(BOB), { policy: 'failures' });
    const mark = tg.calls.length;
    const good = await t.engine.startRun(ok.id, { trigger: 'manual' });
    await t.waitForRun(good.id);
    const bad = await t.engine.startRun(broken.id, { trigger: 'manual' });
    const posted = await botSays(BOB, mark, /Flaky · run #\d+ failed/);
    expect(posted.text).toMatch(new RegExp(`✗ 🤖 Flaky · run #${bad.id} failed.* \\(from the dashboard\\)`));
    expect(posted.buttons.flat().map(([l]) => l)).toEqual(['▶ Run again', '📜 Logs']);

    await t.engine.subscriptions.subscribe(ok.id, 'telegram', String(BOB), { policy: 'new' });
    const same = await t.engine.startRun(ok.id, { trigger: 'manual' }); // echo answers the same again: nothing new
    await t.waitForRun(same.id);
    const marker = await settle(BOB, BOB);
    expect(sentTo(BOB, mark, marker.call.seq).map((m) => runIdOf(m))).toEqual([bad.id]);
  });

  it('/mute <bot> 2h keeps it quiet here; /mute <bot> off lets it speak again', async () => {
    const bot = await createBot('Chirpy');
    expect((await type('/mute Chirpy 2h', { fromId: BOB })).text).toMatch(/⚠️ This chat is not subscribed to Chirpy/);
    await t.engine.subscriptions.subscribe(bot.id, 'telegram', String(BOB));
    expect((await type('/mute Chirpy 2h', { fromId: BOB })).text).toBe('🔕 🤖 Chirpy is muted here for 2 h; runs started here still report back. Unmute with /mute Chirpy off.');
    const until = (await t.engine.subscriptions.find(bot.id, 'telegram', String(BOB)))!.mutedUntil!;
    expect(until - Date.now()).toBeGreaterThan(2 * 3600_000 - 60_000);
    expect((await type('/mute Chirpy soon', { fromId: BOB })).text).toMatch(/⚠️ "soon" is not a duration: use 30m, 2h, 1d, 1w, or off/);
    const mark = tg.calls.length;
    await t.waitForRun((await t.engine.startRun(bot.id, { trigger: 'manual' })).id);
    let marker = await settle(BOB, BOB);
    expect(sentTo(BOB, mark, marker.call.seq).filter((m) => /Chirpy · run/.test(m.text))).toEqual([]);
    expect((await type('/mute Chirpy off', { fromId: BOB })).text).toBe('🔔 🤖 Chirpy is no longer muted here.');
    const mark2 = tg.calls.length;
    const run = await t.engine.startRun(bot.id, { trigger: 'manual' });
    await botSays(BOB, mark2, new RegExp(`Chirpy · run #${run.id} completed`));
    marker = await settle(BOB, BOB);
    expect(marker).toBeDefined();
  });

  it('a subscription made in a forum topic posts there', async () => {
    const bot = await createBot('Topicbot');
    await type('/subscribe Topicbot', { chatId: FORUM, fromId: BOB, threadId: 9 });
    expect((await t.engine.subscriptions.find(bot.id, 'telegram', String(FORUM)))!.threadId).toBe('9');
    const mark = tg.calls.length;
    const run = await t.engine.startRun(bot.id, { trigger: 'schedule' });
    const posted = await botSays(FORUM, mark, /Topicbot · run #\d+ completed/);
    expect(posted.call.payload.message_thread_id).toBe(9);
    expect(posted.text).toContain(`run #${run.id} completed`);
    expect(posted.text).toMatch(/\(scheduled\)/);
  });

  it('one outcome per chat: a bot made in a DM and run in a group reports in the group only', async () => {
    const made = await type('/newbot Roamer go places', { fromId: BOB });
    expect(made.text).toMatch(/Created 🤖 Roamer/);
    const bot = (await t.engine.bots.findByName('Roamer'))!;
    expect(await t.engine.subscriptions.isSubscribed(bot.id, 'telegram', String(BOB))).toBe(true);
    const mark = tg.calls.length;
    const card = await type('/run Roamer', { chatId: GROUP, fromId: BOB });
    const runId = runIdOf(card);
    await editedTo(card, /completed/);
    await settle(BOB, BOB);
    const marker = await settle(GROUP, BOB);
    expect(sentTo(BOB, mark).filter((m) => m.text.includes(`run #${runId}`))).toEqual([]);
    expect(sentTo(GROUP, mark, marker.call.seq).filter((m) => m.text.includes(`run #${runId}`)).map((m) => m.messageId)).toEqual([card.messageId]);
    // Someone else's run of it (here: from the dashboard) still reaches the DM.
    const other = await t.engine.startRun(bot.id, { trigger: 'manual' });
    await botSays(BOB, mark, new RegExp(`Roamer · run #${other.id} completed`));
  });

  it('a chat that started a run and is subscribed to its bot sees it once: on the card', async () => {
    const scout = (await t.engine.bots.findByName('Scout'))!;
    expect(await t.engine.subscriptions.isSubscribed(scout.id, 'telegram', String(ALICE))).toBe(true);
    const mark = tg.calls.length;
    const card = await type('/run Scout once');
    const runId = runIdOf(card);
    await editedTo(card, /completed/);
    const marker = await settle();
    expect(sentTo(ALICE, mark, marker.call.seq).filter((m) => m.text.includes(`run #${runId}`))).toHaveLength(1);
  });
});

describe('Telegram: pipelines', () => {
  it('/pipelines lists them; /runpipeline posts "Started", then one live card per step, each ending as its outcome', async () => {
    expect((await type('/pipelines')).text).toMatch(/No pipelines yet/);
    const researcher = await createBot('Researcher');
    const writer = await createBot('Writer');
    await t.engine.pipelines.create({ name: 'Blog Post', steps: [researcher.id, writer.id] });
    const list = await type('/pipelines');
    expect(list.text).toMatch(/🧩 Blog Post — 🤖 Researcher → 🤖 Writer · never run/);
    expect(list.buttons).toEqual([[['▶ Blog Post', expect.stringMatching(/^runpl:\d+$/)]]]);

    const mark = tg.calls.length;
    const started = await type('/runpipeline blog post about owls');
    expect(started.text).toMatch(/^🧩 Started Blog Post · pipeline run #\d+: 🤖 Researcher → 🤖 Writer\./);
    const step1 = await botSays(ALICE, mark, /Researcher · run #\d+/);
    const step2 = await botSays(ALICE, mark, /Writer · run #\d+/);
    expect(started.call.seq).toBeLessThan(step1.call.seq);
    await editedTo(step2, /completed/);
    expect(current(step1).text).toMatch(/✓ 🤖 Researcher · run #\d+ completed.*\n🧩 Blog Post · step 1\/2/);
    expect(current(step2).text).toMatch(/🧩 Blog Post · step 2\/2/);
    expect((await t.engine.runner.get(runIdOf(step1))).input).toBe('about owls');
    expect((await t.engine.runner.get(runIdOf(step2))).input).toContain('Input: about owls');
    const marker = await settle();
    expect(sentTo(ALICE, mark, marker.call.seq).map((m) => m.messageId)).toEqual([started.messageId, step1.messageId, step2.messageId]);
    expect((await type('/runpipeline Blgo')).text).toBe('⚠️ No pipeline named "Blgo". Did you mean "Blog Post"?');
  });
});

describe('Telegram: mistakes, strangers and failures', () => {
  it('an unknown bot name gets a reply that repeats it and suggests the closest names', async () => {
    expect((await type('/run Scot now')).text).toMatch(/^⚠️ No bot named "Scot"\. Did you mean "Scout"/);
    expect((await type('/status')).text).toBe('⚠️ Which bot? Usage: /status <bot>');
    expect((await type('/frobnicate')).text).toMatch(/I don't know \/frobnicate/);
  });

  it('a command answer that fails with 5xx is retried', async () => {
    tg.failNext('sendMessage', { error_code: 502, description: 'Bad Gateway' });
    const mark = tg.calls.length;
    tg.pushMessage({ chatId: ALICE, fromId: ALICE, text: '/status Runner' });
    const answer = await botSays(ALICE, mark, /Runner — idle/);
    const failed = tg.calls.find((c) => c.seq >= mark && c.method === 'sendMessage' && c.error?.error_code === 502)!;
    expect(answer.call.seq).toBeGreaterThan(failed.seq);
    expect(log.lines.some((l) => l.msg === 'could not post a message to a chat; retrying')).toBe(true);
  });

  it('a 429 is retried after retry_after', async () => {
    tg.failNext('sendMessage', { error_code: 429, description: 'Too Many Requests: retry after 1', parameters: { retry_after: 1 } });
    const mark = tg.calls.length;
    tg.pushMessage({ chatId: ALICE, fromId: ALICE, text: '/help' });
    const failed = await tg.waitForCall('sendMessage', (_p, c) => c.seq >= mark);
    expect(failed.error?.error_code).toBe(429);
    const t0 = Date.now();
    const retried = await botSays(ALICE, mark, /command your bots/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(retried.call.seq).toBeGreaterThan(failed.seq);
  });

  it('a failed outcome delivery is logged and retried, and never fails the run', async () => {
    const bot = await createBot('Bumpy');
    await t.engine.subscriptions.subscribe(bot.id, 'telegram', String(BOB));
    tg.failNext('sendMessage', { error_code: 502, description: 'Bad Gateway' });
    const mark = tg.calls.length;
    const run = (await t.api('POST', `/api/bots/${bot.id}/run`, {})).body;
    expect((await t.waitForRun(run.id)).status).toBe('completed');
    const delivered = await botSays(BOB, mark, /Bumpy · run #\d+ completed/);
    const failed = tg.calls.find((c) => c.seq >= mark && c.method === 'sendMessage' && c.error?.error_code === 502)!;
    expect(delivered.call.seq).toBeGreaterThan(failed.seq);
  });

  it('when the button press cannot be answered (too old), its outcome is still shown', async () => {
    await createBot('Doomed Too');
    const ask = await type('/delete "Doomed Too"');
    tg.failNext('answerCallbackQuery', { error_code: 400, description: 'Bad Request: query is too old and response timeout expired or query ID is invalid' });
    const { answer } = await press(ask, /Delete/);
    expect(answer.text).toBe('Deleted');
    expect((await editedTo(ask, /Deleted/)).payload.text).toBe('🗑 Deleted <b>🤖 Doomed Too</b>.');
    expect(log.lines.some((l) => l.msg === 'could not answer a Telegram button press; posting its outcome anyway')).toBe(true);
  });

  it('a stranger gets one polite refusal, and nothing runs, changes or leaks', async () => {
    const scout = (await t.engine.bots.findByName('Scout'))!;
    const runsBefore = (await t.engine.runner.listForBot(scout.id)).length;
    const botsBefore = (await t.engine.bots.list()).length;
    const mark = tg.calls.length;
    const refusal = await type('/run Scout', { fromId: MALLORY });
    expect(refusal.text).toMatch(/^🔒 I don't know you yet. Your pairing code is [A-Z2-9]{8} \(valid 1 hour\): enter it at https:\/\/bots.example.com\/settings\/chat, or ask an admin to approve it.$/);
    tg.pushMessage({ chatId: MALLORY, fromId: MALLORY, text: '/newbot Evil do evil' });
    tg.pushMessage({ chatId: MALLORY, fromId: MALLORY, text: '/bots' });
    const { callbackQueryId } = tg.pushCallbackQuery({ chatId: GROUP, fromId: MALLORY, data: `run:${scout.id}`, messageId: 1 });
    const alert = await tg.waitForCall('answerCallbackQuery', (p) => p.callback_query_id === callbackQueryId);
    expect(alert.payload).toMatchObject({ show_alert: true, text: expect.stringMatching(/^🔒 I don't know you yet/) });
    await settle();
    expect(tg.calls.filter((c) => c.seq >= mark && c.method === 'sendMessage' && c.payload.chat_id === MALLORY)).toHaveLength(1);
    expect(tg.calls.filter((c) => c.seq >= mark && c.method === 'sendMessage' && c.payload.chat_id === GROUP)).toHaveLength(0);
    expect(await t.engine.bots.list()).toHaveLength(botsBefore);
    expect(await t.engine.runner.listForBot(scout.id)).toHaveLength(runsBefore);
  });

  it('in a group, a command addressed to another bot is left alone, even from a stranger', async () => {
    const mark = tg.calls.length;
    tg.pushMessage({ chatId: GROUP, fromId: TRENT, text: '/run@other_bot Scout' });
    tg.pushMessage({ chatId: GROUP, fromId: ALICE, text: '/bots@other_bot' });
    const marker = await type('/help@fake_test_bot', { chatId: GROUP, fromId: BOB });
    expect(sentTo(GROUP, mark).map((m) => m.messageId)).toEqual([marker.messageId]);
  });

  it('with TELEGRAM_ALLOWED_USERS empty nobody may command, and the log says so at start', async () => {
    const fake = await startFakeTelegram();
    extraFakes.push(fake);
    const own = captureLogger();
    const config: Config = { ...t.config, telegram: { token: fake.token, apiRoot: fake.apiRoot, allowedUsers: [] } };
    const locked = await startTelegram(t.engine, config, own.logger);
    extraAdapters.push(locked);
    expect(own.text()).toMatch(/TELEGRAM_ALLOWED_USERS is empty: only chat users linked by pairing may command the Telegram bot/);
    const before = (await t.engine.bots.list()).length;
    fake.pushMessage({ chatId: ALICE, fromId: ALICE, text: '/newbot Sneaky hello' });
    const reply = await fake.waitForCall('sendMessage');
    expect(String(reply.payload.text)).toMatch(/🔒 I don't know you yet/);
    expect(await t.engine.bots.list()).toHaveLength(before);
    await locked.stop();
  });

  it('a 409 Conflict (another poller with the same token) is reported clearly and not retried', async () => {
    const fake = await startFakeTelegram();
    extraFakes.push(fake);
    const own = captureLogger();
    const config: Config = { ...t.config, telegram: { ...t.config.telegram, token: fake.token, apiRoot: fake.apiRoot } };
    const second = await startTelegram(t.engine, config, own.logger);
    extraAdapters.push(second);
    await fake.waitForCall('getUpdates', (p, c) => p.timeout === 30 && c.ok === undefined);
    const other = await fetch(`${fake.apiRoot}/bot${fake.token}/getUpdates`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ timeout: 1 }) });
    expect(other.status).toBe(200);
    await expect.poll(() => own.text()).toMatch(/409 Conflict: another process is polling with this TELEGRAM_BOT_TOKEN/);
    const conflict = fake.calls.find((c) => c.method === 'getUpdates' && c.error?.error_code === 409)!;
    expect(fake.calls.filter((c) => c.method === 'getUpdates' && c.payload.timeout === 30 && c.seq > conflict.seq)).toHaveLength(0);
    await second.stop();
  });
});

describe('Telegram: swarm tasks', () => {
  it('a task started with /task in a group posts its outcome there once, when it ends', async () => {
    for (const [name, role] of [['Haiku-Planner', 'planner'], ['Haiku-Poet', 'executor'], ['Haiku-Critic', 'evaluator']] as const) {
      await t.engine.swarm.enrol({ bot: (await createBot(name)).id, role }, 'test');
    }
    const mark = tg.calls.length;
    const started = await type('/task Write a haiku\nAbout bots that work together.', { chatId: GROUP, fromId: BOB });
    const id = Number(/task #(\d+)/.exec(started.text)![1]);
    expect(started.call.payload.reply_parameters).toMatchObject({ message_id: expect.any(Number) });
    const outcome = await botSays(GROUP, mark, new RegExp(`Task #${id} Write a haiku — Completed`), 30_000);
    expect(outcome.text).toContain('✅ Verdict: pass');
    const marker = await settle(GROUP, BOB);
    expect(sentTo(GROUP, mark, marker.call.seq).filter((m) => m.text.includes(`Task #${id} `))).toHaveLength(1);
  });
});
