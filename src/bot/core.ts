/**
 * The command core both chat adapters share: authorize the caller, parse or take the arguments,
 * call the engine through a command, and answer with a platform-neutral {@link Message}. Button
 * presses go to the command that owns the button's verb; guided flows to the command that started
 * them. Adapters only translate their platform's updates into these calls and render the answers.
 */
import type { Logger } from 'pino';
import type { BotRow } from '../engine/db/schema.ts';
import type { Engine } from '../engine/engine.ts';
import { AppError, isAppError } from '../engine/errors.ts';
import { nameKey } from '../engine/bots.ts';
import type { PipelineView } from '../engine/pipelines.ts';
import { COMMANDS, usageOf } from './commands/index.ts';
import type { Action, Args, Caller, Command, CommandContext, FlowState } from './commands/types.ts';
import { code, excerpt, failure, messageText, say, type Message } from './message.ts';
import { closestNames, parseArgs, unquote } from './parse.ts';

export type { Args, Caller, Command } from './commands/types.ts';

/** How long a guided flow waits for the next answer. */
const FLOW_TTL_MS = 10 * 60_000;
/** Most guided flows remembered at once. */
const MAX_FLOWS = 10_000;

/** What a button press produces (see {@link Action.mode}). */
export interface ActionReply {
  message?: Message;
  mode: Action['mode'];
  /** A short notice (Telegram shows it as the callback answer). */
  toast?: string;
}

/** What the core tells the run delivery of its platform (see `RunDelivery`). */
export interface RunWatcher {
  watchRun(runId: number, chatId: string): void;
  stopping(runIds: number[], chatId: string): void;
  watchPipeline(pipelineRunId: number, chatId: string): void;
}

/** Settings of a {@link CommandCore}. */
export interface CoreOptions {
  /** User ids allowed to command; empty: nobody. */
  allowedUsers: readonly string[];
  /** The variable holding the list, named in refusals (e.g. `TELEGRAM_ALLOWED_USERS`). */
  allowListVariable: string;
  log: Logger;
  /** Whether a command may ask for a typed answer (Telegram's `force_reply`). */
  canAsk?: boolean;
  /** Where started runs and pipelines are reported. */
  runs?: RunWatcher;
}

/** Parses, authorizes and dispatches chat commands and button presses for one platform. */
export class CommandCore<C extends Caller = Caller> {
  /** Every command, as menus list them (hidden ones included). */
  readonly commands: readonly Command[] = COMMANDS;
  private readonly allowed: ReadonlySet<string>;
  private readonly flows = new Map<string, FlowState & { expiresAt: number }>();
  private readonly actions = new Map<string, { command: Command; action: Action }>();

