/**
 * Telegram chat-ops, as a person sees it: they type `/run Scout` in a chat and the bot answers.
 * The real grammY client long-polls a fake Bot API (test/fakes/telegram.ts) on 127.0.0.1; the
 * engine is the real one with the offline echo model.
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
import { startFakeTelegram, type FakeTelegram, type TelegramCall } from './fakes/telegram.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

const ALICE = 1001; // on the allow list; chats with the bot privately
const BOB = 1002; // on the allow list
const MALLORY = 6666; // a stranger
const TRENT = 7777; // another stranger (refusals are rate-limited per user)
const GROUP = -1001234567890;

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
  });
  adapter = await startTelegram(t.engine, t.config, log.logger, { retryDelaysMs: [150, 300] });
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
  messageId: number;
  call: TelegramCall;
}

function seen(call: TelegramCall): Seen {
  const kb = (call.payload.reply_markup as { inline_keyboard?: { text: string; callback_data: string }[][] } | undefined)?.inline_keyboard ?? [];
  const msg = call.result as TgMessage;
  return { text: msg.text ?? '', html: String(call.payload.text), buttons: kb.map((r) => r.map((b) => [b.text, b.callback_data])), messageId: msg.message_id, call };
}

/** Waits for the bot's next message in `chatId` after call number `mark` that matches `re`. */
async function botSays(chatId: number, mark: number, re: RegExp = /[\s\S]/, timeoutMs = 10_000): Promise<Seen> {
  const call = await tg.waitForCall('sendMessage', (p, c) => c.seq >= mark && p.chat_id === chatId && c.ok === true && re.test((c.result as TgMessage).text ?? ''), timeoutMs);
  return seen(call);
}

/** A person types `text` in a chat; resolves with the bot's first answer there. */
async function type(text: string, opts: { chatId?: number; fromId?: number } = {}): Promise<Seen> {
  const fromId = opts.fromId ?? ALICE;
  const chatId = opts.chatId ?? fromId;
  const mark = tg.calls.length;
  tg.pushMessage({ chatId, fromId, text });
  return botSays(chatId, mark);
}

/** A person presses an inline button; resolves with the callback answer and the call list mark. */
async function press(on: Seen, label: RegExp, opts: { fromId?: number } = {}) {
  const data = on.buttons.flat().find(([l]) => label.test(l))?.[1];
  if (!data) throw new Error(`no button ${label} in ${JSON.stringify(on.buttons)}`);
  const chatId = on.call.payload.chat_id as number;
  const mark = tg.calls.length;
  const { callbackQueryId } = tg.pushCallbackQuery({ chatId, fromId: opts.fromId ?? ALICE, data, messageId: on.messageId });
  const answer = await tg.waitForCall('answerCallbackQuery', (p) => p.callback_query_id === callbackQueryId);
  return { answer: answer.payload, mark, chatId };
}

const createBot = (name: string, prompt = `You are ${name}.`) => t.engine.createBot({ name, prompt });

/** A bot whose runs fail before they start: its docs folder is a file, so the run process cannot be prepared. */
function createBrokenBot(name: string) {
  const bot = createBot(name);
  fs.rmSync(bot.docsPath, { recursive: true, force: true });
  fs.writeFileSync(bot.docsPath, 'not a folder');
  return bot;
}

/** The bot's messages in `chatId` from call `from` up to (not including) call `to`. */
function sentTo(chatId: number, from: number, to = Infinity) {
  return tg.calls.filter((c) => c.seq >= from && c.seq < to && c.method === 'sendMessage' && c.payload.chat_id === chatId && c.ok === true).map(seen);
}

