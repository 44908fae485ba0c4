/**
 * Approvals on Telegram, as a person sees it: the draft of a bot that requires approval arrives
 * with ✅ Approve / 🚫 Reject buttons; a press by an allowed user decides it, a press by a
 * stranger changes nothing. The real grammY client long-polls the fake Bot API
 * (test/fakes/telegram.ts); the engine is the real one with the offline echo model.
 */
import pino from 'pino';
import type { Message as TgMessage } from 'grammy/types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatAdapter } from '../src/bot/adapter.ts';
import { startTelegram } from '../src/bot/telegram/adapter.ts';
import { startFakeTelegram, type FakeTelegram, type TelegramCall } from './fakes/telegram.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

const ALICE = 1001; // on the allow list
const MALLORY = 6666; // a stranger
const GROUP = -1009876543210;

let tg: FakeTelegram;
let t: TestApp;
let adapter: ChatAdapter;

beforeAll(async () => {
  tg = await startFakeTelegram();
  t = await startTestApp({ TELEGRAM_BOT_TOKEN: tg.token, TELEGRAM_API_ROOT: tg.apiRoot, TELEGRAM_ALLOWED_USERS: String(ALICE), ECHO_DELAY_MS: '5' });
  adapter = await startTelegram(t.engine, t.config, pino({ level: 'silent' }), { retryDelaysMs: [100] });
  await tg.waitForCall('getUpdates');
});

afterAll(async () => {
  await adapter?.stop();
  await t?.close();
  await tg?.close();
});

interface Seen {
  text: string;
  buttons: [string, string][][];
  messageId: number;
  chatId: number;
}

function seen(call: TelegramCall): Seen {
  const kb = (call.payload.reply_markup as { inline_keyboard?: { text: string; callback_data: string }[][] } | undefined)?.inline_keyboard ?? [];
  const msg = call.result as TgMessage;
  return { text: msg.text ?? '', buttons: kb.map((r) => r.map((b) => [b.text, b.callback_data])), messageId: msg.message_id, chatId: call.payload.chat_id as number };
}

/** The bot's next message in `chatId` after call `mark` whose text matches `re`. */
async function botSays(chatId: number, mark: number, re: RegExp): Promise<Seen> {
  const call = await tg.waitForCall('sendMessage', (p, c) => c.seq >= mark && p.chat_id === chatId && c.ok === true && re.test((c.result as TgMessage).text ?? ''), 15_000);
  return seen(call);
}

/** The text of the next edit (after call `mark`) of run `runId`'s card in `chatId` that matches `re`. */
async function cardSays(chatId: number, mark: number, runId: number, re: RegExp): Promise<string> {
  const call = await tg.waitForCall('editMessageText', (p, c) => c.seq >= mark && p.chat_id === chatId && String(p.text).includes(`run #${runId}`) && re.test(String(p.text)), 15_000);
  return String(call.payload.text);
}

/** `fromId` presses the button labelled `label` on `on`; resolves with the callback answer's payload. */
async function press(on: Seen, label: RegExp, fromId: number) {
  const data = on.buttons.flat().find(([l]) => label.test(l))?.[1];
  if (!data) throw new Error(`no button ${label} in ${JSON.stringify(on.buttons)}`);
  const mark = tg.calls.length;
  const { callbackQueryId } = tg.pushCallbackQuery({ chatId: on.chatId, fromId, data, messageId: on.messageId });
  const answer = await tg.waitForCall('answerCallbackQuery', (p) => p.callback_query_id === callbackQueryId);
  return { answer: answer.payload, mark };
}

