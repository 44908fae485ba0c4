/**
 * Discord chat-ops, as a person sees it: they use `/run bot:Scout` in a channel and the bot
 * answers. The real discord.js client logs in to a fake Discord (test/fakes/discord.ts: REST and
 * gateway on 127.0.0.1); the engine is the real one with the offline echo model.
 */
import fs from 'node:fs';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatAdapter } from '../src/bot/adapter.ts';
import { startDiscord } from '../src/bot/discord/adapter.ts';
import { startFakeDiscord, type DiscordCall, type FakeDiscord, type InteractionRef } from './fakes/discord.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';

const GUILD = '800000000000000001';
const CHANNEL = '800000000000000010';
const OPS = '800000000000000011';
const ALICE = '700000000000000001'; // on the allow list
const MALLORY = '700000000000000666'; // a stranger
const EPHEMERAL = 64;

const logLines: { msg: string; [k: string]: unknown }[] = [];
const logger = pino(
  { level: 'debug' },
  new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) logLines.push(JSON.parse(l));
      done();
    },
  }),
);

let fake: FakeDiscord;
let t: TestApp;
let adapter: ChatAdapter;

beforeAll(async () => {
  fake = await startFakeDiscord({ guild: { id: GUILD, channelIds: [CHANNEL, OPS] } });
  t = await startTestApp({
    DISCORD_BOT_TOKEN: 'fake-token.abc.def',
    DISCORD_API_BASE: fake.apiBase,
    DISCORD_GUILD_ID: GUILD,
    DISCORD_ALLOWED_USERS: ALICE,
    ECHO_DELAY_MS: '5',
  });
  adapter = await startDiscord(t.engine, t.config, logger, { retryDelaysMs: [100, 200] });
});

afterAll(async () => {
  await adapter?.stop();
  await t?.close();
  await fake?.close();
});

/** What the person sees of one answer. */
interface Seen {
  content: string;
  embeds: { title?: string; url?: string; description?: string; footer?: { text: string } }[];
  /** Buttons as [label, custom_id]. */
  buttons: [string, string][];
  ephemeral: boolean;
  /** How the interaction was first acknowledged (4 reply, 5 deferred reply, 6 deferred update). */
  ack: number;
  messageId?: string;
  ref: InteractionRef;
}

function buttonsOf(body: any): [string, string][] {
  return (body?.components ?? []).flatMap((row: any) => row.components.map((b: any) => [b.label, b.custom_id]));
}

/** The first answer to an interaction: an immediate reply, or the deferred reply once edited. */
async function answerTo(ref: InteractionRef): Promise<Seen> {
  const cb = await fake.waitForCall((c) => c.path === `/interactions/${ref.id}/${ref.token}/callback`);
  if (cb.body.type === 4) {
    const d = cb.body.data;
    return { content: d.content ?? '', embeds: d.embeds ?? [], buttons: buttonsOf(d), ephemeral: ((d.flags ?? 0) & EPHEMERAL) !== 0, ack: 4, ref };
  }
  const edit = await fake.waitForCall((c) => c.method === 'PATCH' && c.path === `/webhooks/${fake.applicationId}/${ref.token}/messages/@original`, 10_000);
  const b = edit.body;
  return { content: b.content ?? '', embeds: b.embeds ?? [], buttons: buttonsOf(b), ephemeral: false, ack: cb.body.type, messageId: (edit.response as any).id, ref };
}

/** A person uses a slash command; resolves with what the bot answers. */
async function slash(name: string, options: Record<string, string> = {}, opts: { userId?: string; channelId?: string } = {}): Promise<Seen> {
  const ref = fake.slashCommand({ name, options, userId: opts.userId ?? ALICE, channelId: opts.channelId ?? CHANNEL });
  return answerTo(ref);
}

/** A person presses a button on a message the bot sent. */
async function press(on: Seen, label: RegExp, opts: { userId?: string; channelId?: string } = {}): Promise<Seen> {
  const customId = on.buttons.find(([l]) => label.test(l))?.[1];
  if (!customId || !on.messageId) throw new Error(`no button ${label} in ${JSON.stringify(on.buttons)}`);
  const ref = fake.buttonPress({ customId, userId: opts.userId ?? ALICE, channelId: opts.channelId ?? CHANNEL, messageId: on.messageId });
  return answerTo(ref);
}

