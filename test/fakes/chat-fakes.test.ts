/**
 * Proves the chat fakes speak the wire protocols well enough for the REAL libraries:
 * grammY (+ @grammyjs/auto-retry) against the fake Telegram Bot API, and discord.js 14 against
 * the fake Discord REST + Gateway. Everything runs on 127.0.0.1.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Bot, GrammyError, InlineKeyboard, InputFile, webhookCallback } from 'grammy';
import { autoRetry } from '@grammyjs/auto-retry';
import {
  ActionRowBuilder,
  ButtonBuilder,
  ButtonStyle,
  Client,
  Events,
  GatewayIntentBits,
  type Interaction,
  type TextChannel,
} from 'discord.js';
import { startFakeTelegram, type FakeTelegram, type UploadedFile } from './telegram.ts';
import { startFakeDiscord, type FakeDiscord, type FakeDiscordOptions } from './discord.ts';

/** Cleanups registered by a test, run in reverse order after it (even when it fails). */
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

// -------------------------------------------------------------------------------------------------
// Telegram
// -------------------------------------------------------------------------------------------------

async function telegram(): Promise<FakeTelegram> {
  const fake = await startFakeTelegram();
  cleanups.push(() => fake.close());
  return fake;
}

/** Start long polling and resolve once polling has begun; registers bot.stop() as cleanup. */
async function startBot(bot: Bot): Promise<void> {
  let running: Promise<void> = Promise.resolve();
  await new Promise<void>((resolve, reject) => {
    running = bot.start({ onStart: () => resolve() });
    running.catch(reject);
  });
  cleanups.push(async () => {
    if (bot.isRunning()) await bot.stop();
    await running.catch(() => undefined);
  });
}

