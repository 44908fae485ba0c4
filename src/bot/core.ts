/**
 * The command core both chat adapters share: authorize the caller, parse or take the arguments,
 * call the engine through a command, and answer with a platform-neutral {@link Message}. Button
 * presses go to the command that owns the button's verb; guided flows to the command that started
 * them. Adapters only translate their platform's updates into these calls and render the answers.
 */
import type { Logger } from 'pino';
import { FIRST_ADMIN_ID, mayCreate, mayRead, mayWrite, type Caller as Account } from '../engine/access.ts';
import type { BotRow } from '../engine/db/schema.ts';
import type { Engine } from '../engine/engine.ts';
import { AppError, isAppError, uniqueClash } from '../engine/errors.ts';
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
  /**
   * Platform user ids that act as the first admin without pairing (the bootstrap); everyone else
   * acts as the account their chat identity is linked to, or gets a pairing code.
   */
  allowedUsers: readonly string[];
  /** The variable holding the list, named in refusals (e.g. `TELEGRAM_ALLOWED_USERS`). */
  allowListVariable: string;
  log: Logger;
  /** Whether a command may ask for a typed answer (Telegram's `force_reply`). */
  canAsk?: boolean;
  /** Where started runs and pipelines are reported. */
  runs?: RunWatcher;
  /**
   * A user's own bot (a Telegram bot per user): only chat identities linked to this user id may
   * command it; the allow list does not apply.
   */
  owner?: number;
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

  /**
   * The account `caller` acts as: the first admin for an id on the allow list (not on a user's own
   * bot), else the user their chat identity is linked to; null for a stranger (and, on a user's
   * own bot, for anyone linked to another user).
   */
  async accountOf(caller: C): Promise<Account | null> {
    const owner = this.opts.owner;
    if (owner === undefined && this.allowed.has(caller.userId)) {
      const admin = (await this.engine.users.get(FIRST_ADMIN_ID)) ?? (await this.engine.users.ensureFirstAdmin());
      return this.engine.users.callerOf(admin);
    }
    const account = await this.engine.chatIdentities.callerFor(caller.platform, caller.userId);
    if (!account || (owner !== undefined && account.userId !== owner)) return null;
    return account;
  }

  /** `true` when `caller` may command (see {@link accountOf}). */
  async isAllowed(caller: C): Promise<boolean> {
    return (await this.accountOf(caller)) !== null;
  }

  /**
   * The answer to someone who may not command; it names nothing of the fleet. A stranger gets
   * their one-time pairing code (on Telegram only in a private chat: in a group, a pointer there) (at most 5 new ones an hour, then a plain sentence saying to
   * wait); on a user's own bot, someone linked to another account gets a plain refusal.
   */
  async refusal(caller: C): Promise<Message> {
    const base = { ephemeral: true, error: true } as const;
    if (this.opts.owner !== undefined && (await this.engine.chatIdentities.callerFor(caller.platform, caller.userId))) {
      this.opts.log.warn({ platform: caller.platform, userId: caller.userId, owner: this.opts.owner }, "refused a user linked to another account on a user's own bot");
      return { ...say("🔒 Sorry, this bot answers only its owner's chats."), ...base };
    }
    // A code shown in a group could be entered by anyone there; Discord shows it to the person only.
    if (caller.platform === 'telegram' && caller.private === false) {
      return { ...say("🔒 I don't know you yet. Write to me in a private chat for your pairing code."), ...base };
    }
    try {
      const pairing = await this.engine.chatIdentities.codeFor(caller.platform, caller.userId, caller.displayName ?? caller.userId);
      this.opts.log.info(
        { platform: caller.platform, userId: caller.userId, chatId: caller.chatId, codeId: pairing.id },
        `a chat user who is not linked got a pairing code (or add their id to ${this.opts.allowListVariable})`,
      );
      const where = this.engine.config.publicUrl ? `${this.engine.config.publicUrl}/settings/chat` : 'Settings → Chat on the dashboard';
      return {
        ...say("🔒 I don't know you yet. Your pairing code is ", code(pairing.code), ` (valid 1 hour): enter it at ${where}, or ask an admin to approve it.`),
        ...base,
      };
    } catch (err) {
      if (isAppError(err)) return { ...say(`🔒 ${err.message}`), ...base };
      throw err;
    }
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
    const account = await this.accountOf(caller);
    if (!account) return await this.refusal(caller);
    const cmd = this.command(name);
    if (!cmd) return failure(`I don't know /${name}. Send `, code('/help'), ' for the list of commands.');
    // A new command ends a guided flow that was waiting for an answer (/cancel says so itself).
    if (cmd.name !== 'cancel') this.flows.delete(flowKey(caller));
    const known = {
      bots: cmd.params.some((p) => p.kind === 'bot') ? (await this.visibleBots(account)).map((b) => b.name) : [],
      pipelines: cmd.params.some((p) => p.kind === 'pipeline') ? (await this.visiblePipelines(account)).map((p) => p.name) : [],
    };
    return this.dispatch(caller, account, cmd, parseArgs(cmd.params, text, known), text);
  }

  /** A command with typed options (Discord slash commands); names lose their quotes as on Telegram. */
  async runCommand(caller: C, name: string, args: Args): Promise<Message> {
    const account = await this.accountOf(caller);
    if (!account) return await this.refusal(caller);
    const cmd = this.command(name);
    if (!cmd) return failure(`I don't know /${name}.`);
    const clean: Args = {};
    for (const p of cmd.params) {
      const v = args[p.name]?.trim();
      if (!v) continue;
      clean[p.name] = p.kind === 'text' || p.kind === 'choice' ? v : unquote(v);
    }
    if (cmd.name !== 'cancel') this.flows.delete(flowKey(caller));
    return this.dispatch(caller, account, cmd, clean);
  }

  /** A button press; `data` is a button's action, `<verb>:<args>`, routed to the command owning the verb. */
  async handleAction(caller: C, data: string): Promise<ActionReply> {
    const account = await this.accountOf(caller);
    if (!account) return { message: await this.refusal(caller), mode: 'reply', toast: 'Not allowed' };
    const found = this.actionOf(data);
    if (!found) return { message: failure('This button no longer works; send /help.'), mode: 'reply', toast: 'This button no longer works' };
    const { command, action } = found;
    const args = data.slice(data.indexOf(':') + 1);
    this.opts.log.debug({ platform: caller.platform, userId: caller.userId, action: data }, 'chat button');
    try {
      const result = await action.run(this.context(caller, account, command, undefined, action.writes ?? false), args);
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
    const account = await this.accountOf(caller);
    if (!account) return await this.refusal(caller);
    const cmd = this.command(flow.command);
    if (!cmd?.answer) return null;
    return this.guard(caller, () => cmd.answer!(this.context(caller, account, cmd, undefined, cmd.writes ?? false), flow, text));
  }

  /** Names for Discord's autocomplete (bots or pipelines): those containing `query`, prefix matches first; none for strangers. */
  async nameChoices(caller: C, kind: 'bot' | 'pipeline', query: string, limit = 25): Promise<string[]> {
    const account = await this.accountOf(caller);
    if (!account) return [];
    const q = nameKey(query.replace(/^\s*["“„«]/, '').replace(/["”“»]\s*$/, ''));
    const names = [...new Set(kind === 'bot' ? (await this.visibleBots(account)).map((b) => b.name) : (await this.visiblePipelines(account)).map((p) => p.name))];
    return names
      .filter((n) => nameKey(n).includes(q))
      .sort((a, b) => Number(!nameKey(a).startsWith(q)) - Number(!nameKey(b).startsWith(q)) || a.localeCompare(b))
      .slice(0, limit);
  }

  private actionOf(data: string): { command: Command; action: Action } | undefined {
    const i = data.indexOf(':');
    return i > 0 ? this.actions.get(data.slice(0, i)) : undefined;
  }

  private async dispatch(caller: C, account: Account, cmd: Command, args: Args, typed?: string): Promise<Message> {
    this.opts.log.debug({ platform: caller.platform, userId: caller.userId, account: account.userId, command: cmd.name, args }, 'chat command');
    return this.guard(caller, async () => {
      if (cmd.creates && !mayCreate(account)) throw new AppError('FORBIDDEN_ROLE', `You are a ${account.role} on this server: a viewer reads and changes nothing.`);
      return await cmd.run(this.context(caller, account, cmd, typed, cmd.writes ?? false), args);
    });
  }

  /** The bots `account` may see, oldest first. */
  private async visibleBots(account: Account): Promise<BotRow[]> {
    return (await this.engine.bots.list()).filter((b) => mayRead(account, b.ownerId));
  }

  /** The pipelines `account` may see. */
  private async visiblePipelines(account: Account): Promise<PipelineView[]> {
    return (await this.engine.pipelines.list()).filter((p) => mayRead(account, p.ownerId));
  }

  /**
   * Throws unless `account` may read `bot` (as missing: BOT_NOT_FOUND) or, with `writes`, change
   * it (FORBIDDEN_ROLE, a plain sentence).
   */
  private check<T extends { ownerId: number }>(account: Account, row: T, writes: boolean, missing: AppError): T {
    if (!mayRead(account, row.ownerId)) throw missing;
    if (writes && !mayWrite(account, row.ownerId)) {
      throw new AppError('FORBIDDEN_ROLE', account.role === 'viewer' ? `You are a viewer on this server: you may look, but not start, stop or change anything.` : 'That belongs to another user; you may look, but not change it.');
    }
    return row;
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
    const clash = uniqueClash(err);
    if (clash) return failure(clash.message);
    this.opts.log.error({ err, platform: caller.platform, userId: caller.userId }, 'chat command failed');
    return failure('Something went wrong on my side; the server log has the details.');
  }

  private context(caller: C, account: Account, cmd: Command, typed: string | undefined, writes: boolean): CommandContext {
    const key = flowKey(caller);
    const runs = this.opts.runs;
    return {
      engine: this.engine,
      caller,
      account,
      ...(typed !== undefined ? { typed } : {}),
      bot: async (name) => this.check(account, await this.findBot(name, cmd, account), writes, new AppError('BOT_NOT_FOUND', 'No such bot.')),
      botById: async (id) => {
        const gone = new AppError('BOT_NOT_FOUND', 'That bot no longer exists.');
        let bot: BotRow;
        try {
          bot = await this.engine.bots.get(Number(id));
        } catch {
          throw gone;
        }
        return this.check(account, bot, writes, gone);
      },
      mayRead: (ownerId) => mayRead(account, ownerId),
      pipeline: async (name) => this.check(account, await this.findPipeline(name, cmd, account), writes, new AppError('PIPELINE_NOT_FOUND', 'No such pipeline.')),
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

  /**
   * The bot `name` names among those `account` may see; when two owners have a bot of that name,
   * the account's own wins, else the oldest.
   * @throws {AppError} VALIDATION_FAILED (no name), BOT_NOT_FOUND (with suggestions)
   */
  private async findBot(name: string | undefined, cmd: Command, account: Account): Promise<BotRow> {
    if (!name) throw new AppError('VALIDATION_FAILED', `Which bot? Usage: ${usageOf(cmd)}`);
    const wanted = unquote(name);
    const visible = await this.visibleBots(account);
    const matches = visible.filter((b) => b.nameKey === nameKey(wanted));
    const found = matches.find((b) => b.ownerId === account.userId) ?? matches[0];
    if (found) return found;
    const names = [...new Set(visible.map((b) => b.name))];
    if (names.length === 0) throw new AppError('BOT_NOT_FOUND', `No bot named "${wanted}": there are no bots yet. Create one with /newbot.`);
    throw new AppError('BOT_NOT_FOUND', notFound('bot', wanted, names, '/bots'));
  }

  /** @throws {AppError} VALIDATION_FAILED (no name), PIPELINE_NOT_FOUND (with suggestions) */
  private async findPipeline(name: string | undefined, cmd: Command, account: Account): Promise<PipelineView> {
    if (!name) throw new AppError('VALIDATION_FAILED', `Which pipeline? Usage: ${usageOf(cmd)}`);
    const wanted = unquote(name);
    const visible = await this.visiblePipelines(account);
    const matches = visible.filter((p) => nameKey(p.name) === nameKey(wanted));
    const found = matches.find((p) => p.ownerId === account.userId) ?? matches[0];
    if (found) return found;
    const names = [...new Set(visible.map((p) => p.name))];
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
