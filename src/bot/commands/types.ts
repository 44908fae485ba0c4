import type { Caller as Account } from '../../engine/access.ts';
import type { Engine } from '../../engine/engine.ts';
import type { BotRow } from '../../engine/db/schema.ts';
import type { PipelineView } from '../../engine/pipelines.ts';
import type { ChatPlatform } from '../../engine/subscriptions.ts';
import type { Message } from '../message.ts';

/** The typed options a command takes; Discord registers them as slash-command options. */
export type ParamName = 'bot' | 'input' | 'name' | 'prompt' | 'spec' | 'event' | 'target' | 'pipeline' | 'policy' | 'duration' | 'template';

/** Parsed arguments of a command, by option name. */
export type Args = Partial<Record<ParamName, string>>;

/**
 * One argument of a command, in the order a person types it on Telegram.
 * - `bot` / `pipeline`: a bot (pipeline) name, matched against known names (longest match first;
 *   quotes allowed);
 * - `word`: one word (or a quoted phrase);
 * - `choice`: one word out of `choices`;
 * - `text`: the rest of the line.
 */
export interface Param {
  name: ParamName;
  kind: 'bot' | 'pipeline' | 'word' | 'choice' | 'text';
  required: boolean;
  /** Shown in usage lines and as the Discord option's description (at most 100 characters). */
  description: string;
  choices?: readonly string[];
  /** Only a Discord option (named there); Telegram offers the same as buttons, so it is neither typed nor in usage lines. */
  discordOnly?: boolean;
}

/** Who is asking, and from where. */
export interface Caller {
  platform: ChatPlatform;
  /** Telegram user id / Discord user id. */
  userId: string;
  /** Telegram chat id / Discord channel id: where replies and run outcomes go. */
  chatId: string;
  /** The Telegram forum topic (`message_thread_id`) the command came from; replies go there too. */
  threadId?: string;
  /** `true` in a one-to-one chat with the bot (a Telegram private chat, a Discord DM). */
  private?: boolean;
  /** The platform's name for the person (`@name` or first name), shown to admins next to a pairing code. */
  displayName?: string;
}

/** A guided flow waiting for this person's next message in this chat (see {@link Command.answer}). */
export interface FlowState {
  /** The command that continues it. */
  command: string;
  /** What the command remembers between steps. */
  data: Record<string, string>;
}

/** What a command handler works with. */
export interface CommandContext {
  engine: Engine;
  caller: Caller;
  /**
   * The account the command acts as (src/engine/access.ts): the user the chat identity is linked
   * to, or the first admin for an id on the allow list.
   */
  account: Account;
  /** What the person typed after the command (Telegram), for a command that reads it itself; undefined on Discord. */
  typed?: string;
  /**
   * The bot `name` names, case-insensitively.
   * @throws {AppError} VALIDATION_FAILED when `name` is missing (the message shows the usage),
   *   BOT_NOT_FOUND repeating the name and suggesting the closest ones.
   */
  bot(name: string | undefined): Promise<BotRow>;
  /**
   * The bot a button names by id (`run:12` → 12), checked like {@link bot}.
   * @throws {AppError} BOT_NOT_FOUND when it was deleted since (or is not the account's to see),
   *   FORBIDDEN_ROLE when the command changes it and the account may only look.
   */
  botById(id: string): Promise<BotRow>;
  /** Whether the account may see a row owned by `ownerId` (src/engine/access.ts `mayRead`). */
  mayRead(ownerId: number): boolean;
  /**
   * The pipeline `name` names, case-insensitively.
   * @throws {AppError} VALIDATION_FAILED when missing, PIPELINE_NOT_FOUND with suggestions.
   */
  pipeline(name: string | undefined): Promise<PipelineView>;
  /** Says this chat started the run, whose live card the reply (with `card`) becomes. */
  watchRun(runId: number): void;
  /** Says these runs are being stopped from this chat: its "Stopped" reply takes the place of their cancelled outcome. */
  stopping(runIds: number[]): void;
  /** Posts a live card for each step of the pipeline run in this chat, as the steps start. */
  watchPipeline(pipelineRunId: number): void;
  /** Whether this platform can ask for a typed answer (Telegram's `force_reply`); Discord cannot. */
  canAsk: boolean;
  /** The flow waiting for this person here, set or cleared by the command that runs it. */
  flow: { get(): FlowState | undefined; set(state: FlowState): void; clear(): void };
  /** `/name <params>` as help and error messages show it. */
  usage(command: string): string;
}

/** What a button press produces. */
export interface ActionResult {
  /** Posted as a new message (`reply`) or in place of the one carrying the button (`replace`). */
  message?: Message;
  /** A short notice (Telegram's callback answer); a failure's toast is its message. */
  toast?: string;
}

/**
 * A button of a command: its `action` is `<verb>:<args>` (at most 64 bytes, Telegram's
 * `callback_data` limit), e.g. `run:12`. Buttons name bots by id, so they survive a rename.
 */
export interface Action {
  /** `reply`: a new message; `replace`: edit the message carrying the button; `none`: only the toast. */
  mode: 'reply' | 'replace' | 'none';
  /** It changes the bot it names (see {@link Command.writes}). */
  writes?: boolean;
  run(ctx: CommandContext, args: string): ActionResult | Promise<ActionResult>;
}

/** A chat command: its definition (name, description, params), its handler and its buttons. */
export interface Command {
  /** Lower-case, at most 32 characters (Telegram and Discord limits). */
  name: string;
  /** One line for the command menu (at most 100 characters, Discord's limit). */
  description: string;
  params: Param[];
  /**
   * It changes the bots it names (run, stop, pause, delete…): those need `mayWrite`, and a viewer
   * or another user's operator gets a plain refusal. Without it, `mayRead` is enough.
   */
  writes?: boolean;
  /** It creates a bot (needs `mayCreate`: not a viewer). */
  creates?: boolean;
  /** Shown in /help but not registered with the platforms' menus (e.g. Telegram's /start). */
  hidden?: boolean;
  run(ctx: CommandContext, args: Args): Message | Promise<Message>;
  /** Its buttons, by verb (unique across commands). */
  actions?: Record<string, Action>;
  /** The next message of a guided flow this command started (see {@link CommandContext.flow}). */
  answer?(ctx: CommandContext, state: FlowState, text: string): Message | Promise<Message>;
}
