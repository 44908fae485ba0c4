import type { BotRow } from '../../engine/db/schema.ts';
import type { Engine } from '../../engine/engine.ts';
import { AppError } from '../../engine/errors.ts';
import { suggestedModels } from '../../engine/providers/models.ts';
import { parseScheduleSpec } from '../../engine/schedule-spec.ts';
import { BOT_TEMPLATES, findTemplate, type BotTemplate } from '../../engine/templates.ts';
import { botButtons, botLabel, scheduleSpans } from '../format.ts';
import { bold, code, line, say, type Button, type Message } from '../message.ts';
import { startsQuoted, unquote } from '../parse.ts';
import type { Command, CommandContext, FlowState } from './types.ts';

/** Schedules offered as buttons, by the key their button carries. */
const SCHEDULES: { key: string; label: string; spec: string | null }[] = [
  { key: 'manual', label: 'Only when started', spec: null },
  { key: '30m', label: 'Every 30 min', spec: 'every 30m' },
  { key: '1h', label: 'Every hour', spec: 'every 1h' },
  { key: 'daily', label: 'Daily 8:00', spec: '0 8 * * *' },
];
/** Most model buttons in one row (Discord takes five). */
const MAX_MODEL_BUTTONS = 5;
/** Most words offered as a bot's name when a name with spaces came without quotes. */
const MAX_NAME_WORDS = 3;

/** A name the chat may still take: the template's, else with a number (`eBay-Scout 2`). */
async function freeName(engine: Engine, name: string, ownerId: number): Promise<string> {
  if (!(await engine.bots.findByName(name, ownerId))) return name;
  for (let i = 2; ; i++) if (!(await engine.bots.findByName(`${name} ${i}`, ownerId))) return `${name} ${i}`;
}

/**
 * Creates a bot and subscribes the chat that asked for it (its topic on Telegram), so its results
 * come back there. It gets the first suggested model of a configured provider, else `echo`.
 * @throws {AppError} VALIDATION_FAILED, BOT_NAME_TAKEN
 */
async function createBot(ctx: CommandContext, input: { name: string; prompt: string; template?: BotTemplate }): Promise<BotRow> {
  const model = suggestedModels(ctx.engine.config).find((m) => m !== 'echo') ?? 'echo';
  const t = input.template;
  // The bot belongs to the account the chat acts as; its name is unique among that account's bots.
  const bot = await ctx.engine.createBot(
    {
      name: input.name,
      prompt: input.prompt,
      model,
      ...(t ? { emoji: t.emoji, description: t.description, tools: t.tools, schedule: t.schedule || null } : {}),
    },
    ctx.account,
  );
  await ctx.engine.subscriptions.subscribe(bot.id, ctx.caller.platform, ctx.caller.chatId, { threadId: ctx.caller.threadId ?? null });
  return bot;
}

/** The card of a new bot: what it is, and its model and schedule as choices (each press redraws it). */
function setupCard(engine: Engine, bot: BotRow, headline: 'created' | 'changed'): Message {
  const models = suggestedModels(engine.config);
  const rows: Button[][] = [];
  if (models.length > 1) {
    rows.push(
      models.slice(0, MAX_MODEL_BUTTONS).map((m, i) => ({ label: `${m === bot.model ? '✓ ' : ''}${m}`, action: `nbmodel:${bot.id}:${i}`, style: m === bot.model ? 'primary' : 'secondary' })),
    );
  }
  const current = SCHEDULES.find((s) => (s.spec === null ? bot.schedule === null : parseScheduleSpec(s.spec) === bot.schedule));
  rows.push(SCHEDULES.map((s) => ({ label: `${s === current ? '✓ ' : ''}${s.label}`, action: `nbsched:${bot.id}:${s.key}`, style: s === current ? 'primary' : 'secondary' })));
  rows.push([
    { label: '✅ Done', action: `nbdone:${bot.id}`, style: 'success' },
    { label: '▶ Run now', action: `run:${bot.id}`, style: 'primary' },
  ]);
  return {
    blocks: [
      line(headline === 'created' ? '✅ Created ' : '⚙️ ', bold(botLabel(bot)), ` (model ${bot.model}). Its results will come to this chat.`),
      line('Schedule: ', ...scheduleSpans(bot.schedule), '.'),
      line(models.length > 1 ? 'Pick its model and when it runs:' : 'Pick when it runs (set OPENAI_API_KEY or ANTHROPIC_API_KEY for more models than echo):'),
    ],
    buttons: rows,
  };
}