  constructor(
    readonly engine: Engine,
    private readonly opts: CoreOptions,
  ) {
    this.allowed = new Set(opts.allowedUsers);
    for (const command of this.commands) for (const [verb, action] of Object.entries(command.actions ?? {})) this.actions.set(verb, { command, action });
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
      error: true,
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

  /** A command as typed on Telegram: `name` without the slash, `text` what followed it. */
  async runText(caller: C, name: string, text: string): Promise<Message> {
    if (!this.isAllowed(caller.userId)) return this.refusal(caller);
    const cmd = this.command(name);
    if (!cmd) return failure(`I don't know /${name}. Send `, code('/help'), ' for the list of commands.');
    // A new command ends a guided flow that was waiting for an answer (/cancel says so itself).
    if (cmd.name !== 'cancel') this.flows.delete(flowKey(caller));
    const known = {
      bots: cmd.params.some((p) => p.kind === 'bot') ? this.engine.bots.list().map((b) => b.name) : [],
      pipelines: cmd.params.some((p) => p.kind === 'pipeline') ? this.engine.pipelines.list().map((p) => p.name) : [],
    };
    return this.dispatch(caller, cmd, parseArgs(cmd.params, text, known), text);
  }

  /** A command with typed options (Discord slash commands); names lose their quotes as on Telegram. */
  async runCommand(caller: C, name: string, args: Args): Promise<Message> {
    if (!this.isAllowed(caller.userId)) return this.refusal(caller);
    const cmd = this.command(name);
    if (!cmd) return failure(`I don't know /${name}.`);
    const clean: Args = {};
    for (const p of cmd.params) {
      const v = args[p.name]?.trim();
      if (!v) continue;
      clean[p.name] = p.kind === 'text' || p.kind === 'choice' ? v : unquote(v);
    }
    if (cmd.name !== 'cancel') this.flows.delete(flowKey(caller));
    return this.dispatch(caller, cmd, clean);
  }

  /** A button press; `data` is a button's action, `<verb>:<args>`, routed to the command owning the verb. */
  async handleAction(caller: C, data: string): Promise<ActionReply> {
    if (!this.isAllowed(caller.userId)) return { message: this.refusal(caller), mode: 'reply', toast: 'Not allowed' };
    const found = this.actionOf(data);
    if (!found) return { message: failure('This button no longer works; send /help.'), mode: 'reply', toast: 'This button no longer works' };
    const { command, action } = found;
    const args = data.slice(data.indexOf(':') + 1);
    this.opts.log.debug({ platform: caller.platform, userId: caller.userId, action: data }, 'chat button');
    try {
      const result = await action.run(this.context(caller, command), args);
      const toast = result.toast ?? (result.message?.error ? excerpt(messageText(result.message), 190) : undefined);
      return { ...result, mode: action.mode, ...(toast ? { toast } : {}) };
    } catch (err) {
      const message = this.failureOf(err, caller);
      return { message, mode: action.mode, toast: excerpt(messageText(message), 190) };
    }
  }

  /** How a button's answer is shown (known before running it); `reply` for unknown buttons. */
  actionMode(data: string): Action['mode'] {
    return this.actionOf(data)?.action.mode ?? 'reply';
  }

  /**
   * A plain message (not a command): the next answer of a guided flow.
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
    const cmd = this.command(flow.command);
    if (!cmd?.answer) return null;
    return this.guard(caller, () => cmd.answer!(this.context(caller, cmd), flow, text));
  }

  /** Names for Discord's autocomplete (bots or pipelines): those containing `query`, prefix matches first; none for strangers. */
  nameChoices(caller: C, kind: 'bot' | 'pipeline', query: string, limit = 25): string[] {
    if (!this.isAllowed(caller.userId)) return [];
    const q = nameKey(query.replace(/^\s*["“„«]/, '').replace(/["”“»]\s*$/, ''));
    const names = kind === 'bot' ? this.engine.bots.list().map((b) => b.name) : this.engine.pipelines.list().map((p) => p.name);
    return names
      .filter((n) => nameKey(n).includes(q))
      .sort((a, b) => Number(!nameKey(a).startsWith(q)) - Number(!nameKey(b).startsWith(q)) || a.localeCompare(b))
      .slice(0, limit);
  }

  private actionOf(data: string): { command: Command; action: Action } | undefined {
    const i = data.indexOf(':');
    return i > 0 ? this.actions.get(data.slice(0, i)) : undefined;
  }

  private async dispatch(caller: C, cmd: Command, args: Args, typed?: string): Promise<Message> {
    this.opts.log.debug({ platform: caller.platform, userId: caller.userId, command: cmd.name, args }, 'chat command');
    return this.guard(caller, () => cmd.run(this.context(caller, cmd, typed), args));
  }

  /** Runs `fn`; an error becomes a ⚠️ reply (see {@link failureOf}). */
  private async guard(caller: C, fn: () => Message | Promise<Message>): Promise<Message> {
    try {
      return await fn();
    } catch (err) {
      return this.failureOf(err, caller);
    }
  }

  /** An {@link AppError} as a ⚠️ reply with its message; anything else is logged and answered vaguely. */
  private failureOf(err: unknown, caller: C): Message {
    if (isAppError(err)) return failure(err.message);
    this.opts.log.error({ err, platform: caller.platform, userId: caller.userId }, 'chat command failed');
    return failure('Something went wrong on my side; the server log has the details.');
  }

  private context(caller: C, cmd: Command, typed?: string): CommandContext {
    const key = flowKey(caller);
    const runs = this.opts.runs;
    return {
      engine: this.engine,
      caller,
      ...(typed !== undefined ? { typed } : {}),
      bot: (name) => this.findBot(name, cmd),
      pipeline: (name) => this.findPipeline(name, cmd),
      watchRun: (runId) => runs?.watchRun(runId, caller.chatId),
      stopping: (runIds) => runs?.stopping(runIds, caller.chatId),
      watchPipeline: (id) => runs?.watchPipeline(id, caller.chatId),
      canAsk: this.opts.canAsk ?? false,
      flow: {
        get: () => {
          const f = this.flows.get(key);
          return f && f.expiresAt >= Date.now() ? { command: f.command, data: f.data } : undefined;
        },
        set: (state) => {
          this.flows.set(key, { ...state, expiresAt: Date.now() + FLOW_TTL_MS });
          if (this.flows.size > MAX_FLOWS) this.flows.delete(this.flows.keys().next().value!);
        },
        clear: () => void this.flows.delete(key),
      },
      usage: (command) => this.usage(command),
    };
  }

  /** @throws {AppError} VALIDATION_FAILED (no name), BOT_NOT_FOUND (with suggestions) */
  private findBot(name: string | undefined, cmd: Command): BotRow {
    if (!name) throw new AppError('VALIDATION_FAILED', `Which bot? Usage: ${usageOf(cmd)}`);
    const wanted = unquote(name);
    const found = this.engine.bots.findByName(wanted);
    if (found) return found;
    const names = this.engine.bots.list().map((b) => b.name);
    if (names.length === 0) throw new AppError('BOT_NOT_FOUND', `No bot named "${wanted}": there are no bots yet. Create one with /newbot.`);
    throw new AppError('BOT_NOT_FOUND', notFound('bot', wanted, names, '/bots'));
  }

  /** @throws {AppError} VALIDATION_FAILED (no name), PIPELINE_NOT_FOUND (with suggestions) */
  private findPipeline(name: string | undefined, cmd: Command): PipelineView {
    if (!name) throw new AppError('VALIDATION_FAILED', `Which pipeline? Usage: ${usageOf(cmd)}`);
    const wanted = unquote(name);
    const found = this.engine.pipelines.findByName(wanted);
    if (found) return found;
    const names = this.engine.pipelines.list().map((p) => p.name);
    if (names.length === 0) throw new AppError('PIPELINE_NOT_FOUND', `No pipeline named "${wanted}": there are no pipelines yet. Create one on the dashboard.`);
    throw new AppError('PIPELINE_NOT_FOUND', notFound('pipeline', wanted, names, '/pipelines'));
  }
}

/** `No bot named "Scot". Did you mean "Scout"?` */
function notFound(what: string, wanted: string, names: string[], listCommand: string): string {
  const near = closestNames(wanted, names);
  const quoted = near.names.map((n) => `"${n}"`).join(', ');
  return near.close ? `No ${what} named "${wanted}". Did you mean ${quoted}?` : `No ${what} named "${wanted}". The closest names are ${quoted}; ${listCommand} lists them all.`;
}

function flowKey(c: Caller): string {
  return `${c.platform}:${c.chatId}:${c.userId}`;
}
