/**
 * The command core both chat adapters share: authorize the caller, parse or take the arguments,
 * call the engine through a command, and answer with a platform-neutral {@link Message}. Adapters
 * only translate their platform's updates into these calls and render the answers.
 */
import type { Logger } from 'pino';
import type { BotRow } from '../engine/db/schema.ts';
import type { Engine } from '../engine/engine.ts';
import { AppError, isAppError } from '../engine/errors.ts';
import { nameKey } from '../engine/bots.ts';
import { COMMANDS, usageOf } from './commands/index.ts';
import { approvalAction } from './commands/approvals.ts';
import { confirmDelete } from './commands/delete.ts';
import { createBotFromChat } from './commands/newbot.ts';
import type { Args, Caller, Command, CommandContext } from './commands/types.ts';
import { botLabel } from './format.ts';
import { bold, code, excerpt, messageText, say, type Message } from './message.ts';
import { closestNames, parseArgs } from './parse.ts';

export type { Args, Caller, Command } from './commands/types.ts';

/** How long the guided /newbot flow waits for the next answer. */
const FLOW_TTL_MS = 10 * 60_000;

/** What a button press produces: a new message, or a replacement of the one carrying the button. */
export interface ActionReply {
  message: Message;
  /** `reply`: post a new message; `replace`: edit the message whose button was pressed. */
  mode: 'reply' | 'replace';
  /** A short notice (Telegram shows it as the callback answer). */
  toast?: string;
}

/** Settings of a {@link CommandCore}. */
export interface CoreOptions<C extends Caller> {
  /** User ids allowed to command; empty: nobody. */
  allowedUsers: readonly string[];
  /** The variable holding the list, named in refusals (e.g. `TELEGRAM_ALLOWED_USERS`). */
  allowListVariable: string;
  log: Logger;
  /** Whether /newbot without arguments may ask for the name and prompt (Telegram). */
  guidedFlows?: boolean;
  /** Called when a command started a run, so the adapter can post its outcome to the caller's chat. */
  onRunStarted?: (runId: number, caller: C) => void;
}

interface Flow {
  step: 'name' | 'prompt';
  name?: string;
  expiresAt: number;
}

/** Parses, authorizes and dispatches chat commands and button presses for one platform. */
export class CommandCore<C extends Caller = Caller> {
  /** Every command, as menus list them (hidden ones included). */
  readonly commands: readonly Command[] = COMMANDS;
  private readonly allowed: ReadonlySet<string>;
  private readonly flows = new Map<string, Flow>();

  constructor(
    readonly engine: Engine,
    private readonly opts: CoreOptions<C>,
  ) {
    this.allowed = new Set(opts.allowedUsers);
  }

  /** `true` when the user id is on the allow list. */
  isAllowed(userId: string): boolean {
    return this.allowed.has(userId);
  }

  /** The polite answer to someone not on the allow list; it names nothing of the fleet. */
  refusal(caller: C): Message {
    this.opts.log.warn({ platform: caller.platform, userId: caller.userId, chatId: caller.chatId }, 'refused a user who is not on the allow list');
    return {
      ...say(
        '🔒 Sorry, I only take commands from people on my allow list. Your user id is ',
        code(caller.userId),
        `; the owner can add it to ${this.opts.allowListVariable}.`,
      ),
      ephemeral: true,
    };
  }

  /** The command called `name` (case-insensitive), if any. */
  command(name: string): Command | undefined {
    const n = name.toLowerCase();
    return this.commands.find((c) => c.name === n);
  }

  /** The usage line of a command, e.g. `/run <bot> [input…]`. */
  usage(name: string): string {
    const c = this.command(name);
    return c ? usageOf(c) : `/${name}`;
  }

  /**
   * A command as typed on Telegram: `name` without the slash, `text` what followed it.
   * Unknown commands and /cancel (of the guided flow) are answered here too.
   */
  async runText(caller: C, name: string, text: string): Promise<Message> {
    if (!this.isAllowed(caller.userId)) return this.refusal(caller);
    const lower = name.toLowerCase();
    if (lower === 'cancel') {
      return this.flows.delete(flowKey(caller)) ? say('Cancelled.') : say('There is nothing to cancel.');
    }
    const cmd = this.command(lower);
    if (!cmd) return say(`I don't know /${name}. Send `, code('/help'), ' for the list of commands.');
    // A new command ends a guided flow that was waiting for an answer.
    this.flows.delete(flowKey(caller));
    const names = cmd.params.some((p) => p.kind === 'bot') ? this.engine.bots.list().map((b) => b.name) : [];
    return this.dispatch(caller, cmd, parseArgs(cmd.params, text, names));
  }