function chunk<T>(items: T[], size: number): T[][] {
  const rows: T[][] = [];
  for (let i = 0; i < items.length; i += size) rows.push(items.slice(i, i + size));
  return rows;
}

/** The template picker of `/newbot` without arguments. */
function templatePicker(): Message {
  return {
    blocks: [line('Let’s make a bot. Start from a template, or from scratch:')],
    // One row per template and one for "from scratch": Discord shows five rows, so the templates
    // share rows once there are more than four.
    buttons: [
      ...chunk(
        BOT_TEMPLATES.map((t) => ({ label: `${t.emoji} ${t.name}${BOT_TEMPLATES.length <= 4 ? ` — ${t.description}` : ''}`, action: `nbtpl:${t.id}`, style: 'secondary' as const })),
        Math.ceil(BOT_TEMPLATES.length / 4),
      ),
      [{ label: '✏️ From scratch', action: 'nbscratch:-', style: 'primary' as const }],
    ],
  };
}

function askName(ctx: CommandContext, text: string): Message {
  ctx.flow.set({ command: 'newbot', data: { step: 'name' } });
  return { ...say(text), expectReply: { placeholder: 'Bot name' } };
}

function askPrompt(ctx: CommandContext, name: string): Message {
  ctx.flow.set({ command: 'newbot', data: { step: 'prompt', name } });
  return { ...say('What should ', bold(name), ' do? Send its prompt: the instructions it runs with. (or /cancel)'), expectReply: { placeholder: 'Prompt' } };
}

/**
 * `/newbot <name> <prompt…>` creates a bot, subscribes this chat and offers its model and schedule
 * as buttons. Without arguments it offers the templates; on Telegram "from scratch" then asks for
 * the name and the prompt. A name with spaces needs quotes on Telegram: when the words after an
 * unquoted name look like more of it (`/newbot eBay Scout Pro Find more`), it asks which words are
 * the name instead of guessing.
 */