/** The follow-up messages of an interaction (run outcomes, long answers). */
function followUps(ref: InteractionRef): DiscordCall[] {
  return fake.calls.filter((c) => c.method === 'POST' && c.path === `/webhooks/${fake.applicationId}/${ref.token}`);
}

const createBot = (name: string, prompt = `You are ${name}.`) => t.engine.createBot({ name, prompt });

/** The edits of an interaction's original response (the deferred "thinking…" message). */
function originalEdits(ref: InteractionRef): DiscordCall[] {
  return fake.calls.filter((c) => c.method === 'PATCH' && c.path === `/webhooks/${fake.applicationId}/${ref.token}/messages/@original`);
}

describe('Discord: starting up', () => {
  it('registers the slash commands for DISCORD_GUILD_ID with typed options', () => {
    const commands = fake.registeredCommands.guilds[GUILD] ?? [];
    expect(commands.map((c) => c.name)).toEqual([
      'bots', 'run', 'stop', 'status', 'results', 'logs', 'newbot', 'schedule', 'pause', 'resume', 'link', 'unlink', 'subscribe', 'unsubscribe', 'delete', 'approvals', 'task', 'help',
    ]);
    expect(fake.registeredCommands.global).toEqual([]);
    const byName = Object.fromEntries(commands.map((c) => [c.name, c.options ?? []]));
    expect(byName.run).toEqual([
      expect.objectContaining({ name: 'bot', type: 3, required: true, autocomplete: true }),
      expect.objectContaining({ name: 'input', type: 3, required: false }),
    ]);
    expect(byName.newbot!.map((o: any) => [o.name, o.required])).toEqual([['name', true], ['prompt', true]]);
    expect(byName.schedule!.map((o: any) => o.name)).toEqual(['bot', 'spec']);
    expect(byName.link).toContainEqual(
      expect.objectContaining({ name: 'event', choices: [{ name: 'completed', value: 'completed' }, { name: 'failed', value: 'failed' }, { name: 'result', value: 'result' }] }),
    );
    expect(byName.link!.find((o: any) => o.name === 'target')).toMatchObject({ autocomplete: true, required: true });
    // Required options first, as Discord demands.
    expect(byName.unlink!.map((o: any) => [o.name, o.required])).toEqual([['bot', true], ['target', true], ['event', false]]);
    expect(logLines.some((l) => l.msg === `registered the slash commands for guild ${GUILD}`)).toBe(true);
  });

  it('without DISCORD_GUILD_ID registers globally; with DISCORD_ALLOWED_USERS empty the log says nobody may command', async () => {
    const other = await startFakeDiscord();
    const lines: string[] = [];
    const own = pino({ level: 'info' }, new Writable({ write: (c: Buffer, _e, done) => (lines.push(String(c)), done()) }));
    const config = { ...t.config, discord: { token: 'other.token.x', apiBase: other.apiBase, allowedUsers: [] } };
    const second = await startDiscord(t.engine, config, own);
    try {
      expect(other.registeredCommands.global).toHaveLength(18);
      expect(lines.join('')).toMatch(/DISCORD_ALLOWED_USERS is empty: nobody may command the Discord bot/);
      expect(lines.join('')).toMatch(/registered the slash commands globally/);
      const ref = other.slashCommand({ name: 'bots', userId: ALICE });
      const refused = await other.waitForCall((c) => c.path === `/interactions/${ref.id}/${ref.token}/callback`);
      expect(refused.body).toMatchObject({ type: 4, data: { flags: EPHEMERAL, content: expect.stringMatching(/^🔒 Sorry/) } });
    } finally {
      await second.stop();
      await other.close();
    }
  });

  it('stopping after Discord refused the token leaves no unhandled rejection behind (which would end the process)', async () => {
    const strict = await startFakeDiscord({ token: 'the.right.token' });
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    try {
      const config = { ...t.config, discord: { token: 'a.wrong.token', apiBase: strict.apiBase, allowedUsers: [ALICE] } };
      const refused = await startDiscord(t.engine, config, logger);
      expect(logLines.some((l) => /Discord refused DISCORD_BOT_TOKEN/.test(l.msg))).toBe(true);
      await refused.stop();
      await refused.stop(); // stopping again is harmless
      await new Promise((r) => setTimeout(r, 200));
      expect(rejections).toEqual([]);
    } finally {
      process.off('unhandledRejection', onRejection);
      await strict.close();
    }
  });

  it('the fake, like Discord, refuses an interaction acknowledged after its response window', async () => {
    const slow = await startFakeDiscord({ interactionResponseWindowMs: 0 });
    const config = { ...t.config, discord: { token: 'other.token.x', apiBase: slow.apiBase, allowedUsers: [ALICE] } };
    const late = await startDiscord(t.engine, config, logger);
    try {
      const ref = slow.slashCommand({ name: 'help', userId: ALICE });
      const cb = await slow.waitForCall((c) => c.path === `/interactions/${ref.id}/${ref.token}/callback`);
      expect(cb).toMatchObject({ status: 404, response: { message: 'Unknown interaction', code: 10062 } });
      await expect.poll(() => logLines.some((l) => l.msg === 'a Discord interaction could not be handled' && l.interactionId === ref.id)).toBe(true);
    } finally {
      await late.stop();
      await slow.close();
    }
  });

  it('/help lists the commands', async () => {
    const help = await slash('help');
    expect(help.ack).toBe(5); // deferred within Discord's 3-second window, then edited
    expect(help.content).toContain('`/run <bot> [input…]` — Run a bot now');
  });
});