  /** A command with typed options (Discord slash commands). */
  async runCommand(caller: C, name: string, args: Args): Promise<Message> {
    if (!this.isAllowed(caller.userId)) return this.refusal(caller);
    const cmd = this.command(name);
    if (!cmd) return say(`I don't know /${name}.`);
    const clean: Args = {};
    for (const [k, v] of Object.entries(args) as [keyof Args, string | undefined][]) if (v != null && v.trim() !== '') clean[k] = v.trim();
    return this.dispatch(caller, cmd, clean);
  }

  /**
   * A button press; `data` is a {@link Button}'s `action`: `run`, `logs`, `tail` (refresh a log in
   * place), `pause`, `resume`, `stop`, `status`, `delete` (confirmed), `keep`, then `:<bot id>`.
   * Buttons name bots by id, so they keep working after a rename.
   */
  async handleAction(caller: C, data: string): Promise<ActionReply> {
    if (!this.isAllowed(caller.userId)) return { message: this.refusal(caller), mode: 'reply', toast: 'Not allowed' };
    const approval = approvalAction(this.engine, caller, data);
    if (approval) return approval;
    const m = /^(run|logs|tail|pause|resume|stop|status|delete|keep):(\d{1,15})$/.exec(data);
    if (!m) return { message: say('This button no longer works; send /help.'), mode: 'reply', toast: 'This button no longer works' };
    const verb = m[1]!;
    let bot: BotRow;
    try {
      bot = this.engine.bots.get(Number(m[2]));
    } catch {
      return { message: say('That bot no longer exists.'), mode: this.actionMode(data), toast: 'That bot no longer exists' };
    }
    switch (verb) {
      case 'delete': {
        const message = await this.guard(caller, () => confirmDelete(this.engine, bot));
        return { message, mode: 'replace', toast: failureToast(message) ?? 'Deleted' };
      }
      case 'keep':
        return { message: say('Kept ', bold(botLabel(bot)), '.'), mode: 'replace', toast: 'Kept' };
      case 'tail':
        // Refresh of a /logs message: the log tail is redrawn in place.
        return { message: await this.dispatch(caller, this.command('logs')!, { bot: bot.name }), mode: 'replace', toast: '🔄 Refreshed' };
      default: {
        const message = await this.dispatch(caller, this.command(verb)!, { bot: bot.name });
        const toast =
          failureToast(message) ?? { run: '▶ Started', logs: '📜 Logs', pause: '⏸ Paused', resume: '▶ Resumed', stop: '⏹ Stopped', status: 'Status' }[verb];
        return { message, mode: 'reply', ...(toast ? { toast } : {}) };
      }
    }
  }

  /** Whether a button's action answers with a new message or replaces the one carrying the button (known before running it). */
  actionMode(data: string): ActionReply['mode'] {
    return /^(delete|keep|tail|approve|reject):/.test(data) ? 'replace' : 'reply';
  }

  /**
   * A plain message (not a command): the next answer of a guided /newbot flow.
   * @returns the reply, or null when no flow is waiting for this person in this chat.
   */
  async continueFlow(caller: C, text: string): Promise<Message | null> {
    const key = flowKey(caller);
    const flow = this.flows.get(key);
    if (!flow) return null;
    if (flow.expiresAt < Date.now()) {
      this.flows.delete(key);
      return null;
    }
    if (!this.isAllowed(caller.userId)) return this.refusal(caller);
    const answer = text.trim();
    if (flow.step === 'name') {
      const taken = this.engine.bots.findByName(answer);
      if (!answer || answer.length > 64) return this.askName('A name has 1 to 64 characters. What should the new bot be called?');
      if (taken) return this.askName(`A bot named "${taken.name}" already exists. Send another name (or /cancel).`);
      this.flows.set(key, { step: 'prompt', name: answer, expiresAt: Date.now() + FLOW_TTL_MS });
      return this.askPrompt(answer);
    }
    this.flows.delete(key);
    return this.guard(caller, () => createBotFromChat(this.engine, caller, flow.name!, answer));
  }