export const newbotCommand: Command = {
  name: 'newbot',
  creates: true,
  description: 'Create a bot: from a template, or /newbot <name> <prompt>',
  params: [
    { name: 'name', kind: 'word', required: false, description: 'The new bot’s name (quote it when it has spaces)' },
    { name: 'prompt', kind: 'text', required: false, description: 'What the bot should do: its instructions' },
    { name: 'template', kind: 'choice', required: false, discordOnly: true, description: 'Start from a template instead', choices: BOT_TEMPLATES.map((t) => t.id) },
  ],
  async run(ctx, args) {
    if (args.template) {
      const t = findTemplate(args.template);
      if (!t) throw new AppError('VALIDATION_FAILED', `No template "${args.template}": ${BOT_TEMPLATES.map((x) => x.id).join(', ')}.`);
      const bot = await createBot(ctx, { name: args.name ?? (await freeName(ctx.engine, t.name, ctx.account.userId)), prompt: args.prompt ?? t.prompt, template: t });
      return setupCard(ctx.engine, bot, 'created');
    }
    if (!args.name) return templatePicker();
    if (!args.prompt) {
      if (!ctx.canAsk) throw new AppError('VALIDATION_FAILED', `A new bot needs a name and a prompt. Usage: ${ctx.usage('newbot')}`);
      if (await ctx.engine.bots.findByName(args.name, ctx.account.userId)) return askName(ctx, `A bot named "${args.name}" already exists. What should the new bot be called? (or /cancel)`);
      return askPrompt(ctx, args.name);
    }
    const typed = ctx.typed?.trim();
    if (typed && !startsQuoted(typed)) {
      const words = typed.split(/\s+/);
      // "eBay Scout Pro Find more": is the name "eBay", "eBay Scout" or "eBay Scout Pro"?
      if (/^\p{Lu}/u.test(words[1] ?? '') && words.length > 2) {
        ctx.flow.set({ command: 'newbot', data: { step: 'pick-name', text: typed } });
        const n = Math.min(MAX_NAME_WORDS, words.length - 1);
        return {
          blocks: [
            line('Which words are the name? A name with spaces needs quotes, e.g. ', code(`/newbot "${words.slice(0, 2).join(' ')}" ${words.slice(2).join(' ')}`), '.'),
          ],
          buttons: Array.from({ length: n }, (_, i) => [{ label: `“${words.slice(0, i + 1).join(' ')}”`, action: `nbname:${i + 1}`, style: 'secondary' as const }]),
        };
      }
    }
    return setupCard(ctx.engine, await createBot(ctx, { name: args.name, prompt: args.prompt }), 'created');
  },

  async answer(ctx, state: FlowState, text) {
    const answer = unquote(text);
    if (state.data.step === 'name') {
      if (!answer || answer.length > 64) return askName(ctx, 'A name has 1 to 64 characters. What should the new bot be called?');
      const taken = await ctx.engine.bots.findByName(answer, ctx.account.userId);
      if (taken) return askName(ctx, `A bot named "${taken.name}" already exists. Send another name (or /cancel).`);
      return askPrompt(ctx, answer);
    }
    if (state.data.step === 'prompt') {
      ctx.flow.clear();
      return setupCard(ctx.engine, await createBot(ctx, { name: state.data.name!, prompt: text.trim() }), 'created');
    }
    return say('Please press one of the buttons above, or send /cancel.');
  },

  actions: {
    nbtpl: {
      mode: 'replace',
      writes: true,
      async run(ctx, id) {
        const t = findTemplate(id);
        if (!t) throw new AppError('VALIDATION_FAILED', 'That template no longer exists; send /newbot again.');
        return { message: setupCard(ctx.engine, await createBot(ctx, { name: await freeName(ctx.engine, t.name, ctx.account.userId), prompt: t.prompt, template: t }), 'created'), toast: `${t.emoji} ${t.name}` };
      },
    },
    nbscratch: {
      mode: 'reply',
      run(ctx) {
        if (!ctx.canAsk) return { message: say('Send ', code('/newbot name:<name> prompt:<what it should do>'), '.') };
        return { message: askName(ctx, 'What should the new bot be called? (or /cancel)') };
      },
    },
    nbname: {
      mode: 'replace',
      writes: true,
      async run(ctx, n) {
        const state = ctx.flow.get();
        if (state?.command !== 'newbot' || state.data.step !== 'pick-name') throw new AppError('VALIDATION_FAILED', 'This question has expired (or is someone else’s); send /newbot again.');
        ctx.flow.clear();
        const words = state.data.text!.split(/\s+/);
        const k = Math.min(Math.max(1, Number(n) || 1), words.length - 1);
        return { message: setupCard(ctx.engine, await createBot(ctx, { name: words.slice(0, k).join(' '), prompt: words.slice(k).join(' ') }), 'created') };
      },
    },
    nbmodel: {
      mode: 'replace',
      writes: true,
      async run(ctx, args) {
        const [id = '', i = ''] = args.split(':');
        const model = suggestedModels(ctx.engine.config)[Number(i)];
        if (!model) throw new AppError('VALIDATION_FAILED', 'That model is no longer offered; change it on the dashboard.');
        const bot = await ctx.engine.bots.update((await ctx.botById(id)).id, { model });
        return { message: setupCard(ctx.engine, bot, 'changed'), toast: `Model: ${model}` };
      },
    },
    nbsched: {
      mode: 'replace',
      writes: true,
      async run(ctx, args) {
        const [id = '', key = ''] = args.split(':');
        const choice = SCHEDULES.find((s) => s.key === key);
        if (!choice) throw new AppError('VALIDATION_FAILED', 'That schedule is no longer offered; use /schedule.');
        const bot = await ctx.engine.bots.update((await ctx.botById(id)).id, { schedule: choice.spec });
        return { message: setupCard(ctx.engine, bot, 'changed'), toast: choice.label };
      },
    },
    nbdone: {
      mode: 'replace',
      async run(ctx, id) {
        const bot = await ctx.botById(id);
        return {
          message: {
            blocks: [
              line('✅ ', bold(botLabel(bot)), ` is ready: model ${bot.model}, schedule `, ...scheduleSpans(bot.schedule), '.'),
              line('Run it with ', code(`/run ${bot.name}`), '; its results come to this chat.'),
            ],
            buttons: [botButtons(bot)],
          },
          toast: 'Ready',
        };
      },
    },
  },
};
