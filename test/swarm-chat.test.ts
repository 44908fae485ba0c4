/**
 * `/task` on Telegram: a person types `/task <description>` and the swarm starts on it; `/task #N`
 * shows where it is and, once it ended, its outcome. The real grammY client long-polls the fake
 * Bot API; the engine runs the offline echo swarm.
 */
import pino from 'pino';
import type { Message as TgMessage } from 'grammy/types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatAdapter } from '../src/bot/adapter.ts';
import { startTelegram } from '../src/bot/telegram/adapter.ts';
import { startFakeTelegram, type FakeTelegram } from './fakes/telegram.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

const ALICE = 1001;

describe('/task on Telegram', () => {
  let tg: FakeTelegram;
  let t: TestApp;
  let adapter: ChatAdapter;
  beforeAll(async () => {
    tg = await startFakeTelegram();
    t = await startTestApp({ TELEGRAM_BOT_TOKEN: tg.token, TELEGRAM_API_ROOT: tg.apiRoot, TELEGRAM_ALLOWED_USERS: String(ALICE), ECHO_DELAY_MS: '5' });
    adapter = await startTelegram(t.engine, t.config, pino({ level: 'silent' }), { retryDelaysMs: [150] });
  });
  afterAll(async () => {
    await adapter?.stop();
    await t?.close();
    await tg?.close();
  });

  /** Alice types `text`; resolves with the text of the bot's answer. */
  async function type(text: string): Promise<string> {
    const mark = tg.calls.length;
    tg.pushMessage({ chatId: ALICE, fromId: ALICE, text });
    const call = await tg.waitForCall('sendMessage', (p, c) => c.seq >= mark && p.chat_id === ALICE && c.ok === true, 10_000);
    return (call.result as TgMessage).text ?? '';
  }

  it('starts a task from chat and shows its outcome', async () => {
    expect(await type('/task')).toContain('What should the swarm do? Usage: /task <input…>');
    expect(await type('/task Write a haiku')).toContain('⚠️ A task needs a planner, an executor and an evaluator among your bots (or external agents); there is no planner, no executor, no evaluator yet.');

    for (const [name, role] of [['Poet-Planner', 'planner'], ['Poet', 'executor'], ['Critic', 'evaluator']] as const) {
      const bot = await t.engine.createBot({ name, prompt: name });
      await t.engine.swarm.enrol({ bot: bot.id, role }, 'test');
    }
    const started = await type('/task Write a haiku\nAbout bots that work together.');
    const id = Number(/task #(\d+)/.exec(started)?.[1]);
    expect(started).toBe(`📋 Started task #${id} Write a haiku.\nThe planner splits it, executors do the parts, the evaluator judges them. Send /task #${id} to see where it is.`);
    const task = (await t.api('GET', `/api/tasks/${id}`)).body;
    expect(task).toMatchObject({ title: 'Write a haiku', description: 'Write a haiku\nAbout bots that work together.', created_by: `telegram:${ALICE}`, origin_chat: `telegram:${ALICE}` });

    await expect.poll(async () => (await t.api('GET', `/api/tasks/${id}`)).body.status, { timeout: 20_000 }).toBe('COMPLETED');
    // The chat it came from gets the outcome by itself, once it ended.
    const told = await tg.waitForCall('sendMessage', (p, c) => p.chat_id === ALICE && c.ok === true && ((c.result as TgMessage).text ?? '').startsWith(`✅ Task #${id} Write a haiku — Completed`), 10_000);
    expect((told.result as TgMessage).text).toContain('✅ Verdict: pass');
    const shown = await type(`/task #${id}`);
    expect(shown).toContain(`✅ Task #${id} Write a haiku — Completed`);
    expect(shown).toContain('• s1 Part 1 of 2 of "Write a haiku": work out the first half. — completed · Poet');
    expect(shown).toContain('✅ Verdict: pass — echo: every sub-task returned an output');
    expect(shown).toContain('## s2 — Part 2 of 2');
    expect(await type('/task #999')).toContain('⚠️ No task with id 999.');
  });
});