describe('Telegram: approving drafts with buttons', () => {
  it('the draft arrives with Approve / Reject; a stranger’s press changes nothing; Alice’s press approves it', async () => {
    const bot = await t.engine.createBot({ name: 'Support', emoji: '📨', prompt: 'Answer the customer.', requires_approval: true });
    // The group follows the bot, so the draft is posted there too, where a stranger may see it.
    await t.engine.subscriptions.subscribe(bot.id, 'telegram', String(GROUP));
    const mark = tg.calls.length;
    tg.pushMessage({ chatId: ALICE, fromId: ALICE, text: '/run Support Where is my parcel?' });
    const draft = await botSays(ALICE, mark, /waits for your approval/);
    expect(draft.text).toContain('📨 Support · run #');
    expect(draft.text).toContain('Prompt: Answer the customer.\nInput: Where is my parcel?');
    expect(draft.buttons).toEqual([[['✅ Approve', expect.stringMatching(/^approve:\d+$/)], ['🚫 Reject', expect.stringMatching(/^reject:\d+$/)]]]);
    const inGroup = await botSays(GROUP, mark, /waits for your approval/);
    const runId = Number(/run #(\d+)/.exec(draft.text)![1]);
    expect((await t.engine.runner.get(runId)).status).toBe('awaiting_approval');

    // A stranger presses Approve in the group: refused, and nothing changes.
    const stranger = await press(inGroup, /Approve/, MALLORY);
    expect(stranger.answer).toMatchObject({ show_alert: true, text: expect.stringContaining("I don't know you yet. Write to me in a private chat") });
    await t.engine.bus.flush();
    expect((await t.engine.runner.get(runId)).status).toBe('awaiting_approval');
    expect(await t.engine.approvals.byRun(runId)).toMatchObject({ status: 'pending', decidedBy: null });
    expect(await t.engine.results.list(bot.id)).toEqual([]);

    // Alice presses Approve: the draft is approved as written, the message says so, the run completes.
    const alice = await press(draft, /Approve/, ALICE);
    expect(alice.answer).toMatchObject({ text: '✅ Approved' });
    const edit = await tg.waitForCall('editMessageText', (p, c) => c.seq >= alice.mark && p.chat_id === ALICE && p.message_id === draft.messageId);
    expect(String(edit.payload.text)).toContain(`Approved by telegram:${ALICE}`);
    expect(edit.payload.reply_markup).toBeUndefined(); // the buttons are gone
    expect(await t.engine.runner.get(runId)).toMatchObject({ status: 'completed', output: 'Prompt: Answer the customer.\nInput: Where is my parcel?' });
    expect(await t.engine.approvals.byRun(runId)).toMatchObject({ status: 'approved', decidedBy: `telegram:${ALICE}`, edited: false });
    expect((await t.engine.results.list(bot.id)).map((r) => r.content)).toEqual(['Prompt: Answer the customer.\nInput: Where is my parcel?']);
    // Then the run's card in Alice's chat becomes its outcome, as for any run started from a chat.
    const outcome = await cardSays(ALICE, alice.mark, runId, /completed/i);
    expect(outcome).toContain('Prompt: Answer the customer.');

    // Pressing again (say, in the group) says it was decided already and changes nothing.
    const late = await press(inGroup, /Reject/, ALICE);
    expect(String(late.answer.text)).toContain('already decided: approved');
    expect((await t.engine.runner.get(runId)).status).toBe('completed');
  });

  it('Reject ends the run `rejected`; /approvals lists what waits', async () => {
    const bot = (await t.engine.bots.findByName('Support'))!;
    const mark = tg.calls.length;
    tg.pushMessage({ chatId: ALICE, fromId: ALICE, text: '/run Support Cancel my account' });
    const draft = await botSays(ALICE, mark, /waits for your approval/);
    const runId = Number(/run #(\d+)/.exec(draft.text)![1]);

    const m2 = tg.calls.length;
    tg.pushMessage({ chatId: ALICE, fromId: ALICE, text: '/approvals' });
    const list = await botSays(ALICE, m2, /wait/);
    expect(list.text).toMatch(/^⏸ 1 draft waits for your approval:/);
    expect(list.buttons.flat().map(([l]) => l)).toEqual([expect.stringMatching(/^✅ Approve #\d+$/), expect.stringMatching(/^🚫 Reject #\d+$/)]);

    const pressed = await press(draft, /Reject/, ALICE);
    expect(pressed.answer).toMatchObject({ text: '🚫 Rejected' });
    expect(await t.engine.runner.get(runId)).toMatchObject({ status: 'rejected', error: `rejected by telegram:${ALICE}: rejected from Telegram` });
    expect(await t.engine.results.list(bot.id)).toHaveLength(1);
    const outcome = await cardSays(ALICE, pressed.mark, runId, /rejected/i);
    expect(outcome).toContain(`rejected by telegram:${ALICE}`);
  });
});