describe('Telegram: starting up', () => {
  it('publishes the command menu with setMyCommands and long-polls getUpdates', async () => {
    await tg.waitForCall('getUpdates');
    await tg.waitForCall('setMyCommands', (_p, c) => c.ok === true); // published alongside polling
    const menu = tg.commands.get('{"type":"default"}|') ?? [];
    expect(menu.map((c) => c.command)).toEqual([
      'bots', 'run', 'stop', 'status', 'results', 'logs', 'newbot', 'schedule', 'pause', 'resume', 'link', 'unlink', 'subscribe', 'unsubscribe', 'delete', 'approvals', 'task', 'help',
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

  it('the fake Bot API, like Telegram, refuses HTML it cannot parse', async () => {
    const api = new Api(tg.token, { apiRoot: tg.apiRoot });
    for (const html of ['Price <b>45 €</b> <tag>', '<b>open', 'a</b>', '<b><i>x</b></i>', 'a < b']) {
      const err = await api.sendMessage(ALICE, html, { parse_mode: 'HTML' }).then(() => null, (e: unknown) => e);
      expect(err, html).toBeInstanceOf(GrammyError);
      expect((err as GrammyError).description).toMatch(/^Bad Request: can't parse entities: /);
    }
    const ok = await api.sendMessage(ALICE, '<b>a &lt;b&gt;</b> <a href="https://x.test/?a=1&amp;b=2">x</a> <pre><code>y</code></pre>', { parse_mode: 'HTML' });
    expect(ok.text).toBe('a <b> x y');
  });

  it('/help lists every command with its usage', async () => {
    const help = await type('/help');
    expect(help.text).toContain('/run <bot> [input…]');
    expect(help.text).toContain('/link <bot> <completed|failed|result> <target>');
    expect(help.text).toContain('/schedule <bot> <spec…>');
    expect(help.html).toContain('<code>/delete &lt;bot&gt;</code>');
  });
});

describe('Telegram: creating and running bots', () => {
  it('/newbot Scout <prompt> creates the bot and subscribes the chat it came from', async () => {
    const reply = await type('/newbot Scout Find Nike Air Max under 50 €');
    expect(reply.text).toMatch(/Created 🤖 Scout/);
    const bot = t.engine.bots.findByName('scout')!;
    expect(bot).toMatchObject({ name: 'Scout', prompt: 'Find Nike Air Max under 50 €', model: 'echo' });
    expect(t.engine.subscriptions.isSubscribed(bot.id, 'telegram', String(ALICE))).toBe(true);
    expect(reply.buttons[0]!.map(([l]) => l)).toEqual(['▶ Run', '📜 Logs', '⏸ Pause']);
  });

  it('/newbot with no arguments asks for the name, then the prompt', async () => {
    const ask = await type('/newbot', { fromId: BOB });
    expect(ask.text).toMatch(/What should it be called/);
    expect(ask.call.payload.reply_markup).toMatchObject({ force_reply: true });
    const askPrompt = await type('Night Owl', { fromId: BOB });
    expect(askPrompt.text).toMatch(/What should Night Owl do/);
    const done = await type('Summarise the night’s news', { fromId: BOB });
    expect(done.text).toMatch(/Created 🤖 Night Owl/);
    expect(t.engine.bots.findByName('night owl')?.prompt).toBe('Summarise the night’s news');
    // Names with spaces work in later commands without quotes.
    expect((await type('/status night owl', { fromId: BOB })).text).toMatch(/Night Owl — idle/);
  });

  it('/run Scout size 43 starts a run and the outcome comes back to the same chat', async () => {
    createBot('Runner', 'Look for shoes');
    const mark = tg.calls.length;
    const started = await type('/run runner size 43');
    expect(started.text).toMatch(/▶ Started 🤖 Runner · run #(\d+)/);
    const runId = Number(/run #(\d+)/.exec(started.text)![1]);
    expect(t.engine.runner.get(runId)).toMatchObject({ input: 'size 43', trigger: `telegram:${ALICE}` });

    const outcome = await botSays(ALICE, mark, /Runner · run #\d+ completed/);
    expect(outcome.text).toMatch(new RegExp(`✅ 🤖 Runner · run #${runId} completed in [\\d.]+ (ms|s)`));
    expect(outcome.text).toContain('Prompt: Look for shoes\nInput: size 43');
    expect(outcome.html).toMatch(/<pre>Prompt: Look for shoes\nInput: size 43<\/pre>/);
    expect(outcome.buttons.flat().map(([l]) => l)).toEqual(['▶ Run again', '📜 Logs']);
  });

  it('/bots lists each bot with emoji, status and last run, with Run / Logs / Pause buttons', async () => {
    const list = await type('/bots');
    expect(list.text).toMatch(/Bots \(\d+\)/);
    expect(list.text).toMatch(/🤖 Runner — idle · last run ✅ completed just now/);
    expect(list.text).toMatch(/🤖 Night Owl — idle · never run/);
    const runner = t.engine.bots.findByName('Runner')!;
    expect(list.buttons).toContainEqual([['▶ Runner', `run:${runner.id}`], ['📜 Logs', `logs:${runner.id}`], ['⏸ Pause', `pause:${runner.id}`]]);
  });

  it('pressing ▶ on the /bots keyboard starts a run; the callback query is answered', async () => {
    const bot = createBot('Presser');
    const list = await type('/bots', { chatId: GROUP, fromId: BOB });
    const { answer, mark } = await press(list, /▶ Presser/, { fromId: BOB });
    expect(answer.text).toBe('▶ Started');
    const started = await botSays(GROUP, mark, /Started 🤖 Presser/);
    expect(started.text).toMatch(/run #\d+/);
    await botSays(GROUP, mark, /Presser · run #\d+ completed/);
    expect(t.engine.runner.listForBot(bot.id)[0]).toMatchObject({ status: 'completed', trigger: `telegram:${BOB}` });
  });

  it('/stop Scout cancels its running run', async () => {
    const bot = createBot('Stopper');
    const run = t.engine.startRun(bot.id, { trigger: 'manual' });
    const reply = await type('/stop Stopper');
    expect(reply.text).toBe(`⏹ Stopped 🤖 Stopper: run #${run.id}.`);
    expect(t.engine.runner.get(run.id).status).toBe('cancelled');
    expect((await type('/stop Stopper')).text).toBe('🤖 Stopper has no active run.');
  });

  it('/logs Scout shows the tail of the last run', async () => {
    const logs = await type('/logs Runner');
    expect(logs.text).toMatch(/🤖 Runner · run #\d+ ✅ completed/);
    expect(logs.text).toContain('echo: composing the answer');
    expect(logs.html).toMatch(/<pre>[\s\S]*\[system\] completed<\/pre>/);
    // 🔄 Refresh redraws the tail in place (here it has not changed, which Telegram refuses to edit: no error shows).
    const { answer } = await press(logs, /Refresh/);
    expect(answer.text).toBe('🔄 Refreshed');
    const edit = await tg.waitForCall('editMessageText', (p) => p.message_id === logs.messageId);
    expect(edit.error?.description).toMatch(/message is not modified/);
  });

  it('/results Scout shows the latest results with their links', async () => {
    const bot = createBot('Finder');
    t.engine.results.record(bot.id, null, { title: 'Nike Air Max 90 <size 43>', url: 'https://example.com/item?id=1&x=2', content: 'Great condition, 45 €' });
    const reply = await type('/results finder');
    expect(reply.text).toContain('🤖 Finder — latest 1 result');
    expect(reply.text).toContain('Nike Air Max 90 <size 43>');
    expect(reply.text).toContain('Great condition, 45 €');
    expect(reply.html).toContain('<b><a href="https://example.com/item?id=1&amp;x=2">Nike Air Max 90 &lt;size 43&gt;</a></b>');
    expect((await type('/results Stopper')).text).toBe('🤖 Stopper has no results yet.');
  });

  it('/status Scout shows runs, schedule, success rate and last run, and its Pause button pauses the bot', async () => {
    const status = await type('/status Runner');
    expect(status.text).toMatch(/Runs: 1 \(1 completed\) · success rate 100%/);
    expect(status.text).toContain('Schedule: none');
    expect(status.text).toMatch(/Last run: ✅ #\d+ completed just now/);
    expect(status.text).toContain('This chat gets its runs: no');
    const { answer, mark } = await press(status, /Pause/);
    expect(answer.text).toBe('⏸ Paused');
    await botSays(ALICE, mark, /Paused 🤖 Runner/);
    expect(t.engine.bots.findByName('Runner')!.paused).toBe(true);
  });

  it('/pause and /resume', async () => {
    createBot('Sleeper');
    expect((await type('/pause sleeper')).text).toMatch(/⏸ Paused 🤖 Sleeper: its schedule and links will not start it until \/resume Sleeper/);
    expect(t.engine.bots.findByName('Sleeper')!.paused).toBe(true);
    expect((await type('/pause sleeper')).text).toMatch(/already paused/);
    const resumed = await type('/resume SLEEPER');
    expect(resumed.text).toMatch(/▶ Resumed 🤖 Sleeper/);
    expect(t.engine.bots.findByName('Sleeper')!.paused).toBe(false);
  });

  it('/schedule Scout every 30m stores */30 * * * *; off clears it; nonsense is explained', async () => {
    createBot('Clock');
    expect((await type('/schedule Clock every 30m')).text).toBe('⏰ 🤖 Clock runs every 30 minutes (*/30 * * * *).');
    expect(t.engine.bots.findByName('Clock')!.schedule).toBe('*/30 * * * *');
    expect((await type('/status Clock')).text).toMatch(/Schedule: every 30 minutes \(\*\/30 \* \* \* \*\) · next run in (under a minute|\d+ min)/);
    expect((await type('/schedule Clock every 2h')).text).toContain('every 2 hours (0 */2 * * *)');
    expect((await type('/schedule Clock 0 8 * * 1-5')).text).toContain('runs 0 8 * * 1-5');
    expect((await type('/schedule Clock off')).text).toMatch(/has no schedule now/);
    expect(t.engine.bots.findByName('Clock')!.schedule).toBeNull();
    expect((await type('/schedule Clock whenever')).text).toMatch(/⚠️ "whenever" is not a valid schedule/);
  });

  it('/link and /unlink chain two bots; a loop is refused', async () => {
    createBot('Dev');
    createBot('Tester');
    expect((await type('/link Dev completed Tester')).text).toBe('🔗 Linked: when 🤖 Dev completes, 🤖 Tester starts with its output as input.');
    const dev = t.engine.bots.findByName('Dev')!;
    expect(t.engine.triggers.list({ botId: dev.id }).map((x) => x.label)).toEqual(['Dev —completed→ Tester']);
    expect((await type('/link Tester completed Dev')).text).toMatch(/⚠️ Linking Tester to Dev would close a loop: Tester → Dev → Tester/);
    expect((await type('/link Dev sometimes Tester')).text).toMatch(/When should it fire: completed, failed, result/);
    expect((await type('/status Dev')).text).toContain('Links: Dev —completed→ Tester');
    expect((await type('/unlink Dev Tester')).text).toBe('✂️ Unlinked: Dev —completed→ Tester.');
    expect(t.engine.triggers.list({ botId: dev.id })).toEqual([]);
    expect((await type('/unlink Dev failed Tester')).text).toMatch(/⚠️ Dev is not linked to Tester on failed/);
  });

  it('/subscribe and /unsubscribe', async () => {
    const bot = createBot('Newsletter');
    expect((await type('/subscribe Newsletter', { chatId: GROUP })).text).toBe('🔔 This chat will get every run of 🤖 Newsletter, scheduled or triggered.');
    expect(t.engine.subscriptions.isSubscribed(bot.id, 'telegram', String(GROUP))).toBe(true);
    expect((await type('/subscribe newsletter', { chatId: GROUP })).text).toMatch(/already gets every run/);
    expect((await type('/unsubscribe Newsletter', { chatId: GROUP })).text).toMatch(/🔕 This chat will no longer get the runs of 🤖 Newsletter/);
    expect(t.engine.subscriptions.isSubscribed(bot.id, 'telegram', String(GROUP))).toBe(false);
  });

  it('/delete Scout asks to confirm with a button; Keep keeps it, Delete deletes it', async () => {
    const bot = createBot('Doomed');
    const ask = await type('/delete Doomed');
    expect(ask.text).toMatch(/Delete 🤖 Doomed\?/);
    expect(ask.buttons[0]!.map(([l]) => l)).toEqual(['🗑 Delete Doomed', 'Keep it']);
    expect(t.engine.bots.findByName('Doomed')).toBeDefined(); // nothing happens before the press

    await press(ask, /Keep/);
    const kept = await tg.waitForCall('editMessageText', (p) => p.message_id === ask.messageId);
    expect(kept.payload.text).toBe('Kept <b>🤖 Doomed</b>.');
    expect(t.engine.bots.findByName('Doomed')).toBeDefined();

    const again = await type('/delete Doomed');
    const { answer } = await press(again, /Delete/);
    expect(answer.text).toBe('Deleted');
    const gone = await tg.waitForCall('editMessageText', (p) => p.message_id === again.messageId);
    expect(gone.payload.text).toBe('🗑 Deleted <b>🤖 Doomed</b>.');
    expect(t.engine.bots.findByName('Doomed')).toBeUndefined();
    expect(() => t.engine.bots.get(bot.id)).toThrow(/No bot/);
  });

  it('when the button press cannot be answered (too old), its outcome is still shown', async () => {
    createBot('Doomed Too');
    const ask = await type('/delete Doomed Too');
    tg.failNext('answerCallbackQuery', { error_code: 400, description: 'Bad Request: query is too old and response timeout expired or query ID is invalid' });
    const { answer } = await press(ask, /Delete/);
    expect(answer.text).toBe('Deleted');
    const gone = await tg.waitForCall('editMessageText', (p) => p.message_id === ask.messageId);
    expect(gone.payload.text).toBe('🗑 Deleted <b>🤖 Doomed Too</b>.');
    expect(t.engine.bots.findByName('Doomed Too')).toBeUndefined();
    expect(log.lines.some((l) => l.msg === 'could not answer a Telegram button press; posting its outcome anyway')).toBe(true);
  });

  it('a delete that fails says so, in the toast too: never "Deleted"', async () => {
    createBot('Sticky');
    const ask = await type('/delete Sticky');
    const refused = vi.spyOn(t.engine, 'deleteBot').mockRejectedValueOnce(new AppError('INTERNAL', 'Its docs folder could not be removed.'));
    try {
      const { answer } = await press(ask, /Delete/);
      expect(answer.text).toBe('⚠️ Its docs folder could not be removed.');
      const edit = await tg.waitForCall('editMessageText', (p) => p.message_id === ask.messageId);
      expect(edit.payload.text).toBe('⚠️ Its docs folder could not be removed.');
    } finally {
      refused.mockRestore();
    }
    expect(t.engine.bots.findByName('Sticky')).toBeDefined();
  });

  it('/logs of a long log shows its real last lines, read without loading the whole log', async () => {
    const bot = createBot('Chatty');
    const run = t.engine.startRun(bot.id, { trigger: 'manual' });
    await t.waitForRun(run.id);
    // A run that logged more than 100 000 lines.
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
});

describe('Telegram: mistakes and strangers', () => {
  it('an unknown bot name gets a reply that repeats it and suggests the closest names', async () => {
    const reply = await type('/run Scot now');
    expect(reply.text).toMatch(/^⚠️ No bot named "Scot"\. Did you mean "Scout"/);
    expect((await type('/status')).text).toBe('⚠️ Which bot? Usage: /status <bot>');
    expect((await type('/frobnicate')).text).toMatch(/I don't know \/frobnicate/);
  });

  it('a stranger gets one polite refusal, and nothing runs, changes or leaks', async () => {
    const runsBefore = t.engine.runner.listForBot(t.engine.bots.findByName('Scout')!.id).length;
    const botsBefore = t.engine.bots.list().length;
    const mark = tg.calls.length;
    const refusal = await type('/run Scout', { fromId: MALLORY });
    expect(refusal.text).toBe(`🔒 Sorry, I only take commands from people on my allow list. Your user id is ${MALLORY}; the owner can add it to TELEGRAM_ALLOWED_USERS.`);

    tg.pushMessage({ chatId: MALLORY, fromId: MALLORY, text: '/newbot Evil do evil' });
    tg.pushMessage({ chatId: MALLORY, fromId: MALLORY, text: '/bots' });
    // A button press from a stranger (say, on a message forwarded into a group) is refused as an alert.
    const scout = t.engine.bots.findByName('Scout')!;
    const { callbackQueryId } = tg.pushCallbackQuery({ chatId: GROUP, fromId: MALLORY, data: `run:${scout.id}`, messageId: 1 });
    const alert = await tg.waitForCall('answerCallbackQuery', (p) => p.callback_query_id === callbackQueryId);
    expect(alert.payload).toMatchObject({ show_alert: true, text: expect.stringMatching(/^🔒 Sorry/) });
    // Everything above has been handled once the bot answers Alice.
    await type('/help');

    const toMallory = tg.calls.filter((c) => c.seq >= mark && c.method === 'sendMessage' && c.payload.chat_id === MALLORY);
    expect(toMallory).toHaveLength(1);
    const toGroup = tg.calls.filter((c) => c.seq >= mark && c.method === 'sendMessage' && c.payload.chat_id === GROUP);
    expect(toGroup).toHaveLength(0);
    expect(t.engine.bots.list()).toHaveLength(botsBefore);
    expect(t.engine.bots.findByName('Evil')).toBeUndefined();
    expect(t.engine.runner.listForBot(scout.id)).toHaveLength(runsBefore);
    expect(log.lines.some((l) => l.msg === 'refused a user who is not on the allow list' && l.userId === String(MALLORY))).toBe(true);
  });

  it('in a group, a command addressed to another bot is left alone, even from a stranger', async () => {
    const mark = tg.calls.length;
    tg.pushMessage({ chatId: GROUP, fromId: TRENT, text: '/run@other_bot Scout' });
    tg.pushMessage({ chatId: GROUP, fromId: ALICE, text: '/bots@other_bot' });
    // Updates are handled in order: once Bob has his answer, the two above have been handled.
    const marker = await type('/help@fake_test_bot', { chatId: GROUP, fromId: BOB });
    expect(marker.text).toMatch(/command your bots/);
    expect(sentTo(GROUP, mark).map((m) => m.messageId)).toEqual([marker.messageId]);
  });

  it('with TELEGRAM_ALLOWED_USERS empty nobody may command, and the log says so at start', async () => {
    const fake = await startFakeTelegram();
    extraFakes.push(fake);
    const own = captureLogger();
    const config: Config = { ...t.config, telegram: { token: fake.token, apiRoot: fake.apiRoot, allowedUsers: [] } };
    const locked = await startTelegram(t.engine, config, own.logger);
    extraAdapters.push(locked);
    expect(own.text()).toMatch(/TELEGRAM_ALLOWED_USERS is empty: nobody may command the Telegram bot/);
    const before = t.engine.bots.list().length;
    fake.pushMessage({ chatId: ALICE, fromId: ALICE, text: '/newbot Sneaky hello' });
    const reply = await fake.waitForCall('sendMessage');
    expect(String(reply.payload.text)).toMatch(/🔒 Sorry/);
    expect(t.engine.bots.list()).toHaveLength(before);
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
    // Another process starts polling with the same token: Telegram ends our poll with 409.
    const other = await fetch(`${fake.apiRoot}/bot${fake.token}/getUpdates`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ timeout: 1 }),
    });
    expect(other.status).toBe(200);
    await expect.poll(() => own.text()).toMatch(/409 Conflict: another process is polling with this TELEGRAM_BOT_TOKEN/);
    const conflict = fake.calls.find((c) => c.method === 'getUpdates' && c.error?.error_code === 409)!;
    // Our poller did not come back after the conflict.
    expect(fake.calls.filter((c) => c.method === 'getUpdates' && c.payload.timeout === 30 && c.seq > conflict.seq)).toHaveLength(0);
    await second.stop();
  });
});

describe('Telegram: results come back to chat', () => {
  it('a run started through the REST API is delivered to the subscribed chat', async () => {
    const bot = createBot('Watched', 'Watch the shop');
    t.engine.subscriptions.subscribe(bot.id, 'telegram', String(GROUP));
    const mark = tg.calls.length;
    const run = (await t.api('POST', `/api/bots/${bot.id}/run`, { input: 'from the dashboard' })).body;
    const outcome = await botSays(GROUP, mark, /Watched · run #\d+ completed/);
    expect(outcome.text).toContain(`run #${run.id} completed`);
    expect(outcome.text).toContain('Input: from the dashboard');
    expect(outcome.text).toMatch(/🆕 1 new result/);
  });

  it('a run that fails before it even starts is still reported to the chat that started it, after "Started"', async () => {
    createBrokenBot('Broken');
    const mark = tg.calls.length;
    const started = await type('/run Broken');
    expect(started.text).toMatch(/▶ Started 🤖 Broken · run #\d+/);
    const runId = Number(/run #(\d+)/.exec(started.text)![1]);
    expect(t.engine.runner.get(runId).status).toBe('failed');
    const outcome = await botSays(ALICE, mark, /Broken · run #\d+ failed/);
    expect(outcome.text).toMatch(new RegExp(`❌ 🤖 Broken · run #${runId} failed`));
    expect(outcome.text).toContain('the run process could not be prepared');
    expect(outcome.call.seq).toBeGreaterThan(started.call.seq);
  });

  it('a chat that started a run and is subscribed to its bot gets the outcome once', async () => {
    // Scout was created from Alice's chat, which subscribed the chat to it.
    const scout = t.engine.bots.findByName('Scout')!;
    expect(t.engine.subscriptions.isSubscribed(scout.id, 'telegram', String(ALICE))).toBe(true);
    const mark = tg.calls.length;
    const started = await type('/run Scout once');
    const runId = Number(/run #(\d+)/.exec(started.text)![1]);
    await botSays(ALICE, mark, new RegExp(`Scout · run #${runId} completed`));
    // A second copy would have been sent together with the first; by the next answer it would be there.
    const marker = await type('/help');
    expect(sentTo(ALICE, mark, marker.call.seq).filter((m) => m.text.includes(`run #${runId} completed`))).toHaveLength(1);

    // The same for a run that ends inside /run, before the chat is known as its origin.
    const broken = createBrokenBot('Broken Twice');
    t.engine.subscriptions.subscribe(broken.id, 'telegram', String(ALICE));
    const mark2 = tg.calls.length;
    const started2 = await type('/run Broken Twice');
    const runId2 = Number(/run #(\d+)/.exec(started2.text)![1]);
    await botSays(ALICE, mark2, new RegExp(`Broken Twice · run #${runId2} failed`));
    const marker2 = await type('/help');
    expect(sentTo(ALICE, mark2, marker2.call.seq).filter((m) => m.text.includes(`run #${runId2} failed`))).toHaveLength(1);
  });

  it('a long output is split into messages of at most 4096 characters', async () => {
    const prompt = Array.from({ length: 120 }, (_, i) => `Line ${i}: ${'x'.repeat(60)} <tag> & more`).join('\n');
    expect(prompt.length).toBeGreaterThan(9000);
    createBot('Verbose', prompt);
    const mark = tg.calls.length;
    await type('/run Verbose');
    const last = await botSays(ALICE, mark, /… \(cut; the full output is in the dashboard\)/);
    const first = await botSays(ALICE, mark, /Verbose · run #\d+ completed/);
    const parts = tg.calls.filter((c) => c.method === 'sendMessage' && c.seq >= first.call.seq && c.seq <= last.call.seq && c.payload.chat_id === ALICE);
    expect(parts.length).toBeGreaterThanOrEqual(2);
    for (const p of parts) {
      expect(p.ok).toBe(true);
      expect(((p.result as TgMessage).text ?? '').length).toBeLessThanOrEqual(4096);
      // Each part is valid HTML on its own: every <pre> it opens, it closes.
      expect((String(p.payload.text).match(/<pre>/g) ?? []).length).toBe((String(p.payload.text).match(/<\/pre>/g) ?? []).length);
    }
    const shown = parts.map((p) => (p.result as TgMessage).text).join('\n');
    expect(shown).toContain('Line 0: ');
    expect(shown).toContain('<tag> & more');
    expect(parts.at(-1)!.payload.reply_markup).toMatchObject({ inline_keyboard: [[{ text: '▶ Run again' }, { text: '📜 Logs' }]] });
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

  it('a failed delivery is logged and retried, and never fails the run', async () => {
    const bot = createBot('Bumpy');
    t.engine.subscriptions.subscribe(bot.id, 'telegram', String(BOB));
    tg.failNext('sendMessage', { error_code: 502, description: 'Bad Gateway' });
    const mark = tg.calls.length;
    const run = (await t.api('POST', `/api/bots/${bot.id}/run`, {})).body;
    expect((await t.waitForRun(run.id)).status).toBe('completed');
    const delivered = await botSays(BOB, mark, /Bumpy · run #\d+ completed/);
    const failed = tg.calls.find((c) => c.seq >= mark && c.method === 'sendMessage' && c.error?.error_code === 502)!;
    expect(delivered.call.seq).toBeGreaterThan(failed.seq);
    expect(log.lines.some((l) => l.msg === 'could not deliver a run outcome to a chat; retrying' && l.chatId === String(BOB))).toBe(true);
  });
});