/** Raw Bot API call, for checking protocol details without grammY in between. */
async function rawCall(fake: FakeTelegram, method: string, payload: Record<string, unknown>) {
  const res = await fetch(`${fake.apiRoot}/bot${fake.token}/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(payload),
  });
  return { status: res.status, json: (await res.json()) as { ok: boolean; result?: any; error_code?: number; description?: string } };
}

describe('fake Telegram + grammY', () => {
  it('long-polls, receives a pushed /start and records the ctx.reply sendMessage', async () => {
    const fake = await telegram();
    const bot = new Bot(fake.token, { client: { apiRoot: fake.apiRoot } });
    bot.command('start', (ctx) => ctx.reply(`Hello ${ctx.from?.username}, payload=${ctx.match || '-'}`));
    await startBot(bot);

    expect(bot.botInfo.id).toBe(fake.botInfo.id);
    const poll = await fake.waitForCall('getUpdates');
    expect(poll.payload).toMatchObject({ timeout: 30, offset: 1 }); // grammY starts at offset 1

    const updateId = fake.pushMessage({ chatId: 4242, fromId: 4242, text: '/start deep', username: 'alice' });
    const sent = await fake.waitForCall('sendMessage');
    expect(sent.payload).toMatchObject({ chat_id: 4242, text: 'Hello alice, payload=deep' });
    expect(sent.ok).toBe(true);
    expect(sent.result).toMatchObject({ chat: { id: 4242, type: 'private' }, from: { is_bot: true }, text: 'Hello alice, payload=deep' });
    // message_id continues the chat's sequence after the user's message
    expect((sent.result as { message_id: number }).message_id).toBe(2);

    // The next poll confirms the update with offset = update_id + 1.
    await fake.waitForCall('getUpdates', (p) => p.offset === updateId + 1);
    expect(fake.calls.map((c) => c.method).slice(0, 2)).toEqual(['getMe', 'deleteWebhook']);
  });

  it('takes a document as a multipart upload (sendDocument with an InputFile), in a forum topic, as a reply', async () => {
    const fake = await telegram();
    const bot = new Bot(fake.token, { client: { apiRoot: fake.apiRoot } });
    await bot.init();
    fake.pushMessage({ chatId: -1005, fromId: 9, text: 'hello', threadId: 3 });
    const text = 'ünïcode ✓\n'.repeat(700);
    const sent = await bot.api.sendDocument(-1005, new InputFile(Buffer.from(text, 'utf8'), 'out.txt'), {
      caption: 'the <b>output</b>',
      parse_mode: 'HTML',
      message_thread_id: 3,
      reply_parameters: { message_id: 1 },
    });
    expect(sent).toMatchObject({ message_thread_id: 3, is_topic_message: true, caption: 'the output', document: { file_name: 'out.txt', file_size: Buffer.byteLength(text) }, reply_to_message: { text: 'hello' } });
    const call = fake.calls.find((c) => c.method === 'sendDocument')!;
    expect((call.payload.document as UploadedFile).text).toBe(text);
    // Unknown topics and missing replies fail like on Telegram.
    await expect(bot.api.sendMessage(-1005, 'x', { message_thread_id: 4 })).rejects.toThrow(/message thread not found/);
    await expect(bot.api.sendMessage(-1005, 'x', { reply_parameters: { message_id: 99 } })).rejects.toThrow(/message to be replied not found/);
    await expect(bot.api.sendMessage(-1005, 'x', { reply_parameters: { message_id: 99, allow_sending_without_reply: true } })).resolves.toMatchObject({ text: 'x' });
  });

  it('posts updates to a webhook set with setWebhook, with its secret token; getUpdates then conflicts', async () => {
    const fake = await telegram();
    const bot = new Bot(fake.token, { client: { apiRoot: fake.apiRoot } });
    bot.on('message:text', (ctx) => ctx.reply(`hook: ${ctx.message.text}`));
    const handle = webhookCallback(bot, 'http', { secretToken: 's3cret_token' });
    const server = http.createServer((req, res) => void handle(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => server.close(r)));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    await expect(bot.api.setWebhook(url, { secret_token: 'bad token!' })).rejects.toThrow(/secret token contains unallowed characters/);
    await bot.api.setWebhook(url, { secret_token: 's3cret_token' });
    expect(fake.webhook).toEqual({ url, secretToken: 's3cret_token' });
    const updateId = fake.pushMessage({ chatId: 5, fromId: 5, text: 'ping' });
    expect(await fake.waitForWebhookDelivery(updateId)).toMatchObject({ status: 200, secretToken: 's3cret_token' });
    expect((await fake.waitForCall('sendMessage')).payload).toMatchObject({ chat_id: 5, text: 'hook: ping' });
    // A wrong secret is refused by grammY's check.
    expect(await fake.postToWebhook({ update_id: 1, message: { message_id: 1, date: 0, chat: { id: 5, type: 'private', first_name: 'x' }, text: 'x' } } as never, 'wrong')).toBe(401);
    const poll = await fetch(`${fake.apiRoot}/bot${fake.token}/getUpdates`).then((r) => r.json());
    expect(poll).toMatchObject({ ok: false, error_code: 409 });
    expect((await bot.api.getWebhookInfo()).url).toBe(url);
  });

  it('a 429 on sendMessage is retried by @grammyjs/auto-retry after retry_after', async () => {
    const fake = await telegram();
    const bot = new Bot(fake.token, { client: { apiRoot: fake.apiRoot } });
    bot.api.config.use(autoRetry());
    bot.on('message:text', (ctx) => ctx.reply(`echo: ${ctx.message.text}`));
    await startBot(bot);

    fake.failNext('sendMessage', {
      error_code: 429,
      description: 'Too Many Requests: retry after 1',
      parameters: { retry_after: 1 },
    });
    fake.pushMessage({ chatId: 7, fromId: 7, text: 'ping' });

    const failed = await fake.waitForCall('sendMessage');
    expect(failed.ok).toBe(false);
    expect(failed.error).toMatchObject({ error_code: 429, parameters: { retry_after: 1 } });
    const t0 = Date.now();
    const retried = await fake.waitForCall('sendMessage', (_p, c) => c.ok === true, 5000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(retried.payload).toMatchObject({ chat_id: 7, text: 'echo: ping' });
    expect(fake.calls.filter((c) => c.method === 'sendMessage')).toHaveLength(2);
  });

  it('handles inline buttons: callback query, answerCallbackQuery and editMessageText', async () => {
    const fake = await telegram();
    const bot = new Bot(fake.token, { client: { apiRoot: fake.apiRoot } });
    bot.command('menu', (ctx) => ctx.reply('Pick one', { reply_markup: new InlineKeyboard().text('Run', 'run:1') }));
    bot.callbackQuery(/^run:(\d+)$/, async (ctx) => {
      await ctx.answerCallbackQuery({ text: 'Started' });
      await ctx.editMessageText(`Running ${ctx.match[1]}`);
    });
    await startBot(bot);

    fake.pushMessage({ chatId: -1001234567890, fromId: 99, text: '/menu@fake_test_bot' });
    const menu = await fake.waitForCall('sendMessage');
    const menuMsg = menu.result as { message_id: number; chat: { type: string }; reply_markup: unknown };
    expect(menuMsg.chat.type).toBe('supergroup');
    expect(menuMsg.reply_markup).toEqual({ inline_keyboard: [[{ text: 'Run', callback_data: 'run:1' }]] });

    const { callbackQueryId } = fake.pushCallbackQuery({ chatId: -1001234567890, fromId: 99, data: 'run:1', messageId: menuMsg.message_id });
    const answer = await fake.waitForCall('answerCallbackQuery');
    expect(answer.payload).toMatchObject({ callback_query_id: callbackQueryId, text: 'Started' });
    const edit = await fake.waitForCall('editMessageText');
    expect(edit.ok).toBe(true);
    expect(edit.payload).toMatchObject({ chat_id: -1001234567890, message_id: menuMsg.message_id, text: 'Running 1' });
    // Editing without reply_markup removed the keyboard, like Telegram does.
    expect(fake.messages.get(`-1001234567890:${menuMsg.message_id}`)).not.toHaveProperty('reply_markup');

    // Realistic errors for the other methods.
    await expect(bot.api.answerCallbackQuery(callbackQueryId)).rejects.toThrow(/query is too old/);
    await expect(bot.api.editMessageText(-1001234567890, menuMsg.message_id, 'Running 1')).rejects.toThrow(/message is not modified/);
    await expect(bot.api.deleteMessage(-1001234567890, 999)).rejects.toThrow(/message to delete not found/);
    await expect(bot.api.sendMessage(1, 'x'.repeat(4097))).rejects.toThrow(/message is too long/);
    await expect(bot.api.sendChatAction(1, 'typing')).resolves.toBe(true);
    await expect(bot.api.editMessageReplyMarkup(-1001234567890, menuMsg.message_id, { reply_markup: new InlineKeyboard().text('Again', 'run:2') })).resolves.toMatchObject({
      reply_markup: { inline_keyboard: [[{ text: 'Again', callback_data: 'run:2' }]] },
    });
    await expect(bot.api.deleteMessage(-1001234567890, menuMsg.message_id)).resolves.toBe(true);
  });

  it('stores commands per scope and rejects a wrong token', async () => {
    const fake = await telegram();
    const bot = new Bot(fake.token, { client: { apiRoot: fake.apiRoot } });
    await bot.api.setMyCommands([{ command: 'start', description: 'Start' }, { command: 'run', description: 'Run a bot' }]);
    await bot.api.setMyCommands([{ command: 'admin', description: 'Admin' }], { scope: { type: 'all_group_chats' } });
    expect(await bot.api.getMyCommands()).toEqual([{ command: 'start', description: 'Start' }, { command: 'run', description: 'Run a bot' }]);
    expect(await bot.api.getMyCommands({ scope: { type: 'all_group_chats' } })).toEqual([{ command: 'admin', description: 'Admin' }]);
    await expect(bot.api.setMyCommands([{ command: 'Bad Name', description: 'x' }])).rejects.toThrow(/BOT_COMMAND_INVALID/);

    const stranger = new Bot('1:wrong', { client: { apiRoot: fake.apiRoot } });
    const err = await stranger.api.getMe().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GrammyError);
    expect((err as GrammyError).error_code).toBe(401);
  });

  it('a second polling bot instance makes the first one fail with 409 Conflict', async () => {
    const fake = await telegram();
    const first = new Bot(fake.token, { client: { apiRoot: fake.apiRoot } });
    let firstRunning: Promise<void> = Promise.resolve();
    await new Promise<void>((resolve) => {
      firstRunning = first.start({ onStart: () => resolve() });
    });
    const firstOutcome = firstRunning.then(() => 'stopped', (e: unknown) => e);
    await fake.waitForCall('getUpdates', (_p, c) => c.ok === undefined);

    const second = new Bot(fake.token, { client: { apiRoot: fake.apiRoot } });
    await startBot(second);
    const err = await firstOutcome;
    expect(err).toBeInstanceOf(GrammyError);
    expect((err as GrammyError).error_code).toBe(409);
    expect((err as GrammyError).description).toMatch(/terminated by other getUpdates request/);
  });

  it('implements getUpdates long polling: waits, times out, confirms by offset, 409 on a newer poll', async () => {
    const fake = await telegram();

    // Times out with [] after `timeout` seconds.
    const t0 = Date.now();
    expect((await rawCall(fake, 'getUpdates', { timeout: 1 })).json).toEqual({ ok: true, result: [] });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);

    // Answered as soon as an update is pushed.
    const waiting = rawCall(fake, 'getUpdates', { timeout: 10 });
    await fake.waitForCall('getUpdates', (_p, c) => c.seq === 1);
    const id = fake.pushMessage({ chatId: 5, fromId: 5, text: 'hi' });
    const got = await waiting;
    expect(got.json.result).toHaveLength(1);
    expect(got.json.result[0]).toMatchObject({ update_id: id, message: { text: 'hi', chat: { id: 5 } } });
    expect(got.json.result[0].message).not.toHaveProperty('entities');

    // Not confirmed yet: offset 0 returns it again; offset id+1 confirms it.
    expect((await rawCall(fake, 'getUpdates', {})).json.result).toHaveLength(1);
    expect((await rawCall(fake, 'getUpdates', { offset: id + 1 })).json.result).toEqual([]);

    // A newer getUpdates terminates the pending one with 409, like Telegram.
    const first = rawCall(fake, 'getUpdates', { offset: id + 1, timeout: 10 });
    const mark = fake.calls.length;
    await fake.waitForCall('getUpdates', (_p, c) => c.seq >= mark - 1 && c.ok === undefined);
    const second = rawCall(fake, 'getUpdates', { offset: id + 1, timeout: 0 });
    const [a, b] = await Promise.all([first, second]);
    expect(a.status).toBe(409);
    expect(a.json).toEqual({
      ok: false,
      error_code: 409,
      description: 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running',
    });
    expect(b.json).toEqual({ ok: true, result: [] });

    // allowed_updates filters what is stored from then on.
    await rawCall(fake, 'getUpdates', { offset: id + 1, allowed_updates: ['callback_query'] });
    fake.pushMessage({ chatId: 5, fromId: 5, text: 'ignored' });
    expect((await rawCall(fake, 'getUpdates', { offset: id + 1 })).json.result).toEqual([]);

    // Form-encoded bodies work too.
    const form = await fetch(`${fake.apiRoot}/bot${fake.token}/sendMessage`, {
      method: 'POST',
      body: new URLSearchParams({ chat_id: '5', text: '<b>bold</b> &amp; more', parse_mode: 'HTML' }),
    });
    expect(((await form.json()) as { result: { text: string } }).result.text).toBe('bold & more');
    expect(fake.calls.at(-1)!.payload).toMatchObject({ chat_id: 5 });
  });
});

// -------------------------------------------------------------------------------------------------
// Discord
// -------------------------------------------------------------------------------------------------

/** A fake plus a logged-in, ready discord.js Client; both torn down after the test. */
async function discord(opts: FakeDiscordOptions = {}): Promise<{ fake: FakeDiscord; client: Client }> {
  const fake = await startFakeDiscord(opts);
  cleanups.push(() => fake.close());
  const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: fake.apiBase } });
  cleanups.push(() => client.destroy());
  const ready = once(client, Events.ClientReady);
  await client.login('fake-token.abc.def');
  await ready;
  return { fake, client };
}

/** Run `handler` for the next interaction and surface its errors to the test. */
function handleNext(client: Client, handler: (i: Interaction) => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    client.once(Events.InteractionCreate, (i) => handler(i).then(resolve, reject));
  });
}

describe('fake Discord + discord.js', () => {
  it('logs in over REST + gateway, becomes ready and gets heartbeats acknowledged', async () => {
    const { fake, client } = await discord({ applicationId: '900000000000000001', botUserId: '900000000000000002', heartbeatIntervalMs: 50 });
    expect(client.user?.id).toBe('900000000000000002');
    expect(client.user?.bot).toBe(true);
    expect(client.application?.id).toBe('900000000000000001');
    expect(fake.calls[0]).toMatchObject({ method: 'GET', path: '/gateway/bot', authorization: 'Bot fake-token.abc.def' });
    const identify = fake.gatewayReceived.find((p) => p.op === 2);
    expect(identify?.d).toMatchObject({ token: 'fake-token.abc.def', intents: GatewayIntentBits.Guilds, shard: [0, 1] });
    // Heartbeats are ACKed (else discord.js would drop the connection as a zombie and resume).
    const deadline = Date.now() + 3000;
    while (fake.gatewayReceived.filter((p) => p.op === 1).length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(fake.gatewayReceived.filter((p) => p.op === 1).length).toBeGreaterThanOrEqual(3);
    expect(fake.gatewayReceived.some((p) => p.op === 6)).toBe(false);
    expect(client.ws.ping).toBeGreaterThanOrEqual(0);
  });

  it('answers a slash command with deferReply + editReply and records both', async () => {
    const { fake, client } = await discord({ guild: { id: '800000000000000001', channelIds: ['800000000000000010'] } });
    expect(client.guilds.cache.get('800000000000000001')?.channels.cache.has('800000000000000010')).toBe(true);

    await client.application!.commands.set(
      [{ name: 'run', description: 'Run a bot', options: [{ name: 'bot', description: 'Which', type: 3, required: true, autocomplete: true }, { name: 'count', description: 'How many', type: 4 }] }],
      '800000000000000001',
    );
    const registered = fake.registeredCommands.guilds['800000000000000001'];
    expect(registered?.map((c) => c.name)).toEqual(['run']);

    let seen: { name: string; bot: string | null; count: number | null; guildId: string | null } | undefined;
    const handled = handleNext(client, async (i) => {
      if (!i.isChatInputCommand()) throw new Error(`unexpected ${i.type}`);
      seen = { name: i.commandName, bot: i.options.getString('bot'), count: i.options.getInteger('count'), guildId: i.guildId };
      await i.deferReply();
      await i.editReply('done');
    });
    const ref = fake.slashCommand({ name: 'run', options: { bot: 'summariser', count: 3 }, userId: '700000000000000001', channelId: '800000000000000010' });
    await handled;

    expect(seen).toEqual({ name: 'run', bot: 'summariser', count: 3, guildId: '800000000000000001' });
    const deferred = await fake.waitForCall((c) => c.path === `/interactions/${ref.id}/${ref.token}/callback`);
    expect(deferred).toMatchObject({ method: 'POST', status: 204, body: { type: 5 } });
    expect(deferred.authorization).toBeUndefined();
    const edited = await fake.waitForCall((c) => c.method === 'PATCH' && c.path === `/webhooks/${fake.applicationId}/${ref.token}/messages/@original`);
    expect(edited.body).toMatchObject({ content: 'done' });
    expect(edited.response).toMatchObject({ content: 'done', channel_id: '800000000000000010', flags: 0, type: 20 });
    expect(fake.interactions.get(ref.id)?.responseType).toBe(5);
  });

  it('reply, followUp and withResponse work in DMs too', async () => {
    const { fake, client } = await discord();
    const handled = handleNext(client, async (i) => {
      if (!i.isChatInputCommand()) throw new Error('expected a command');
      const res = await i.reply({ content: 'first', withResponse: true });
      expect(res.resource?.message?.content).toBe('first');
      const follow = await i.followUp({ content: 'second', flags: 64 });
      expect(follow.content).toBe('second');
      await expect(i.reply('again')).rejects.toThrow();
    });
    const ref = fake.slashCommand({ name: 'status', userId: '700000000000000002', channelId: '600000000000000001' });
    await handled;
    const cb = await fake.waitForCall((c) => c.path.endsWith('/callback'));
    expect(cb).toMatchObject({ status: 200, query: { with_response: 'true' }, body: { type: 4, data: { content: 'first' } } });
    const follow = await fake.waitForCall((c) => c.method === 'POST' && c.path === `/webhooks/${fake.applicationId}/${ref.token}`);
    expect(follow).toMatchObject({ query: { wait: 'true' }, body: { content: 'second', flags: 64 }, status: 200 });
    expect(fake.channels.get('600000000000000001')).toMatchObject({ type: 1 });
  });

  it('takes attachments as multipart uploads and keeps each answer’s flags (ephemeral: 64)', async () => {
    const { fake, client } = await discord();
    const text = 'long output ✓\n'.repeat(500);
    const handled = handleNext(client, async (i) => {
      if (!i.isChatInputCommand()) throw new Error('expected a command');
      await i.reply({ content: 'summary', files: [{ attachment: Buffer.from(text, 'utf8'), name: 'run-1.txt' }] });
      await i.followUp({ content: 'only you', flags: 64 });
      await i.editReply({ content: 'summary, edited' });
    });
    const ref = fake.slashCommand({ name: 'run', userId: '700000000000000003', channelId: '600000000000000002' });
    await handled;
    const cb = await fake.waitForCall((c) => c.path === `/interactions/${ref.id}/${ref.token}/callback`);
    expect(cb.files).toEqual([expect.objectContaining({ filename: 'run-1.txt', size: Buffer.byteLength(text), text })]);
    const answers = fake.answersTo(ref);
    expect(answers.map((m) => [m.content, m.flags])).toEqual([['summary, edited', 0], ['only you', 64]]);
    expect(answers[0]!.attachments).toEqual([expect.objectContaining({ filename: 'run-1.txt', size: Buffer.byteLength(text) })]);
  });

  it('answers autocomplete with interaction.respond()', async () => {
    const { fake, client } = await discord();
    let focused: { name: string; value: string } | undefined;
    const handled = handleNext(client, async (i) => {
      if (!i.isAutocomplete()) throw new Error('expected autocomplete');
      focused = i.options.getFocused(true);
      await i.respond([
        { name: 'Summariser', value: 'summariser' },
        { name: 'Sum checker', value: 'sum-checker' },
      ]);
    });
    const ref = fake.autocomplete({ name: 'run', focusedOption: 'bot', value: 'sum', userId: '700000000000000003' });
    await handled;
    expect(focused).toMatchObject({ name: 'bot', value: 'sum' });
    const cb = await fake.waitForCall((c) => c.path === `/interactions/${ref.id}/${ref.token}/callback`);
    expect(cb.body).toEqual({
      type: 8,
      data: { choices: [{ name: 'Summariser', value: 'summariser' }, { name: 'Sum checker', value: 'sum-checker' }] },
    });
    expect(fake.interactions.get(ref.id)?.autocompleteChoices).toHaveLength(2);
  });

  it('answers a button press with interaction.update()', async () => {
    const { fake, client } = await discord({ guild: { id: '800000000000000002', channelIds: ['800000000000000020'] } });
    // The bot posts a message with a button (notification path: fetch channel + send).
    const channel = (await client.channels.fetch('800000000000000020')) as TextChannel;
    const row = new ActionRowBuilder<ButtonBuilder>().addComponents(
      new ButtonBuilder().setCustomId('approve:42').setLabel('Approve').setStyle(ButtonStyle.Success),
    );
    const posted = await channel.send({ content: 'Run 42 needs approval', components: [row] });
    const postCall = await fake.waitForCall((c) => c.method === 'POST' && c.path === '/channels/800000000000000020/messages');
    expect(postCall.body).toMatchObject({ content: 'Run 42 needs approval', components: [{ type: 1, components: [{ custom_id: 'approve:42' }] }] });

    let customId: string | undefined;
    const handled = handleNext(client, async (i) => {
      if (!i.isButton()) throw new Error('expected a button');
      customId = i.customId;
      expect(i.message.id).toBe(posted.id);
      await i.update({ content: 'Approved by <@700000000000000004>', components: [] });
    });
    const ref = fake.buttonPress({ customId: 'approve:42', userId: '700000000000000004', channelId: '800000000000000020', messageId: posted.id });
    await handled;
    expect(customId).toBe('approve:42');
    const cb = await fake.waitForCall((c) => c.path === `/interactions/${ref.id}/${ref.token}/callback`);
    expect(cb.body).toMatchObject({ type: 7, data: { content: 'Approved by <@700000000000000004>', components: [] } });
    expect(fake.messages.get(posted.id)).toMatchObject({ content: 'Approved by <@700000000000000004>', components: [] });
    expect(fake.messages.get(posted.id)?.edited_timestamp).not.toBeNull();
  });

  it('retries a 429 on channel messages and returns Discord-shaped errors', async () => {
    const { fake, client } = await discord({ guild: { id: '800000000000000003', channelIds: ['800000000000000030'] } });
    const channel = (await client.channels.fetch('800000000000000030')) as TextChannel;
    fake.failNext(
      { method: 'POST', path: '/channels/800000000000000030/messages' },
      { status: 429, body: { message: 'You are being rate limited.', retry_after: 0.2, global: false }, headers: { 'retry-after': '0.2', 'x-ratelimit-scope': 'user' } },
    );
    const msg = await channel.send('notify');
    expect(msg.content).toBe('notify');
    const posts = fake.calls.filter((c) => c.path === '/channels/800000000000000030/messages');
    expect(posts.map((c) => c.status)).toEqual([429, 200]);

    await expect(channel.send('x'.repeat(2001))).rejects.toMatchObject({ code: 50035, status: 400 });
    await expect(client.channels.fetch('123456789012345678')).rejects.toMatchObject({ code: 10003, status: 404 });
  });

  it('resumes after the gateway drops and still delivers interactions', async () => {
    const { fake, client } = await discord();
    const resumed = once(client, Events.ShardResume);
    fake.disconnectGateway(4000);
    await resumed;
    expect(fake.gatewayReceived.some((p) => p.op === 6)).toBe(true);

    const handled = handleNext(client, async (i) => {
      if (i.isChatInputCommand()) await i.reply('still here');
    });
    fake.slashCommand({ name: 'ping', userId: '700000000000000005' });
    await handled;
    await fake.waitForCall((c) => c.path.endsWith('/callback') && c.body?.data?.content === 'still here');
  });
});
