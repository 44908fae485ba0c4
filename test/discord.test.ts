/**
 * Discord chat-ops, as a person sees it: they use `/run bot:Scout` in a channel and the bot
 * answers. The real discord.js client logs in to a fake Discord (test/fakes/discord.ts: REST and
 * gateway on 127.0.0.1); the engine is the real one with the offline echo model, and live run
 * cards run on a clock the test moves (never, here: a card is edited when its run ends).
 */
import fs from 'node:fs';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { APIMessage } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ChatAdapter } from '../src/bot/adapter.ts';
import { startDiscord } from '../src/bot/discord/adapter.ts';
import { AppError } from '../src/engine/errors.ts';
import { startFakeDiscord, type DiscordCall, type FakeDiscord, type InteractionRef } from './fakes/discord.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';
import { ManualClock } from './helpers/clock.ts';

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
    ECHO_DELAY_MS: '150',
  });
  adapter = await startDiscord(t.engine, t.config, logger, { retryDelaysMs: [100, 200], delivery: { clock: new ManualClock() } });
  // The first run of a process builds the run process's bundle, holding up the event loop for a
  // moment; a first /run should not spend Discord's 3-second window on it.
  const warmup = await t.engine.createBot({ name: 'Warmup', prompt: 'x' });
  await t.waitForRun((await t.engine.startRun(warmup.id, { trigger: 'manual' })).id);
  await t.engine.deleteBot(warmup.id);
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
  /** How the interaction was first acknowledged (4 reply, 5 deferred reply, 6 deferred update, 7 update). */
  ack: number;
  messageId?: string;
  ref: InteractionRef;
}

function buttonsOf(body: any): [string, string][] {
  return (body?.components ?? []).flatMap((row: any) => row.components.map((b: any) => [b.label, b.custom_id]));
}

const callbackOf = (ref: InteractionRef) => fake.waitForCall((c) => c.path === `/interactions/${ref.id}/${ref.token}/callback` && c.status < 300);

