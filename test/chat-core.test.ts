/**
 * The chat command core without a platform: how typed text becomes arguments, how unknown names
 * are answered, how replies are rendered and split for Telegram and Discord, and how run outcomes
 * are delivered (and retried) to chats.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../src/bot/commands/index.ts';
import { CommandCore, type Caller } from '../src/bot/core.ts';
import { slashCommandOf } from '../src/bot/discord/definitions.ts';
import { renderDiscord } from '../src/bot/discord/render.ts';
import { describeSchedule } from '../src/bot/format.ts';
import { bold, code, line, link, messageText, pre, splitText, type Message } from '../src/bot/message.ts';
import { RunDelivery, type ChatSender } from '../src/bot/notifier.ts';
import { closestNames, parseArgs } from '../src/bot/parse.ts';
import { escapeHtml, renderHtml } from '../src/bot/telegram/html.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

const command = (name: string) => COMMANDS.find((c) => c.name === name)!;

describe('reading what a person typed', () => {
  const names = ['Scout', 'eBay Scout', 'Night Owl'];

  it('takes the longest known bot name, then the rest as input', () => {
    expect(parseArgs(command('run').params, 'eBay Scout size 43', names)).toEqual({ bot: 'eBay Scout', input: 'size 43' });
    expect(parseArgs(command('run').params, 'scout  size 43 ', names)).toEqual({ bot: 'scout', input: 'size 43' });
    expect(parseArgs(command('run').params, 'Unknown thing', names)).toEqual({ bot: 'Unknown', input: 'thing' });
    expect(parseArgs(command('run').params, '"Night Owl" go', names)).toEqual({ bot: 'Night Owl', input: 'go' });
    expect(parseArgs(command('run').params, '', names)).toEqual({});
  });

  it('reads /newbot, /schedule and /link, /unlink arguments', () => {
    expect(parseArgs(command('newbot').params, 'Scout Find Nike Air Max\nunder 50 €', [])).toEqual({ name: 'Scout', prompt: 'Find Nike Air Max\nunder 50 €' });
    expect(parseArgs(command('newbot').params, '“eBay Scout” Find shoes', [])).toEqual({ name: 'eBay Scout', prompt: 'Find shoes' });
    expect(parseArgs(command('schedule').params, 'eBay Scout every 30m', names)).toEqual({ bot: 'eBay Scout', spec: 'every 30m' });
    expect(parseArgs(command('link').params, 'Scout COMPLETED Night Owl', names)).toEqual({ bot: 'Scout', event: 'completed', target: 'Night Owl' });
    expect(parseArgs(command('unlink').params, 'Scout Night Owl', names)).toEqual({ bot: 'Scout', target: 'Night Owl' });
    expect(parseArgs(command('unlink').params, 'Scout failed Night Owl', names)).toEqual({ bot: 'Scout', event: 'failed', target: 'Night Owl' });
  });

  it('suggests the closest names for a name it does not know', () => {
    expect(closestNames('Scot', names)).toEqual({ close: true, names: ['Scout', 'eBay Scout'] });
    expect(closestNames('owl', names)).toEqual({ close: true, names: ['Night Owl'] });
    expect(closestNames('Zebra', ['Scout', 'Dev'])).toEqual({ close: false, names: ['Dev', 'Scout'] });
  });

  it('describes schedules in words', () => {
    expect(describeSchedule('*/30 * * * *')).toBe('every 30 minutes (*/30 * * * *)');
    expect(describeSchedule('0 */2 * * *')).toBe('every 2 hours (0 */2 * * *)');
    expect(describeSchedule('0 8 * * 1-5')).toBe('0 8 * * 1-5');
    expect(describeSchedule(null)).toMatch(/^none/);
  });
});