describe('Discord: creating and running bots', () => {
  it('/newbot name:Scout prompt:… creates the bot and subscribes this channel', async () => {
    const reply = await slash('newbot', { name: 'Scout', prompt: 'Find *cheap* Nike Air Max' });
    expect(reply.content).toMatch(/✅ Created \*\*🤖 Scout\*\* \(model echo\)/);
    const bot = t.engine.bots.findByName('Scout')!;
    expect(bot.prompt).toBe('Find *cheap* Nike Air Max');
    expect(t.engine.subscriptions.isSubscribed(bot.id, 'discord', CHANNEL)).toBe(true);
    expect(reply.buttons.map(([l]) => l)).toEqual(['▶ Run', '📜 Logs', '⏸ Pause']);
  });

  it('autocompletes bot names in `bot` and `target`', async () => {
    createBot('Scribe');
    const ref = fake.autocomplete({ name: 'run', focusedOption: 'bot', value: 'sc', userId: ALICE, channelId: CHANNEL });
    const cb = await fake.waitForCall((c) => c.path === `/interactions/${ref.id}/${ref.token}/callback`);
    expect(cb.body).toEqual({ type: 8, data: { choices: [{ name: 'Scout', value: 'Scout' }, { name: 'Scribe', value: 'Scribe' }] } });
    const ref2 = fake.autocomplete({ name: 'link', focusedOption: 'target', value: 'RIB', options: { bot: 'Scout' }, userId: ALICE, channelId: CHANNEL });
    const cb2 = await fake.waitForCall((c) => c.path === `/interactions/${ref2.id}/${ref2.token}/callback`);
    expect(cb2.body.data.choices).toEqual([{ name: 'Scribe', value: 'Scribe' }]);
  });

  it('/run bot:Scout input:… is deferred, edited to "Started", then followed up with the outcome', async () => {
    const started = await slash('run', { bot: 'scout', input: 'size 43' });
    expect(started.ack).toBe(5);
    expect(started.content).toMatch(/▶ Started \*\*🤖 Scout\*\* · run #(\d+)/);
    const runId = Number(/run #(\d+)/.exec(started.content)![1]);
    expect(t.engine.runner.get(runId)).toMatchObject({ trigger: `discord:${ALICE}`, input: 'size 43' });
    const outcome = await fake.waitForCall((c) => c.method === 'POST' && c.path === `/webhooks/${fake.applicationId}/${started.ref.token}`, 10_000);
    expect(outcome.body.content).toMatch(new RegExp(`✅ \\*\\*🤖 Scout\\*\\* · run #${runId} completed in`));
    expect(outcome.body.content).toContain('```\nPrompt: Find *cheap* Nike Air Max\nInput: size 43\n```');
    expect(buttonsOf(outcome.body).map(([l]) => l)).toEqual(['▶ Run again', '📜 Logs']);
    // The channel is subscribed too, but gets the outcome once: as the follow-up.
    expect(fake.calls.filter((c) => c.method === 'POST' && c.path === `/channels/${CHANNEL}/messages` && /run #\d+ completed/.test(c.body?.content))).toHaveLength(0);
  });

  it('/bots lists each bot with its status and last run, with Run / Logs / Pause buttons', async () => {
    const list = await slash('bots');
    expect(list.content).toMatch(/\*\*Bots \(2\)\*\*/);
    expect(list.content).toMatch(/🤖 Scout\*\* — idle · last run ✅ completed just now/);
    const scout = t.engine.bots.findByName('Scout')!;
    expect(list.buttons.slice(0, 3)).toEqual([['▶ Scout', `run:${scout.id}`], ['📜 Logs', `logs:${scout.id}`], ['⏸ Pause', `pause:${scout.id}`]]);
  });

  it('pressing ▶ runs the bot: the press is deferred, answered, and followed up with the outcome', async () => {
    const list = await slash('bots');
    const started = await press(list, /▶ Scribe/);
    expect(started.ack).toBe(5);
    expect(started.content).toMatch(/▶ Started \*\*🤖 Scribe\*\*/);
    const outcome = await fake.waitForCall((c) => c.method === 'POST' && c.path === `/webhooks/${fake.applicationId}/${started.ref.token}`, 10_000);
    expect(outcome.body.content).toMatch(/Scribe\*\* · run #\d+ completed/);
  });

  it('/status, and its Pause button pauses the bot', async () => {
    const status = await slash('status', { bot: 'Scout' });
    expect(status.content).toMatch(/Runs: 1 \(1 completed\) · success rate 100%/);
    expect(status.content).toContain('This chat gets its runs: yes');
    const paused = await press(status, /Pause/);
    expect(paused.content).toMatch(/⏸ Paused \*\*🤖 Scout\*\*/);
    expect(t.engine.bots.findByName('Scout')!.paused).toBe(true);
    const resumed = await press(paused, /Resume/);
    expect(resumed.content).toMatch(/▶ Resumed \*\*🤖 Scout\*\*/);
    expect(t.engine.bots.findByName('Scout')!.paused).toBe(false);
  });

  it('/pause and /resume', async () => {
    expect((await slash('pause', { bot: 'scribe' })).content).toMatch(/⏸ Paused \*\*🤖 Scribe\*\*/);
    expect(t.engine.bots.findByName('Scribe')!.paused).toBe(true);
    expect((await slash('resume', { bot: 'scribe' })).content).toMatch(/▶ Resumed \*\*🤖 Scribe\*\*/);
    expect(t.engine.bots.findByName('Scribe')!.paused).toBe(false);
  });

  it('/stop cancels the running run', async () => {
    const bot = createBot('Stopper');
    const run = t.engine.startRun(bot.id, { trigger: 'manual' });
    expect((await slash('stop', { bot: 'Stopper' })).content).toBe(`⏹ Stopped **🤖 Stopper**: run #${run.id}.`);
    expect(t.engine.runner.get(run.id).status).toBe('cancelled');
  });

  it('/logs shows the tail of the last run', async () => {
    const logs = await slash('logs', { bot: 'Scout' });
    expect(logs.content).toMatch(/\*\*🤖 Scout\*\* · run #\d+ ✅ completed/);
    expect(logs.content).toMatch(/```\n[\s\S]*echo: composing the answer[\s\S]*\n```/);
    const refreshed = await press(logs, /Refresh/);
    expect(refreshed).toMatchObject({ ack: 6, messageId: logs.messageId }); // redrawn in place
    expect(refreshed.content).toBe(logs.content);
  });

  it('/results shows the latest results as embeds with title, link and excerpt', async () => {
    const bot = t.engine.bots.findByName('Scout')!;
    t.engine.results.record(bot.id, null, { title: 'Nike Air Max 90', url: 'https://example.com/item/1', content: 'Great condition, 45 €' });
    const reply = await slash('results', { bot: 'Scout' });
    expect(reply.content).toMatch(/\*\*🤖 Scout\*\* — latest 2 results/);
    expect(reply.embeds[0]).toMatchObject({ title: 'Nike Air Max 90', url: 'https://example.com/item/1', description: 'Great condition, 45 €' });
    expect(reply.embeds[0]!.footer!.text).toMatch(/🆕 new · just now/);
    // Markdown in a title is shown as typed (escaped), not rendered.
    expect(reply.embeds[1]!.title).toBe('Prompt: Find \\*cheap\\* Nike Air Max');
  });

  it('/results: links and markdown a bot wrote into a result are shown as typed, never as masked links', async () => {
    const bot = createBot('Phisher');
    t.engine.results.record(bot.id, null, {
      title: '**Fake** [login](https://evil.example)',
      url: 'https://shop.example/1',
      content: 'Price dropped! [Click to claim](https://evil.example/phish)\n# BIG',
    });
    const reply = await slash('results', { bot: 'Phisher' });
    expect(reply.embeds[0]).toMatchObject({
      title: '\\*\\*Fake\\*\\* \\[login](https://evil.example)',
      url: 'https://shop.example/1',
      description: 'Price dropped! \\[Click to claim](https://evil.example/phish)\n\\# BIG',
    });
  });

  it('/results: a result link Discord cannot parse is left out, and the answer still shows', async () => {
    const bot = createBot('Sloppy');
    t.engine.results.record(bot.id, null, { title: 'Nike Air Max 95', url: 'https://exa mple.com/item 1', content: 'Size 43' });
    const reply = await slash('results', { bot: 'Sloppy' });
    expect(originalEdits(reply.ref).map((c) => c.status)).toEqual([200]);
    expect(reply.embeds[0]).toMatchObject({ title: 'Nike Air Max 95', description: 'Size 43' });
    expect(reply.embeds[0]).not.toHaveProperty('url');
    expect((fake.messages.get(reply.messageId!) as any).flags & 128).toBe(0); // no longer "thinking…"
  });

  it('when Discord refuses an answer, the "thinking…" message becomes a plain ⚠️ instead of staying', async () => {
    fake.failNext(
      { method: 'PATCH', path: /^\/webhooks\/\d+\/[^/]+\/messages\/@original$/ },
      { status: 400, body: { message: 'Invalid Form Body', code: 50035, errors: { embeds: { 0: { url: { _errors: [{ code: 'URL_TYPE_INVALID_URL', message: 'Not a well formed URL.' }] } } } } } },
    );
    const ref = fake.slashCommand({ name: 'help', userId: ALICE, channelId: CHANNEL });
    await expect.poll(() => originalEdits(ref).length).toBe(2);
    const [refused, fallback] = originalEdits(ref);
    expect(refused!.status).toBe(400);
    expect(fallback).toMatchObject({ status: 200, body: { content: '⚠️ I could not show the answer here; the server log has the details.' } });
    const original = fake.messages.get(fake.interactions.get(ref.id)!.originalMessageId!) as any;
    expect(original.flags & 128).toBe(0);
    expect(original.content).toMatch(/^⚠️/);
    expect(logLines.some((l) => l.msg === 'could not post the answer to a Discord interaction')).toBe(true);
  });

  it('/schedule spec:every 30m stores */30 * * * *; off clears it', async () => {
    expect((await slash('schedule', { bot: 'Scribe', spec: 'every 30m' })).content).toBe('⏰ **🤖 Scribe** runs every 30 minutes (`*/30 * * * *`).');
    expect(t.engine.bots.findByName('Scribe')!.schedule).toBe('*/30 * * * *');
    expect((await slash('schedule', { bot: 'Scribe', spec: 'off' })).content).toMatch(/has no schedule now/);
    expect(t.engine.bots.findByName('Scribe')!.schedule).toBeNull();
  });

  it('/link and /unlink', async () => {
    expect((await slash('link', { bot: 'Scout', event: 'result', target: 'Scribe' })).content).toBe(
      '🔗 Linked: when **🤖 Scout** finds a new result, **🤖 Scribe** starts with its output as input.',
    );
    expect((await slash('link', { bot: 'Scribe', event: 'completed', target: 'Scout' })).content).toMatch(/⚠️ Linking Scribe to Scout would close a loop/);
    expect((await slash('unlink', { bot: 'Scout', target: 'Scribe' })).content).toBe('✂️ Unlinked: Scout —result→ Scribe.');
    expect(t.engine.triggers.list()).toEqual([]);
  });

  it('/subscribe and /unsubscribe', async () => {
    const bot = t.engine.bots.findByName('Scribe')!;
    expect((await slash('subscribe', { bot: 'Scribe' }, { channelId: OPS })).content).toMatch(/🔔 This chat will get every run of \*\*🤖 Scribe\*\*/);
    expect(t.engine.subscriptions.isSubscribed(bot.id, 'discord', OPS)).toBe(true);
    expect((await slash('unsubscribe', { bot: 'Scribe' }, { channelId: OPS })).content).toMatch(/🔕/);
    expect(t.engine.subscriptions.isSubscribed(bot.id, 'discord', OPS)).toBe(false);
  });

  it('/delete asks to confirm with a button; the press replaces the question', async () => {
    createBot('Doomed');
    const ask = await slash('delete', { bot: 'Doomed' });
    expect(ask.content).toMatch(/Delete \*\*🤖 Doomed\*\*\?/);
    expect(ask.buttons.map(([l]) => l)).toEqual(['🗑 Delete Doomed', 'Keep it']);
    expect(t.engine.bots.findByName('Doomed')).toBeDefined();
    const done = await press(ask, /Delete/);
    expect(done.ack).toBe(6); // deferred update: the question itself is edited
    expect(done.content).toBe('🗑 Deleted **🤖 Doomed**.');
    expect(done.messageId).toBe(ask.messageId);
    expect(fake.messages.get(ask.messageId!)).toMatchObject({ content: '🗑 Deleted **🤖 Doomed**.', components: [] });
    expect(t.engine.bots.findByName('Doomed')).toBeUndefined();
  });
});

describe('Discord: mistakes and strangers', () => {
  it('an unknown bot name gets a reply that repeats it and suggests the closest names', async () => {
    expect((await slash('run', { bot: 'Scot' })).content).toBe('⚠️ No bot named "Scot". Did you mean "Scout"?');
  });

  it('a stranger is refused ephemerally; nothing runs, changes or leaks', async () => {
    const scout = t.engine.bots.findByName('Scout')!;
    const runsBefore = t.engine.runner.listForBot(scout.id).length;
    const botsBefore = t.engine.bots.list().length;
    const refused = await slash('run', { bot: 'Scout' }, { userId: MALLORY });
    expect(refused).toMatchObject({ ack: 4, ephemeral: true });
    expect(refused.content).toBe(`🔒 Sorry, I only take commands from people on my allow list. Your user id is \`${MALLORY}\`; the owner can add it to DISCORD\\_ALLOWED\\_USERS.`);
    expect((await slash('newbot', { name: 'Evil', prompt: 'x' }, { userId: MALLORY })).ephemeral).toBe(true);
    expect((await slash('bots', {}, { userId: MALLORY })).content).not.toMatch(/Scout/);

    const ref = fake.autocomplete({ name: 'run', focusedOption: 'bot', value: '', userId: MALLORY, channelId: CHANNEL });
    const cb = await fake.waitForCall((c) => c.path === `/interactions/${ref.id}/${ref.token}/callback`);
    expect(cb.body).toEqual({ type: 8, data: { choices: [] } });

    const list = await slash('bots');
    const pressed = await press(list, /▶ Scout/, { userId: MALLORY });
    expect(pressed).toMatchObject({ ack: 4, ephemeral: true });

    expect(t.engine.bots.list()).toHaveLength(botsBefore);
    expect(t.engine.bots.findByName('Evil')).toBeUndefined();
    expect(t.engine.runner.listForBot(scout.id)).toHaveLength(runsBefore);
  });
});

describe('Discord: results come back to chat', () => {
  it('a run started through the REST API is posted to the subscribed channel', async () => {
    const bot = createBot('Watched', 'Watch the shop');
    t.engine.subscriptions.subscribe(bot.id, 'discord', OPS);
    const mark = fake.calls.length;
    const run = (await t.api('POST', `/api/bots/${bot.id}/run`, { input: 'from the dashboard' })).body;
    const posted = await fake.waitForCall((c) => c.seq >= mark && c.method === 'POST' && c.path === `/channels/${OPS}/messages`, 10_000);
    expect(posted.status).toBe(200);
    expect(posted.body.content).toMatch(new RegExp(`✅ \\*\\*🤖 Watched\\*\\* · run #${run.id} completed`));
    expect(posted.body.content).toContain('Input: from the dashboard');
    expect(posted.body.allowed_mentions).toEqual({ parse: [] });
  });

  it('a run that fails before it even starts is followed up after "Started", which stays', async () => {
    const bot = createBot('Broken');
    fs.rmSync(bot.docsPath, { recursive: true, force: true });
    fs.writeFileSync(bot.docsPath, 'not a folder'); // the run process cannot be prepared
    const started = await slash('run', { bot: 'Broken' });
    expect(started.content).toMatch(/▶ Started \*\*🤖 Broken\*\* · run #\d+/);
    const outcome = await fake.waitForCall((c) => c.method === 'POST' && c.path === `/webhooks/${fake.applicationId}/${started.ref.token}`, 10_000);
    expect(outcome.body.content).toMatch(/❌ \*\*🤖 Broken\*\* · run #\d+ failed/);
    expect(outcome.body.content).toContain('the run process could not be prepared');
    expect(outcome.seq).toBeGreaterThan(originalEdits(started.ref)[0]!.seq);
    expect(fake.messages.get(started.messageId!)!.content).toMatch(/▶ Started/);
  });

  it('run output cannot break out of its code block (```` in it, then a heading and a masked link)', async () => {
    createBot('Fencer', '````\n# heading [phish](https://evil.example)');
    const started = await slash('run', { bot: 'Fencer' });
    const outcome = await fake.waitForCall((c) => c.method === 'POST' && c.path === `/webhooks/${fake.applicationId}/${started.ref.token}`, 10_000);
    const content: string = outcome.body.content;
    expect(content.match(/```/g)).toHaveLength(2); // the block's own fences and nothing else
    const inside = /```\n([\s\S]*)\n```/.exec(content)![1]!;
    expect(inside).toContain('# heading [phish](https://evil.example)');
    expect(inside.replace(/\u200b/g, '')).toContain('Prompt: ````\n# heading');
  });

  it('a long outcome is split into messages of at most 2000 characters', async () => {
    const prompt = Array.from({ length: 60 }, (_, i) => `Line ${i}: ${'y'.repeat(60)}`).join('\n');
    createBot('Verbose', prompt);
    const started = await slash('run', { bot: 'Verbose' });
    await expect.poll(() => followUps(started.ref).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    const parts = followUps(started.ref);
    for (const p of parts) {
      expect(p.status).toBe(200);
      expect(p.body.content.length).toBeLessThanOrEqual(2000);
      expect((p.body.content.match(/```/g) ?? []).length % 2).toBe(0); // every code block closed
    }
    expect(parts.map((p) => p.body.content).join('\n')).toContain('Line 59: ');
  });

  it('a 429 on delivery is retried after retry_after', async () => {
    const bot = createBot('Limited');
    t.engine.subscriptions.subscribe(bot.id, 'discord', OPS);
    fake.failNext(
      { method: 'POST', path: `/channels/${OPS}/messages` },
      { status: 429, body: { message: 'You are being rate limited.', retry_after: 0.3, global: false }, headers: { 'retry-after': '0.3', 'x-ratelimit-scope': 'user' } },
    );
    const mark = fake.calls.length;
    t.engine.startRun(bot.id, { trigger: 'manual' });
    const delivered = await fake.waitForCall((c) => c.seq >= mark && c.path === `/channels/${OPS}/messages` && c.status === 200, 10_000);
    expect(delivered.body.content).toMatch(/Limited\*\* · run #\d+ completed/);
    const statuses = fake.calls.filter((c) => c.seq >= mark && c.path === `/channels/${OPS}/messages`).map((c) => c.status);
    expect(statuses).toEqual([429, 200]);
  });
});
