/**
 * The chat command core without a platform: how typed text becomes arguments, how unknown names
 * are answered, how replies are rendered and split for Telegram and Discord, and how run outcomes
 * are delivered (and retried) to chats.
 */
import fs from 'node:fs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../src/bot/commands/index.ts';
import { CommandCore, type Caller } from '../src/bot/core.ts';
import { slashCommandOf } from '../src/bot/discord/definitions.ts';
import { renderDiscord } from '../src/bot/discord/render.ts';
import { describeSchedule } from '../src/bot/format.ts';
import type { ChatSender, Place } from '../src/bot/chat-sender.ts';
import { bold, code, line, link, messageText, output, pre, splitText, type Message } from '../src/bot/message.ts';
import { closestNames, parseArgs, unquote } from '../src/bot/parse.ts';
import { retrying } from '../src/bot/retry.ts';
import { RunDelivery } from '../src/bot/run-delivery.ts';
import type { EngineEventName, EngineEvents } from '../src/engine/event-bus.ts';
import { ManualClock } from './helpers/clock.ts';
import { escapeHtml, renderHtml } from '../src/bot/telegram/html.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

const command = (name: string) => COMMANDS.find((c) => c.name === name)!;

describe('reading what a person typed', () => {
  const names = { bots: ['Scout', 'eBay Scout', 'Night Owl'], pipelines: ['Blog Post'] };
  const none = { bots: [], pipelines: [] };

  it('takes the longest known bot name, then the rest as input', () => {
    expect(parseArgs(command('run').params, 'eBay Scout size 43', names)).toEqual({ bot: 'eBay Scout', input: 'size 43' });
    expect(parseArgs(command('run').params, 'scout  size 43 ', names)).toEqual({ bot: 'scout', input: 'size 43' });
    expect(parseArgs(command('run').params, 'Unknown thing', names)).toEqual({ bot: 'Unknown', input: 'thing' });
    expect(parseArgs(command('run').params, '"Night Owl" go', names)).toEqual({ bot: 'Night Owl', input: 'go' });
    expect(parseArgs(command('run').params, '', names)).toEqual({});
  });

  it('reads /newbot, /schedule and /link, /unlink arguments', () => {
    expect(parseArgs(command('newbot').params, 'Scout Find Nike Air Max\nunder 50 €', none)).toEqual({ name: 'Scout', prompt: 'Find Nike Air Max\nunder 50 €' });
    expect(parseArgs(command('newbot').params, '“eBay Scout” Find shoes', none)).toEqual({ name: 'eBay Scout', prompt: 'Find shoes' });
    expect(parseArgs(command('runpipeline').params, 'blog post about owls', names)).toEqual({ pipeline: 'blog post', input: 'about owls' });
    expect(parseArgs(command('subscribe').params, 'eBay Scout failures', names)).toEqual({ bot: 'eBay Scout', policy: 'failures' });
    expect(parseArgs(command('mute').params, '"Night Owl" 2h', names)).toEqual({ bot: 'Night Owl', duration: '2h' });
    expect(parseArgs(command('schedule').params, 'eBay Scout every 30m', names)).toEqual({ bot: 'eBay Scout', spec: 'every 30m' });
    expect(parseArgs(command('link').params, 'Scout COMPLETED Night Owl', names)).toEqual({ bot: 'Scout', event: 'completed', target: 'Night Owl' });
    expect(parseArgs(command('unlink').params, 'Scout Night Owl', names)).toEqual({ bot: 'Scout', target: 'Night Owl' });
    expect(parseArgs(command('unlink').params, 'Scout failed Night Owl', names)).toEqual({ bot: 'Scout', event: 'failed', target: 'Night Owl' });
  });

  it('strips the quotes around a name, as phones type them, and nothing else', () => {
    for (const q of ['"Quoted Name"', '“Quoted Name”', '„Quoted Name“', '«Quoted Name»', '  "Quoted Name" ']) expect(unquote(q)).toBe('Quoted Name');
    expect(unquote('Bob\'s "bot"')).toBe('Bob\'s "bot"');
    expect(unquote('"')).toBe('"');
  });

  it('suggests the closest names for a name it does not know', () => {
    expect(closestNames('Scot', names.bots)).toEqual({ close: true, names: ['Scout', 'eBay Scout'] });
    expect(closestNames('owl', names.bots)).toEqual({ close: true, names: ['Night Owl'] });
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

  it('puts an output block in a Discord embed (4096 characters hold what a message’s 2000 would not)', () => {
    const text = 'z'.repeat(3000) + ' ``` end';
    const [p, ...more] = renderDiscord({ blocks: [line('head'), output(text)] });
    expect(more).toEqual([]);
    expect(p!.content).toBe('head');
    const d = p!.embeds[0]!.description!;
    expect(d.startsWith('```\n') && d.endsWith('\n```')).toBe(true);
    expect(d.match(/```/g)).toHaveLength(2);
    expect(d.length).toBeLessThanOrEqual(4096);
    expect(renderHtml({ blocks: [output(text)] })).toEqual([`<pre>${text}</pre>`]);
    expect(messageText({ blocks: [output('q'.repeat(5000))] }).length).toBeLessThanOrEqual(3500);
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
    await t.engine.createBot({ name: 'Secret', prompt: 'x' });
    for (const [name, text] of [['bots', ''], ['newbot', 'Evil do evil'], ['run', 'Secret'], ['delete', 'Secret']] as const) {
      const reply = await core.runText(stranger, name, text);
      expect(messageText(reply)).toMatch(/^🔒 I don't know you yet/);
      expect(messageText(reply)).not.toContain('Secret');
      expect(reply).toMatchObject({ error: true, ephemeral: true });
    }
    expect(messageText((await core.handleAction(stranger, `delete:${(await t.engine.bots.findByName('Secret'))!.id}`)).message!)).toMatch(/^🔒/);
    expect(await core.nameChoices(stranger, 'bot', '')).toEqual([]);
    expect(await core.nameChoices(alice, 'bot', '"sec')).toEqual(['Secret']);
    expect((await t.engine.bots.list()).map((b) => b.name)).toEqual(['Secret']);
    expect(await t.engine.runner.listForBot((await t.engine.bots.findByName('Secret'))!.id)).toEqual([]);
  });

  it('with an empty allow list nobody may command', async () => {
    const core = new CommandCore(t.engine, { allowedUsers: [], allowListVariable: 'TELEGRAM_ALLOWED_USERS', log: silent });
    expect(messageText(await core.runText(alice, 'help', ''))).toMatch(/^🔒/);
  });

  it('every failure is marked as one (Discord shows those only to the person)', async () => {
    const core = new CommandCore(t.engine, { allowedUsers: ['1'], allowListVariable: 'X', log: silent });
    for (const [name, text] of [['run', 'Nobody'], ['status', ''], ['frobnicate', ''], ['mute', 'Secret soon'], ['link', 'Secret sometimes Secret'], ['runpipeline', 'x']] as const) {
      const reply = await core.runText(alice, name, text);
      expect(messageText(reply), `/${name} ${text}`).toMatch(/^⚠️ /);
      expect(reply.error, `/${name} ${text}`).toBe(true);
    }
    expect((await core.handleAction(alice, 'nonsense:1')).message).toMatchObject({ error: true });
    expect((await core.handleAction(alice, 'run:999999')).message).toMatchObject({ error: true, });
    expect(messageText((await core.handleAction(alice, 'run:999999')).message!)).toBe('⚠️ That bot no longer exists.');
    expect((await core.runText(alice, 'help', '')).error).toBeUndefined();
  });

  it('a name typed in quotes is the same name on both platforms', async () => {
    const core = new CommandCore(t.engine, { allowedUsers: ['1'], allowListVariable: 'X', log: silent });
    const discord: Caller = { platform: 'discord', userId: '1', chatId: 'c1' };
    await core.runCommand(discord, 'newbot', { name: '"Quoted Name"', prompt: 'x' });
    expect(await t.engine.bots.findByName('Quoted Name')).toBeDefined();
    expect(messageText(await core.runCommand(discord, 'status', { bot: '“quoted name”' }))).toMatch(/Quoted Name — idle/);
    expect(messageText(await core.runText(alice, 'status', '"Quoted Name"'))).toMatch(/Quoted Name — idle/);
  });

  it('/unlink with only a bot lists its links', async () => {
    const core = new CommandCore(t.engine, { allowedUsers: ['1'], allowListVariable: 'X', log: silent });
    await t.engine.createBot({ name: 'Writer', prompt: 'x' });
    await core.runText(alice, 'link', 'Secret result Writer');
    expect(messageText(await core.runText(alice, 'unlink', 'Secret'))).toMatch(/Unlink Secret from which bot\? Its links: Secret —result→ Writer\./);
  });

  it('retries what fails for a while, and gives up at once on what cannot work', async () => {
    class Permanent extends Error {}
    let n = 0;
    const policy = { delaysMs: [5, 5, 5], isPermanent: (e: unknown) => e instanceof Permanent, log: silent };
    expect(await retrying('x', async () => (++n < 3 ? Promise.reject(new Error('network down')) : 'ok'), policy)).toBe('ok');
    expect(n).toBe(3);
    n = 0;
    await expect(retrying('x', async () => (++n, Promise.reject(new Permanent('chat not found'))), policy)).rejects.toThrow(/chat not found/);
    expect(n).toBe(1);
    n = 0;
    await expect(retrying('x', async () => (++n, Promise.reject(new Error('down'))), policy)).rejects.toThrow(/down/);
    expect(n).toBe(4);
  });

  /** A chat platform that records what it was asked to post and edit. */
  function recordingSender() {
    const posts: { chatId: string; text: string; id: number }[] = [];
    const edits: { id: number; text: string }[] = [];
    const sender: ChatSender = {
      platform: 'telegram',
      async post(place: Place, msg: Message) {
        const id = posts.length + 1;
        posts.push({ chatId: place.chatId, text: messageText(msg), id });
        return { edit: async (m: Message) => void edits.push({ id, text: messageText(m) }) };
      },
      isPrivateChatOf: async (chatId, userId) => chatId === userId,
    };
    return { sender, posts, edits };
  }

  for (const when of ['as the bus delivers them', 'a tick later still'] as const) {
    it(`cards and subscribers get each run once whether events come ${when}`, async () => {
      const bus = t.engine.bus;
      const emit = bus.emit.bind(bus);
      if (when === 'a tick later still') {
        bus.emit = <K extends EngineEventName>(e: K, p: EngineEvents[K]) => void setImmediate(() => emit(e, p));
      }
      try {
        const { sender, posts, edits } = recordingSender();
        const delivery = new RunDelivery(t.engine, sender, silent, { clock: new ManualClock() });
        delivery.start();
        const core = new CommandCore(t.engine, { allowedUsers: ['1'], allowListVariable: 'X', log: silent, runs: delivery });
        const bot = await t.engine.createBot({ name: `Twice ${when}`, prompt: 'x' });
        await t.engine.subscriptions.subscribe(bot.id, 'telegram', '1'); // the chat that runs it
        await t.engine.subscriptions.subscribe(bot.id, 'telegram', 'ops');
        const answer = await core.runText(alice, 'run', `"${bot.name}"`);
        expect(answer.card).toBeDefined();
        await delivery.answer('1', answer, (m) => sender.post({ chatId: '1' }, m), { chatId: '1' });
        const runId = answer.card!.runId;
        await t.waitForRun(runId);
        await expect.poll(() => posts.filter((p) => p.chatId === 'ops').length).toBe(1);
        await expect.poll(() => edits.at(-1)?.text ?? posts[0]!.text).toMatch(new RegExp(`run #${runId} completed`));
        expect(posts.map((p) => p.chatId)).toEqual(['1', 'ops']);

        // A run that fails at once: its card ends as the failure; the other chat gets it once.
        const broken = await t.engine.createBot({ name: `Broken ${when}`, prompt: 'x' });
        fs.rmSync(broken.docsPath, { recursive: true, force: true });
        fs.writeFileSync(broken.docsPath, 'not a folder');
        await t.engine.subscriptions.subscribe(broken.id, 'telegram', '1');
        await t.engine.subscriptions.subscribe(broken.id, 'telegram', 'ops');
        const failed = await core.runText(alice, 'run', `"${broken.name}"`);
        await delivery.answer('1', failed, (m) => sender.post({ chatId: '1' }, m), { chatId: '1' });
        await expect.poll(() => posts.length).toBe(4);
        expect(posts.slice(2).map((p) => p.chatId).sort()).toEqual(['1', 'ops']);
        const cardPost = posts.slice(2).find((p) => p.chatId === '1')!;
        const shown = () => edits.filter((e) => e.id === cardPost.id).at(-1)?.text ?? cardPost.text;
        await expect.poll(shown).toMatch(/failed/);
        expect(posts.find((p) => p.chatId === 'ops' && p.id > 2)!.text).toMatch(/failed/);
        await new Promise((r) => setTimeout(r, 50));
        expect(posts).toHaveLength(4);
        await delivery.stop();
      } finally {
        bus.emit = emit;
      }
    });
  }
});

describe('a new bot’s model, as a choice', () => {
  let t: TestApp;
  beforeAll(async () => {
    // With a provider key set, /newbot offers its models (nothing here calls the provider).
    t = await startTestApp({ OPENAI_API_KEY: 'sk-test-not-used' });
  });
  afterAll(async () => {
    await t.close();
  });

  it('offers the configured models as buttons; a press sets the model and redraws the choices', async () => {
    const core = new CommandCore(t.engine, { allowedUsers: ['1'], allowListVariable: 'X', log: pino({ level: 'silent' }) });
    const alice: Caller = { platform: 'telegram', userId: '1', chatId: '1' };
    const made = await core.runText(alice, 'newbot', 'Picker pick things');
    expect((await t.engine.bots.findByName('Picker'))!.model).toBe('openai:gpt-4.1-mini');
    expect(made.buttons![0]!.map((b) => b.label)).toEqual(['echo', '✓ openai:gpt-4.1-mini', 'openai:gpt-4.1', 'openai:gpt-4o-mini']);
    const echo = made.buttons![0]![0]!;
    const pressed = await core.handleAction(alice, echo.action);
    expect(pressed).toMatchObject({ mode: 'replace', toast: 'Model: echo' });
    expect((await t.engine.bots.findByName('Picker'))!.model).toBe('echo');
    expect(pressed.message!.buttons![0]![0]!.label).toBe('✓ echo');
    expect(messageText(pressed.message!)).toMatch(/⚙️ 🤖 Picker \(model echo\)/);
  });
});
