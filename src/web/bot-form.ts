import { assertMayCreate, type Caller } from '../engine/access.ts';
import type { BotRow } from '../engine/db/schema.ts';
import type { Engine } from '../engine/engine.ts';
import { AppError } from '../engine/errors.ts';
import { suggestedModels } from '../engine/providers/models.ts';

type Form = Record<string, string | string[] | undefined>;

/** How the New-bot form (seed 001's modal) says when a bot runs. */
export const SCHEDULE_MODES = ['manual', 'every', 'after', 'cron'] as const;
export type ScheduleMode = (typeof SCHEDULE_MODES)[number];

/** What the New-bot form holds, as typed (re-shown as typed when it is refused). */
export interface NewBotFormValues {
  name: string;
  emoji: string;
  description: string;
  prompt: string;
  model: string;
  tools: string[];
  /** The cron expression or `every …` when `scheduleMode` is `cron` (templates fill it). */
  schedule: string;
  scheduleMode: ScheduleMode;
  everyMinutes: string;
  /** The bot whose finished runs start this one (`after`). */
  afterBot: string;
  afterEvent: 'completed' | 'failed' | 'result';
  sendTelegram: boolean;
  sendEmail: boolean;
  emailTo: string;
  requiresApproval: boolean;
}

/** The empty form; `model` is the first real model a key is set for, else echo. */
export function newBotFormDefaults(engine: Engine): NewBotFormValues {
  return {
    name: '',
    emoji: '🤖',
    description: '',
    prompt: '',
    model: suggestedModels(engine.config)[1] ?? 'echo',
    tools: [],
    schedule: '',
    scheduleMode: 'manual',
    everyMinutes: '30',
    afterBot: '',
    afterEvent: 'completed',
    sendTelegram: false,
    sendEmail: false,
    emailTo: '',
    requiresApproval: false,
  };
}

/** A template's (or stored) schedule in the form's terms: `every 30m` is Every 30 minutes, other text is cron. */
export function scheduleFields(schedule: string): Pick<NewBotFormValues, 'scheduleMode' | 'everyMinutes' | 'schedule'> {
  const s = schedule.trim();
  if (!s) return { scheduleMode: 'manual', everyMinutes: '30', schedule: '' };
  const m = /^every (\d+) ?(m|min|minutes)$/i.exec(s);
  if (m) return { scheduleMode: 'every', everyMinutes: m[1]!, schedule: '' };
  const h = /^every (\d+) ?(h|hours?)$/i.exec(s);
  if (h) return { scheduleMode: 'every', everyMinutes: String(Number(h[1]) * 60), schedule: '' };
  return { scheduleMode: 'cron', everyMinutes: '30', schedule: s };
}

/** What the form's selects and hints need besides the values. */
export async function newBotFormOptions(engine: Engine, caller?: Caller) {
  return {
    models: suggestedModels(engine.config),
    // "Run after": only bots the new bot's owner has (a connection stays within one owner).
    bots: (await engine.bots.list(caller?.userId)).map((b) => ({ id: b.id, name: b.name, emoji: b.emoji })),
    telegramReady: Boolean(engine.config.telegram.token) && engine.config.telegram.allowedUsers.length > 0,
    smtpReady: Boolean(engine.config.smtp),
  };
}

const one = (v: string | string[] | undefined) => String(Array.isArray(v) ? v[0] : (v ?? ''));

/** Reads the posted New-bot form. */
export function readNewBotForm(body: Form): NewBotFormValues {
  const mode = one(body.schedule_mode) as ScheduleMode;
  const event = one(body.after_event);
  return {
    name: one(body.name),
    emoji: one(body.emoji),
    description: one(body.description),
    prompt: one(body.prompt),
    model: one(body.model) || 'echo',
    tools: ([] as string[]).concat(body.tools ?? []),
    schedule: one(body.schedule),
    scheduleMode: (SCHEDULE_MODES as readonly string[]).includes(mode) ? mode : body.schedule ? 'cron' : 'manual',
    everyMinutes: one(body.every_minutes) || '30',
    afterBot: one(body.after_bot),
    afterEvent: event === 'failed' || event === 'result' ? event : 'completed',
    sendTelegram: one(body.send_telegram) === '1',
    sendEmail: one(body.send_email) === '1',
    emailTo: one(body.email_to).trim(),
    requiresApproval: one(body.requires_approval) === '1',
  };
}

/**
 * Creates the bot the form describes, with what its fields wire up: the schedule (Manual, Every
 * N minutes, a cron expression), "when another bot finishes" as a connection from that bot,
 * "Send results to": the dashboard always; Telegram subscribes the private chat of each
 * `TELEGRAM_ALLOWED_USERS` user (a private chat's id is its user's id), so every run reaches them;
 * e-mail sets `notify.email.to`. All or nothing: a refused connection deletes the new bot again.
 * @throws {AppError} VALIDATION_FAILED (a field; the message names it), BOT_NAME_TAKEN, BOT_NOT_FOUND
 *   (the bot to run after), TRIGGER_CYCLE, FORBIDDEN_ROLE (a viewer)
 * @param caller who creates it: its owner (default the first admin).
 */
export async function createBotFromForm(engine: Engine, v: NewBotFormValues, caller?: Caller): Promise<BotRow> {
  if (caller) assertMayCreate(caller);
  let schedule: string | null = null;
  if (v.scheduleMode === 'every') {
    const n = Number(v.everyMinutes);
    if (!Number.isInteger(n) || n < 1) throw new AppError('VALIDATION_FAILED', 'Every how many minutes? Give a whole number, such as 30.', { fields: [{ field: 'every_minutes', message: 'a whole number' }] });
    schedule = n >= 60 && n % 60 === 0 ? `every ${n / 60}h` : `every ${n}m`;
  } else if (v.scheduleMode === 'cron') {
    schedule = v.schedule.trim() || null;
  }
  let after: BotRow | undefined;
  if (v.scheduleMode === 'after') {
    if (!/^\d{1,15}$/.test(v.afterBot)) throw new AppError('VALIDATION_FAILED', 'Which bot should it run after? Pick one.', { fields: [{ field: 'after_bot', message: 'pick a bot' }] });
    after = caller ? await engine.scope.bot(caller, Number(v.afterBot), 'write') : await engine.bots.get(Number(v.afterBot));
  }
  if (v.sendEmail && !v.emailTo) throw new AppError('VALIDATION_FAILED', 'Send results to e-mail: which address?', { fields: [{ field: 'email_to', message: 'an e-mail address' }] });
  const notify: Record<string, unknown> = {};
  if (v.sendTelegram) notify.telegram = true;
  if (v.sendEmail) notify.email = { to: v.emailTo, on: ['completed', 'failed'] };
  const bot = await engine.createBot({
    name: v.name,
    emoji: v.emoji,
    description: v.description,
    prompt: v.prompt,
    model: v.model,
    tools: v.tools,
    schedule,
    notify,
    requires_approval: v.requiresApproval,
  }, caller);
  try {
    if (after) await engine.triggers.create({ source_bot: after.id, event: v.afterEvent, target_bot: bot.id }, caller);
  } catch (err) {
    await engine.deleteBot(bot.id);
    throw err;
  }
  if (v.sendTelegram) for (const user of engine.config.telegram.allowedUsers) await engine.subscriptions.subscribe(bot.id, 'telegram', user);
  return bot;
}