  /** Bot names for Discord's autocomplete: those containing `query`, prefix matches first; none for strangers. */
  botNameChoices(caller: C, query: string, limit = 25): string[] {
    if (!this.isAllowed(caller.userId)) return [];
    const q = nameKey(query);
    return this.engine.bots
      .list()
      .map((b) => b.name)
      .filter((n) => nameKey(n).includes(q))
      .sort((a, b) => Number(!nameKey(a).startsWith(q)) - Number(!nameKey(b).startsWith(q)) || a.localeCompare(b))
      .slice(0, limit);
  }

  private async dispatch(caller: C, cmd: Command, args: Args): Promise<Message> {
    this.opts.log.debug({ platform: caller.platform, userId: caller.userId, command: cmd.name, args }, 'chat command');
    return this.guard(caller, () => cmd.run(this.context(caller, cmd), args));
  }

  /** Runs `fn`; an {@link AppError} becomes a ⚠️ reply with its message, anything else is logged. */
  private async guard(caller: C, fn: () => Message | Promise<Message>): Promise<Message> {
    try {
      return await fn();
    } catch (err) {
      if (isAppError(err)) return say(`⚠️ ${err.message}`);
      this.opts.log.error({ err, platform: caller.platform, userId: caller.userId }, 'chat command failed');
      return say('⚠️ Something went wrong on my side; the server log has the details.');
    }
  }

  private context(caller: C, cmd: Command): CommandContext {
    return {
      engine: this.engine,
      caller,
      bot: (name) => this.findBot(name, cmd),
      watchRun: (runId) => this.opts.onRunStarted?.(runId, caller),
      startNewBotFlow: (name) => this.startFlow(caller, name),
      usage: (command) => this.usage(command),
    };
  }

  /** @throws {AppError} VALIDATION_FAILED (no name), BOT_NOT_FOUND (with suggestions) */
  private findBot(name: string | undefined, cmd: Command): BotRow {
    if (!name) throw new AppError('VALIDATION_FAILED', `Which bot? Usage: ${usageOf(cmd)}`);
    const found = this.engine.bots.findByName(stripQuotes(name));
    if (found) return found;
    const names = this.engine.bots.list().map((b) => b.name);
    if (names.length === 0) throw new AppError('BOT_NOT_FOUND', `No bot named "${name}": there are no bots yet. Create one with /newbot.`);
    const near = closestNames(name, names);
    const quoted = near.names.map((n) => `"${n}"`).join(', ');
    throw new AppError(
      'BOT_NOT_FOUND',
      near.close ? `No bot named "${name}". Did you mean ${quoted}?` : `No bot named "${name}". The closest names are ${quoted}; /bots lists them all.`,
    );
  }

  private startFlow(caller: C, name?: string): Message | null {
    if (!this.opts.guidedFlows) return null;
    if (name && !this.engine.bots.findByName(name)) {
      this.flows.set(flowKey(caller), { step: 'prompt', name, expiresAt: Date.now() + FLOW_TTL_MS });
      return this.askPrompt(name);
    }
    this.flows.set(flowKey(caller), { step: 'name', expiresAt: Date.now() + FLOW_TTL_MS });
    return this.askName(name ? `A bot named "${name}" already exists. What should the new bot be called? (or /cancel)` : 'Let’s make a bot. What should it be called? (or /cancel)');
  }

  private askName(text: string): Message {
    return { ...say(text), expectReply: { placeholder: 'Bot name' } };
  }

  private askPrompt(name: string): Message {
    return { ...say('What should ', bold(name), ' do? Send its prompt: the instructions it runs with. (or /cancel)'), expectReply: { placeholder: 'Prompt' } };
  }
}

/** A failure is the toast itself, so it is seen even where the reply scrolls away; null when `message` is no failure. */
function failureToast(message: Message): string | null {
  const text = messageText(message);
  return text.startsWith('⚠️') ? excerpt(text, 190) : null;
}

function flowKey(c: Caller): string {
  return `${c.platform}:${c.chatId}:${c.userId}`;
}

function stripQuotes(s: string): string {
  return s.trim().replace(/^["“„«]([\s\S]*)["”“»]$/, '$1').trim();
}