/** The first answer to an interaction: an immediate reply or update, or the deferred one once edited. */
async function answerTo(ref: InteractionRef): Promise<Seen> {
  const cb = await callbackOf(ref);
  if (cb.body.type === 4 || cb.body.type === 7) {
    const d = cb.body.data;
    const messageId = fake.interactions.get(ref.id)!.originalMessageId;
    return { content: d.content ?? '', embeds: d.embeds ?? [], buttons: buttonsOf(d), ephemeral: ((d.flags ?? 0) & EPHEMERAL) !== 0, ack: cb.body.type, ...(messageId ? { messageId } : {}), ref };
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
async function press(on: { buttons: [string, string][]; messageId?: string }, label: RegExp, opts: { userId?: string; channelId?: string } = {}): Promise<Seen> {
  const customId = on.buttons.find(([l]) => label.test(l))?.[1];
  if (!customId || !on.messageId) throw new Error(`no button ${label} in ${JSON.stringify(on.buttons)}`);
  const ref = fake.buttonPress({ customId, userId: opts.userId ?? ALICE, channelId: opts.channelId ?? CHANNEL, messageId: on.messageId });
  return answerTo(ref);
}

/** The message as it is now (after edits). */
function now(messageId: string): APIMessage {
  return fake.messages.get(messageId)!;
}

/** Waits until the interaction's own message shows `re`. */
async function becomes(on: Seen, re: RegExp): Promise<APIMessage> {
  await expect.poll(() => now(on.messageId!)?.content, { timeout: 10_000 }).toMatch(re);
  return now(on.messageId!);
}

/** Messages the bot posted into a channel (outside interactions) since call `mark`. */
function channelPosts(channelId: string, mark = 0): DiscordCall[] {
  return fake.calls.filter((c) => c.seq >= mark && c.method === 'POST' && c.path === `/channels/${channelId}/messages` && c.status === 200);
}

const createBot = (name: string, prompt = `You are ${name}.`) => t.engine.createBot({ name, prompt });
const runIdOf = (s: { content: string }) => Number(/run #(\d+)/.exec(s.content)![1]);

describe('Discord: starting up', () => {
  it('registers the slash commands for DISCORD_GUILD_ID with typed options, /cancel included', () => {
    const commands = fake.registeredCommands.guilds[GUILD] ?? [];
    expect(commands.map((c) => c.name)).toEqual([
      'bots', 'run', 'stop', 'status', 'results', 'logs', 'newbot', 'schedule', 'pause', 'resume', 'link', 'unlink',
      'subscribe', 'unsubscribe', 'mute', 'pipelines', 'runpipeline', 'delete', 'approvals', 'task', 'cancel', 'help',
    ]);
    expect(fake.registeredCommands.global).toEqual([]);
    const byName = Object.fromEntries(commands.map((c) => [c.name, c.options ?? []]));
    expect(byName.run).toEqual([
      expect.objectContaining({ name: 'bot', type: 3, required: true, autocomplete: true }),
      expect.objectContaining({ name: 'input', type: 3, required: false }),
    ]);
    expect(byName.newbot!.map((o: any) => [o.name, o.required])).toEqual([['name', false], ['prompt', false], ['template', false]]);
    expect((byName.newbot!.find((o: any) => o.name === 'template') as any).choices.map((c: any) => c.value)).toEqual(['ebay-scout', 'dev-bot', 'test-bot', 'researcher']);
    expect((byName.subscribe!.find((o: any) => o.name === 'policy') as any).choices.map((c: any) => c.value)).toEqual(['all', 'failures', 'new']);
    expect(byName.runpipeline![0]).toMatchObject({ name: 'pipeline', required: true, autocomplete: true });
    // Required options first, as Discord demands.
    expect(byName.unlink!.map((o: any) => [o.name, o.required])).toEqual([['bot', true], ['target', true], ['event', false]]);
    expect(logLines.some((l) => l.msg === `registered the slash commands for guild ${GUILD}`)).toBe(true);
  });

  it('without DISCORD_GUILD_ID registers globally; with DISCORD_ALLOWED_USERS empty nobody may command', async () => {
    const other = await startFakeDiscord();
    const lines: string[] = [];
    const own = pino({ level: 'info' }, new Writable({ write: (c: Buffer, _e, done) => (lines.push(String(c)), done()) }));
    const config = { ...t.config, discord: { token: 'other.token.x', apiBase: other.apiBase, allowedUsers: [] } };
    const second = await startDiscord(t.engine, config, own);
    try {
      expect(other.registeredCommands.global).toHaveLength(22);
      expect(lines.join('')).toMatch(/DISCORD_ALLOWED_USERS is empty: only chat users linked by pairing may command the Discord bot/);
      const ref = other.slashCommand({ name: 'bots', userId: ALICE });
      const refused = await other.waitForCall((c) => c.path === `/interactions/${ref.id}/${ref.token}/callback`);
      expect(refused.body).toMatchObject({ type: 4, data: { flags: EPHEMERAL, content: expect.stringMatching(/^🔒 I don't know you yet/) } });
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
      await refused.stop();
      await new Promise((r) => setTimeout(r, 200));
      expect(rejections).toEqual([]);
    } finally {
      process.off('unhandledRejection', onRejection);
      await strict.close();
    }
  });

  it('/help is answered at once, inside Discord’s 3-second window', async () => {
    const help = await slash('help');
    expect(help.ack).toBe(4);
    expect(help.ephemeral).toBe(false);
    expect(help.content).toContain('`/run <bot> [input…]` — Run a bot now');
  });
});

describe('Discord: creating and running bots', () => {
  it('/newbot name:Scout prompt:… creates the bot, subscribes this channel and offers the schedule as choices', async () => {
    const reply = await slash('newbot', { name: 'Scout', prompt: 'Find *cheap* Nike Air Max' });
    expect(reply.content).toMatch(/✅ Created \*\*🤖 Scout\*\* \(model echo\)/);
    const bot = (await t.engine.bots.findByName('Scout'))!;
    expect(bot.prompt).toBe('Find *cheap* Nike Air Max');
    expect(await t.engine.subscriptions.isSubscribed(bot.id, 'discord', CHANNEL)).toBe(true);
    expect(reply.buttons.map(([l]) => l)).toEqual(['✓ Only when started', 'Every 30 min', 'Every hour', 'Daily 8:00', '✅ Done', '▶ Run now']);
    const changed = await press(reply, /Every 30 min/);
    expect(changed.ack).toBe(7); // the same message, updated
    expect(changed.content).toContain('Schedule: every 30 minutes (`*/30 * * * *`).');
    expect((await t.engine.bots.findByName('Scout'))!.schedule).toBe('*/30 * * * *');
    await press({ ...reply, buttons: changed.buttons }, /Only when started/);
    expect((await t.engine.bots.findByName('Scout'))!.schedule).toBeNull();
  });

  it('/newbot name:"Quoted Name" makes a bot named Quoted Name, which every command then reaches', async () => {
    const reply = await slash('newbot', { name: '"Quoted Name"', prompt: 'x' });
    expect(reply.content).toMatch(/Created \*\*🤖 Quoted Name\*\*/);
    expect((await t.engine.bots.list()).map((b) => b.name)).not.toContain('"Quoted Name"');
    expect((await slash('status', { bot: '"Quoted Name"' })).content).toMatch(/🤖 Quoted Name\*\* — idle/);
    expect((await slash('status', { bot: 'quoted name' })).content).toMatch(/🤖 Quoted Name\*\* — idle/);
  });

  it('/newbot with nothing offers the templates; template:researcher creates one at once', async () => {
    const pick = await slash('newbot');
    expect(pick.buttons.map(([, id]) => id)).toEqual(['nbtpl:ebay-scout', 'nbtpl:dev-bot', 'nbtpl:test-bot', 'nbtpl:researcher', 'nbscratch:-']);
    const scratch = await press(pick, /From scratch/);
    expect(scratch.content).toBe('Send `/newbot name:<name> prompt:<what it should do>`.');
    const made = await slash('newbot', { template: 'researcher' });
    expect(made.content).toMatch(/Created \*\*🔎 Researcher\*\*/);
    expect(await t.engine.bots.findByName('Researcher')).toMatchObject({ emoji: '🔎', tools: ['web_search', 'web_fetch'] });
  });

  it('autocompletes bot names in `bot` and `target`, pipeline names in `pipeline`', async () => {
    await createBot('Scribe');
    const ref = fake.autocomplete({ name: 'run', focusedOption: 'bot', value: 'sc', userId: ALICE, channelId: CHANNEL });
    const cb = await fake.waitForCall((c) => c.path === `/interactions/${ref.id}/${ref.token}/callback`);
    expect(cb.body).toEqual({ type: 8, data: { choices: [{ name: 'Scout', value: 'Scout' }, { name: 'Scribe', value: 'Scribe' }] } });
    await t.engine.pipelines.create({ name: 'Nightly', steps: ['Scribe'] });
    const ref2 = fake.autocomplete({ name: 'runpipeline', focusedOption: 'pipeline', value: 'nig', userId: ALICE, channelId: CHANNEL });
    const cb2 = await fake.waitForCall((c) => c.path === `/interactions/${ref2.id}/${ref2.token}/callback`);
    expect(cb2.body.data.choices).toEqual([{ name: 'Nightly', value: 'Nightly' }]);
  });

  it('/run answers with the run’s card, which is edited into the outcome: no follow-up, no channel message', async () => {
    const mark = fake.calls.length;
    const card = await slash('run', { bot: 'scout', input: 'size 43' });
    expect(card.ack).toBe(4);
    expect(card.content).toMatch(/^▶ \*\*🤖 Scout\*\* · run #\d+ running · 0 s/);
    const runId = runIdOf(card);
    expect(card.buttons).toEqual([['⏹ Stop', `cancel:${runId}`], ['📜 Logs', expect.stringMatching(/^logs:\d+$/)]]);
    expect(await t.engine.runner.get(runId)).toMatchObject({ trigger: `discord:${ALICE}`, input: 'size 43' });
    const outcome = await becomes(card, new RegExp(`^✓ \\*\\*🤖 Scout\\*\\* · run #${runId} completed in`));
    expect(outcome.embeds[0]!.description).toBe('```\nPrompt: Find *cheap* Nike Air Max\nInput: size 43\n```');
    expect(buttonsOf(outcome).map(([l]) => l)).toEqual(['▶ Run again', '📜 Logs']);
    expect(fake.calls.filter((c) => c.seq >= mark && c.method === 'POST' && c.path === `/webhooks/${fake.applicationId}/${card.ref.token}`)).toEqual([]);
    // The channel is subscribed too, but sees the run once: on the card.
    expect(channelPosts(CHANNEL, mark)).toEqual([]);
  });

  it('⏹ Stop on the card stops the run; the card becomes its cancelled outcome', async () => {
    await createBot('Sleepy');
    const card = await slash('run', { bot: 'Sleepy' });
    const runId = runIdOf(card);
    const ref = fake.buttonPress({ customId: `cancel:${runId}`, userId: ALICE, channelId: CHANNEL, messageId: card.messageId! });
    const ack = await callbackOf(ref);
    expect(ack.body).toEqual({ type: 6 }); // acknowledged; the card speaks for itself
    const shown = await becomes(card, new RegExp(`^■ \\*\\*🤖 Sleepy\\*\\* · run #${runId} cancelled`));
    expect(shown.embeds[0]!.description).toContain(`stopped from discord by user ${ALICE}`);
    expect(fake.answersTo(ref)).toEqual([]);
  });

  it('an output over 3,500 characters is attached as a .txt beside a short summary', async () => {
    const prompt = Array.from({ length: 100 }, (_, i) => `Line ${i}: ${'y'.repeat(60)}`).join('\n');
    await createBot('Verbose', prompt);
    const card = await slash('run', { bot: 'Verbose' });
    const runId = runIdOf(card);
    const edit = await fake.waitForCall((c) => c.method === 'PATCH' && c.path === `/webhooks/${fake.applicationId}/${card.ref.token}/messages/@original` && c.files.length > 0, 10_000);
    const run = await t.engine.runner.get(runId);
    expect(edit.files).toEqual([expect.objectContaining({ filename: `verbose-run-${runId}.txt`, text: run.output })]);
    expect(edit.body.content).toMatch(new RegExp(`📎 The whole output \\(${run.output!.length.toLocaleString('en-US')} characters\\) is in verbose-run-${runId}\\.txt\\.`));
    expect(now(card.messageId!).attachments).toEqual([expect.objectContaining({ filename: `verbose-run-${runId}.txt` })]);
    expect(edit.body.embeds[0].description.length).toBeLessThan(700);
  });

  it('/bots pages with more than 5 bots: ◀ ▶ update the same message', async () => {
    const total = (await t.engine.bots.list()).length;
    expect(total).toBeGreaterThan(5);
    const list = await slash('bots');
    expect(list.content).toMatch(new RegExp(`^\\*\\*Bots \\(${total}\\)\\*\\* · page 1 of ${Math.ceil(total / 4)}`));
    expect(list.buttons.filter(([l]) => l.startsWith('▶ '))).toHaveLength(4);
    expect(list.buttons.at(-1)).toEqual(['Next ▶', 'bots:1']);
    const next = await press(list, /Next/);
    expect(next.ack).toBe(7);
    expect(next.content).toMatch(/page 2 of/);
    expect(now(list.messageId!).content).toBe(next.content);
  });

  it('/logs shows the tail of the last run; 🔄 Refresh redraws it in place', async () => {
    const logs = await slash('logs', { bot: 'Scout' });
    expect(logs.content).toMatch(/\*\*🤖 Scout\*\* · run #\d+ ✓ completed/);
    expect(logs.embeds[0]!.description).toMatch(/^```\n[\s\S]*echo: composing the answer[\s\S]*\n```$/);
    const refreshed = await press(logs, /Refresh/);
    expect(refreshed).toMatchObject({ ack: 7, messageId: logs.messageId });
    expect(refreshed.content).toBe(logs.content);
  });

  it('/results shows the latest results as embeds with title, link and excerpt', async () => {
    const bot = (await t.engine.bots.findByName('Scout'))!;
    await t.engine.results.record(bot.id, null, { title: 'Nike Air Max 90', url: 'https://example.com/item/1', content: 'Great condition, 45 €' });
    const reply = await slash('results', { bot: 'Scout' });
    expect(reply.content).toMatch(/\*\*🤖 Scout\*\* — latest 2 results/);
    expect(reply.embeds[0]).toMatchObject({ title: 'Nike Air Max 90', url: 'https://example.com/item/1', description: 'Great condition, 45 €' });
    expect(reply.embeds[1]!.title).toBe('Prompt: Find \\*cheap\\* Nike Air Max');
  });

  it('/results: links and markdown a bot wrote into a result are shown as typed; a link Discord cannot parse is left out', async () => {
    const bot = await createBot('Phisher');
    await t.engine.results.record(bot.id, null, { title: '**Fake** [login](https://evil.example)', url: 'https://exa mple.com/item 1', content: 'Price dropped! [Click to claim](https://evil.example/phish)\n# BIG' });
    const reply = await slash('results', { bot: 'Phisher' });
    expect(reply.embeds[0]).toMatchObject({ title: '\\*\\*Fake\\*\\* \\[login](https://evil.example)', description: 'Price dropped! \\[Click to claim](https://evil.example/phish)\n\\# BIG' });
    expect(reply.embeds[0]).not.toHaveProperty('url');
  });

  it('/status, and its Pause button', async () => {
    const status = await slash('status', { bot: 'Scout' });
    expect(status.content).toMatch(/Runs: 1 \(1 completed\) · success rate 100%/);
    expect(status.content).toContain('This chat gets: every run');
    const paused = await press(status, /Pause/);
    expect(paused.content).toMatch(/⏸ Paused \*\*🤖 Scout\*\*/);
    expect((await t.engine.bots.findByName('Scout'))!.paused).toBe(true);
    const resumed = await press(paused, /Resume/);
    expect(resumed.content).toMatch(/▶ Resumed \*\*🤖 Scout\*\*/);
  });

  it('/schedule, /link, /unlink, /subscribe with a policy, /mute', async () => {
    expect((await slash('schedule', { bot: 'Scribe', spec: 'every 30m' })).content).toBe('⏰ **🤖 Scribe** runs every 30 minutes (`*/30 * * * *`).');
    expect((await slash('link', { bot: 'Scout', event: 'result', target: 'Scribe' })).content).toBe('🔗 Linked: when **🤖 Scout** finds a new result, **🤖 Scribe** starts with its output as input.');
    expect((await slash('unlink', { bot: 'Scout', target: 'Scribe' })).content).toBe('✂️ Unlinked: Scout —result→ Scribe.');
    const bot = (await t.engine.bots.findByName('Scribe'))!;
    const sub = await slash('subscribe', { bot: 'Scribe', policy: 'failures' }, { channelId: OPS });
    expect(sub.content).toMatch(/🔔 This chat will get the failed runs of \*\*🤖 Scribe\*\*/);
    expect((await t.engine.subscriptions.find(bot.id, 'discord', OPS))!.policy).toBe('failures');
    expect((await slash('mute', { bot: 'Scribe', duration: '1d' }, { channelId: OPS })).content).toMatch(/🔕 \*\*🤖 Scribe\*\* is muted here for 1 d/);
    expect((await slash('unsubscribe', { bot: 'Scribe' }, { channelId: OPS })).content).toMatch(/🔕/);
  });

  it('/delete asks to confirm with a button; the press replaces the question', async () => {
    await createBot('Doomed');
    const ask = await slash('delete', { bot: 'Doomed' });
    expect(ask.buttons.map(([l]) => l)).toEqual(['🗑 Delete Doomed', 'Keep it']);
    const done = await press(ask, /Delete/);
    expect(done.ack).toBe(7);
    expect(done.content).toBe('🗑 Deleted **🤖 Doomed**.');
    expect(fake.messages.get(ask.messageId!)).toMatchObject({ content: '🗑 Deleted **🤖 Doomed**.', components: [] });
    expect(await t.engine.bots.findByName('Doomed')).toBeUndefined();
  });
});

describe('Discord: pipelines', () => {
  it('/runpipeline answers "Started", then each step posts its own card in the channel, edited into its outcome', async () => {
    const list = await slash('pipelines');
    expect(list.content).toMatch(/🧩 \*\*Nightly\*\* — 🤖 Scribe/);
    const mark = fake.calls.length;
    const started = await slash('runpipeline', { pipeline: 'nightly', input: 'go' }, { channelId: OPS });
    expect(started.content).toMatch(/^🧩 Started \*\*Nightly\*\* · pipeline run #\d+: 🤖 Scribe\./);
    await expect.poll(() => channelPosts(OPS, mark).length, { timeout: 10_000 }).toBe(1);
    const [step] = channelPosts(OPS, mark);
    expect(step!.body.content).toMatch(/\*\*🤖 Scribe\*\* · run #\d+/);
    const id = (step!.response as APIMessage).id;
    await expect.poll(() => now(id).content, { timeout: 10_000 }).toMatch(/✓ \*\*🤖 Scribe\*\* · run #\d+ completed[\s\S]*🧩 Nightly · step 1\/1/);
    expect(fake.calls.some((c) => c.method === 'PATCH' && c.path === `/channels/${OPS}/messages/${id}`)).toBe(true);
  });
});

describe('Discord: mistakes and strangers', () => {
  it('every error reply is ephemeral (flags: 64): only the person who made the mistake sees it', async () => {
    const mistakes: [string, Record<string, string>][] = [
      ['run', { bot: 'Scot' }],
      ['status', {}],
      ['newbot', { name: 'Lonely' }],
      ['newbot', { name: 'Scout', prompt: 'again' }],
      ['mute', { bot: 'Scout', duration: 'soon' }],
      ['link', { bot: 'Scout', event: 'completed', target: 'Nobody' }],
      ['runpipeline', { pipeline: 'Nope' }],
      ['schedule', { bot: 'Scout', spec: 'whenever' }],
    ];
    for (const [name, options] of mistakes) {
      const ref = fake.slashCommand({ name, options, userId: ALICE, channelId: CHANNEL });
      await callbackOf(ref);
      const answers = fake.answersTo(ref);
      expect(answers.length, `/${name}`).toBeGreaterThan(0);
      for (const m of answers) {
        expect(m.content, `/${name}`).toMatch(/^⚠️ /);
        expect(m.flags! & EPHEMERAL, `/${name} ${m.content}`).toBe(EPHEMERAL);
      }
    }
    expect((await slash('run', { bot: 'Scot' })).content).toBe('⚠️ No bot named "Scot". Did you mean "Scout"?');
    // Buttons too: a bot deleted since, a run that has ended.
    for (const customId of ['run:999999', `cancel:${(await t.engine.runner.listForBot((await t.engine.bots.findByName('Scout'))!.id))[0]!.id}`]) {
      const ref = fake.buttonPress({ customId, userId: ALICE, channelId: CHANNEL, messageId: '123456789012345678' });
      const cb = await callbackOf(ref);
      expect(cb.body).toMatchObject({ type: 4, data: { flags: EPHEMERAL, content: expect.stringMatching(/^⚠️ /) } });
    }
  });

  it('an answer that takes longer than 2 s is deferred; if it then fails, the failure is still ephemeral', async () => {
    await createBot('Slowdel');
    const ask = await slash('delete', { bot: 'Slowdel' });
    const slowFail = vi.spyOn(t.engine, 'deleteBot').mockImplementationOnce(() => new Promise((_, reject) => setTimeout(() => reject(new AppError('INTERNAL', 'Its docs folder could not be removed.')), 2300)));
    try {
      const ref = fake.buttonPress({ customId: ask.buttons[0]![1], userId: ALICE, channelId: CHANNEL, messageId: ask.messageId! });
      expect((await callbackOf(ref)).body).toEqual({ type: 6 }); // deferred within the window
      await expect.poll(() => fake.answersTo(ref).length, { timeout: 5000 }).toBe(1);
      expect(fake.answersTo(ref)[0]).toMatchObject({ content: '⚠️ Its docs folder could not be removed.', flags: EPHEMERAL });
      expect(now(ask.messageId!).content).toMatch(/Delete \*\*🤖 Slowdel\*\*\?/); // the question stays
    } finally {
      slowFail.mockRestore();
    }
  });

  it('a reply that fails with 5xx is retried', async () => {
    fake.failNext({ method: 'POST', path: /^\/interactions\/\d+\/[^/]+\/callback$/ }, { status: 502, body: { message: 'Bad Gateway', code: 0 } });
    const ref = fake.slashCommand({ name: 'help', userId: ALICE, channelId: CHANNEL });
    const ok = await callbackOf(ref);
    const tries = fake.calls.filter((c) => c.path === `/interactions/${ref.id}/${ref.token}/callback`).map((c) => c.status);
    expect(tries).toEqual([502, ok.status]);
    expect(ok.body.data.content).toMatch(/command your bots/);
  });

  it('when Discord refuses an answer, a plain ⚠️ is shown instead', async () => {
    fake.failNext(
      { method: 'POST', path: /^\/interactions\/\d+\/[^/]+\/callback$/ },
      { status: 400, body: { message: 'Invalid Form Body', code: 50035, errors: { data: { embeds: { 0: { url: { _errors: [{ code: 'URL_TYPE_INVALID_URL', message: 'Not a well formed URL.' }] } } } } } } },
    );
    const ref = fake.slashCommand({ name: 'help', userId: ALICE, channelId: CHANNEL });
    const shown = await callbackOf(ref);
    expect(shown.body.data.content).toBe('⚠️ I could not show the answer here; the server log has the details.');
    expect(logLines.some((l) => l.msg === 'could not post the answer to a Discord interaction')).toBe(true);
  });

  it('a stranger is refused ephemerally; nothing runs, changes or leaks', async () => {
    const scout = (await t.engine.bots.findByName('Scout'))!;
    const runsBefore = (await t.engine.runner.listForBot(scout.id)).length;
    const botsBefore = (await t.engine.bots.list()).length;
    const refused = await slash('run', { bot: 'Scout' }, { userId: MALLORY });
    expect(refused).toMatchObject({ ack: 4, ephemeral: true });
    expect(refused.content).toMatch(/^🔒 I don't know you yet. Your pairing code is `[A-Z2-9]{8}` \(valid 1 hour\)/);
    expect((await slash('newbot', { name: 'Evil', prompt: 'x' }, { userId: MALLORY })).ephemeral).toBe(true);
    const ref = fake.autocomplete({ name: 'run', focusedOption: 'bot', value: '', userId: MALLORY, channelId: CHANNEL });
    const cb = await fake.waitForCall((c) => c.path === `/interactions/${ref.id}/${ref.token}/callback`);
    expect(cb.body).toEqual({ type: 8, data: { choices: [] } });
    const status = await slash('status', { bot: 'Scout' });
    expect(await press(status, /Run/, { userId: MALLORY })).toMatchObject({ ack: 4, ephemeral: true });
    expect(await t.engine.bots.list()).toHaveLength(botsBefore);
    expect(await t.engine.runner.listForBot(scout.id)).toHaveLength(runsBefore);
  });
});

describe('Discord: runs come back to chat', () => {
  it('a run started through the REST API is posted to the subscribed channel', async () => {
    const bot = await createBot('Watched', 'Watch the shop');
    await t.engine.subscriptions.subscribe(bot.id, 'discord', OPS);
    const mark = fake.calls.length;
    const run = (await t.api('POST', `/api/bots/${bot.id}/run`, { input: 'from the dashboard' })).body;
    const posted = await fake.waitForCall((c) => c.seq >= mark && c.method === 'POST' && c.path === `/channels/${OPS}/messages`, 10_000);
    expect(posted.status).toBe(200);
    expect(posted.body.content).toMatch(new RegExp(`✓ \\*\\*🤖 Watched\\*\\* · run #${run.id} completed .*\\(from the dashboard\\)`));
    expect(posted.body.embeds[0].description).toContain('Input: from the dashboard');
    expect(posted.body.allowed_mentions).toEqual({ parse: [] });
  });

  it('one outcome per chat: a bot made in a DM and run in a channel is not posted to the DM again', async () => {
    const dm = fake.slashCommand({ name: 'newbot', options: { name: 'Roamer', prompt: 'go places' }, userId: ALICE });
    await callbackOf(dm);
    const bot = (await t.engine.bots.findByName('Roamer'))!;
    const dmChannel = fake.interactions.get(dm.id)!.payload.channel.id as string;
    expect(await t.engine.subscriptions.isSubscribed(bot.id, 'discord', dmChannel)).toBe(true);
    const mark = fake.calls.length;
    const card = await slash('run', { bot: 'Roamer' });
    await becomes(card, /completed/);
    const other = await t.engine.startRun(bot.id, { trigger: 'manual' }); // someone else's run still reaches the DM
    await expect.poll(() => channelPosts(dmChannel, mark).length, { timeout: 10_000 }).toBe(1);
    expect(channelPosts(dmChannel, mark)[0]!.body.content).toMatch(new RegExp(`run #${other.id} completed`));
  });

  it('a run that fails before it even starts shows as failed on its card', async () => {
    const bot = await createBot('Broken');
    fs.rmSync(bot.docsPath, { recursive: true, force: true });
    fs.writeFileSync(bot.docsPath, 'not a folder');
    const card = await slash('run', { bot: 'Broken' });
    expect(card.ephemeral).toBe(false);
    const shown = await becomes(card, /^✗ \*\*🤖 Broken\*\* · run #\d+ failed/);
    expect(shown.embeds[0]!.description).toContain('the run process could not be prepared');
  });

  it('run output cannot break out of its code block (```` in it, then a heading and a masked link)', async () => {
    await createBot('Fencer', '````\n# heading [phish](https://evil.example)');
    const card = await slash('run', { bot: 'Fencer' });
    const shown = await becomes(card, /completed/);
    const d = shown.embeds[0]!.description!;
    expect(d.match(/```/g)).toHaveLength(2);
    expect(d.replace(/\u200b/g, '')).toContain('Prompt: ````\n# heading [phish](https://evil.example)');
  });

  it('a 429 on delivery is retried after retry_after', async () => {
    const bot = await createBot('Limited');
    await t.engine.subscriptions.subscribe(bot.id, 'discord', OPS);
    fake.failNext(
      { method: 'POST', path: `/channels/${OPS}/messages` },
      { status: 429, body: { message: 'You are being rate limited.', retry_after: 0.3, global: false }, headers: { 'retry-after': '0.3', 'x-ratelimit-scope': 'user' } },
    );
    const mark = fake.calls.length;
    await t.engine.startRun(bot.id, { trigger: 'manual' });
    const delivered = await fake.waitForCall((c) => c.seq >= mark && c.path === `/channels/${OPS}/messages` && c.status === 200, 10_000);
    expect(delivered.body.content).toMatch(/Limited\*\* · run #\d+ completed/);
    expect(fake.calls.filter((c) => c.seq >= mark && c.path === `/channels/${OPS}/messages`).map((c) => c.status)).toEqual([429, 200]);
  });
});