describe('rendering replies', () => {
  it('escapes everything for Telegram HTML and keeps only http(s) links', () => {
    const msg: Message = {
      blocks: [
        line(bold('<Scout> & co'), ' said ', code('a<b'), ' ', link('https://x.test/?a=1&b="2"', 'it <here>'), ' ', link('javascript:alert(1)', 'no')),
        pre('if (a < b && c > d) {}'),
        { type: 'card', title: 'T <1>', url: 'https://x.test/1', text: 'body & more', footer: 'new' },
      ],
    };
    expect(renderHtml(msg)).toEqual([
      '<b>&lt;Scout&gt; &amp; co</b> said <code>a&lt;b</code> <a href="https://x.test/?a=1&amp;b=&quot;2&quot;">it &lt;here&gt;</a> no\n\n' +
        '<pre>if (a &lt; b &amp;&amp; c &gt; d) {}</pre>\n\n' +
        '<b><a href="https://x.test/1">T &lt;1&gt;</a></b>\nbody &amp; more\n<i>new</i>',
    ]);
    expect(escapeHtml('<&>')).toBe('&lt;&amp;&gt;');
  });

  it('splits a long Telegram message at 4096 visible characters, each part with its tags closed', () => {
    const output = Array.from({ length: 300 }, (_, i) => `${i} <${'z'.repeat(40)}>`).join('\n');
    const parts = renderHtml({ blocks: [line(bold('Header')), pre(output), line('footer')] });
    expect(parts.length).toBe(4);
    const visible = parts.map((p) => p.replace(/<[^>]+>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&'));
    for (const v of visible) expect(v.length).toBeLessThanOrEqual(4096);
    for (const p of parts) expect(p.match(/<pre>/g)?.length ?? 0).toBe(p.match(/<\/pre>/g)?.length ?? 0);
    expect(visible[0]!.startsWith('Header\n\n0 <zzz')).toBe(true);
    expect(visible.join('\n').replace(/\n+/g, '\n')).toContain('299 <');
    expect(parts.at(-1)!.endsWith('footer')).toBe(true);
  });

  it('never cuts a surrogate pair in two', () => {
    const text = '😀'.repeat(3000);
    for (const piece of splitText(text, 4095)) expect(piece.length % 2).toBe(0);
  });

  it('renders Discord markdown, embeds and buttons, split at 2000 characters', () => {
    const payloads = renderDiscord({
      blocks: [line(bold('Scout'), ' found *this* @everyone'), pre('x\n'.repeat(1500)), { type: 'card', title: 'Item', url: 'https://x.test', text: 'cheap' }],
      buttons: [[{ label: '▶ Run', action: 'run:1', style: 'primary' }]],
    });
    expect(payloads.length).toBe(2);
    expect(payloads[0]!.content.startsWith('**Scout** found \\*this\\* @\u200beveryone\n```\nx\n')).toBe(true);
    for (const p of payloads) expect(p.content.length).toBeLessThanOrEqual(2000);
    expect(payloads[0]!.embeds).toEqual([]);
    expect(payloads[1]!.embeds).toEqual([{ title: 'Item', url: 'https://x.test', description: 'cheap', color: 0x5865f2 }]);
    expect(payloads[1]!.components).toEqual([{ type: 1, components: [{ type: 2, style: 1, label: '▶ Run', custom_id: 'run:1' }] }]);
  });

  it('defines slash commands with typed options, required ones first', () => {
    expect(slashCommandOf(command('unlink'))).toMatchObject({
      name: 'unlink',
      type: 1,
      options: [
        { name: 'bot', type: 3, required: true, autocomplete: true },
        { name: 'target', type: 3, required: true, autocomplete: true },
        { name: 'event', type: 3, required: false, choices: [{ name: 'completed', value: 'completed' }, { name: 'failed', value: 'failed' }, { name: 'result', value: 'result' }] },
      ],
    });
    for (const c of COMMANDS) {
      expect(c.name).toMatch(/^[a-z0-9_]{1,32}$/);
      expect(c.description.length).toBeLessThanOrEqual(100);
      for (const p of c.params) expect(p.description.length).toBeLessThanOrEqual(100);
    }
  });
});

describe('the core and delivery over a real engine', () => {
  let t: TestApp;
  const alice: Caller = { platform: 'telegram', userId: '1', chatId: '1' };
  const stranger: Caller = { platform: 'telegram', userId: '2', chatId: '2' };
  const silent = pino({ level: 'silent' });

  beforeAll(async () => {
    t = await startTestApp({ ECHO_DELAY_MS: '1' });
  });
  afterAll(async () => {
    await t.close();
  });

  it('refuses strangers without touching the engine or naming a bot', async () => {
    const core = new CommandCore(t.engine, { allowedUsers: ['1'], allowListVariable: 'TELEGRAM_ALLOWED_USERS', log: silent });
    t.engine.createBot({ name: 'Secret', prompt: 'x' });
    for (const [name, text] of [['bots', ''], ['newbot', 'Evil do evil'], ['run', 'Secret'], ['delete', 'Secret']] as const) {
      const reply = messageText(await core.runText(stranger, name, text));
      expect(reply).toMatch(/^🔒 Sorry/);
      expect(reply).not.toContain('Secret');
    }
    expect(messageText((await core.handleAction(stranger, `delete:${t.engine.bots.findByName('Secret')!.id}`)).message)).toMatch(/^🔒/);
    expect(core.botNameChoices(stranger, '')).toEqual([]);
    expect(core.botNameChoices(alice, 'sec')).toEqual(['Secret']);
    expect(t.engine.bots.list().map((b) => b.name)).toEqual(['Secret']);
    expect(t.engine.runner.listForBot(t.engine.bots.findByName('Secret')!.id)).toEqual([]);
  });

  it('with an empty allow list nobody may command', async () => {
    const core = new CommandCore(t.engine, { allowedUsers: [], allowListVariable: 'TELEGRAM_ALLOWED_USERS', log: silent });
    expect(messageText(await core.runText(alice, 'help', ''))).toMatch(/^🔒/);
  });

  it('/unlink with only a bot lists its links', async () => {
    const core = new CommandCore(t.engine, { allowedUsers: ['1'], allowListVariable: 'X', log: silent });
    t.engine.createBot({ name: 'Writer', prompt: 'x' });
    await core.runText(alice, 'link', 'Secret result Writer');
    expect(messageText(await core.runText(alice, 'unlink', 'Secret'))).toMatch(/Unlink Secret from which bot\? Its links: Secret —result→ Writer\./);
  });

  it('retries a failed delivery, gives up on a permanent failure, and leaves the run alone', async () => {
    const bot = t.engine.createBot({ name: 'Flaky', prompt: 'x' });
    t.engine.subscriptions.subscribe(bot.id, 'telegram', 'transient');
    t.engine.subscriptions.subscribe(bot.id, 'telegram', 'gone');
    const attempts: Record<string, number> = {};
    const delivered: string[] = [];
    class Permanent extends Error {}
    const sender: ChatSender = {
      platform: 'telegram',
      async send(chatId) {
        attempts[chatId] = (attempts[chatId] ?? 0) + 1;
        if (chatId === 'gone') throw new Permanent('chat not found');
        if (attempts[chatId]! < 3) throw new Error('network down');
        delivered.push(chatId);
      },
      isPermanent: (err) => err instanceof Permanent,
    };
    const delivery = new RunDelivery(t.engine, sender, silent, [10, 10, 10]);
    delivery.start();
    const run = t.engine.startRun(bot.id, { trigger: 'manual' });
    expect((await t.waitForRun(run.id)).status).toBe('completed');
    await expect.poll(() => delivered).toEqual(['transient']);
    expect(attempts).toEqual({ transient: 3, gone: 1 });
    await delivery.stop();
  });
});
