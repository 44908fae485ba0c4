import type { Engine } from '../../engine/engine.ts';
import type { BotRow } from '../../engine/db/schema.ts';
import type { ChatPlatform } from '../../engine/subscriptions.ts';
import type { Message } from '../message.ts';

/** The typed options a command takes; Discord registers them as slash-command options. */
export type ParamName = 'bot' | 'input' | 'name' | 'prompt' | 'spec' | 'event' | 'target';

/** Parsed arguments of a command, by option name. */
export type Args = Partial<Record<ParamName, string>>;

/**
 * One argument of a command, in the order a person types it on Telegram.
 * - `bot`: a bot name, matched against known names (longest match first; quotes allowed);
 * - `word`: one word (or a quoted phrase);
 * - `choice`: one word out of `choices`;
 * - `text`: the rest of the line.
 */
export interface Param {
  name: ParamName;
  kind: 'bot' | 'word' | 'choice' | 'text';
  required: boolean;
  /** Shown in usage lines and as the Discord option's description (at most 100 characters). */
  description: string;
  choices?: readonly string[];
}

/** Who is asking, and from where. */
export interface Caller {
  platform: ChatPlatform;
  /** Telegram user id / Discord user id. */
  userId: string;
  /** Telegram chat id / Discord channel id: where replies and run outcomes go. */
  chatId: string;
  /**
   * Settles once the adapter has posted its answer to this command; the outcome of a run the
   * command started waits for it, so it never arrives before "Started" (a run can end at once).
   */
  answered?: Promise<unknown>;
}

/** What a command handler works with. */
export interface CommandContext {
  engine: Engine;
  caller: Caller;
  /**
   * The bot `name` names, case-insensitively.
   * @throws {AppError} VALIDATION_FAILED when `name` is missing (the message shows the usage),
   *   BOT_NOT_FOUND repeating the name and suggesting the closest ones.
   */
  bot(name: string | undefined): BotRow;
  /** Remembers that this chat started the run, so its outcome comes back here. */
  watchRun(runId: number): void;
  /** Starts the guided /newbot flow in this chat (asking for what `name` does not give); null where the platform has none. */
  startNewBotFlow(name?: string): Message | null;
  /** `/name <params>` as help and error messages show it. */
  usage(command: string): string;
}

/** A chat command: its definition (name, description, params) and its handler. */
export interface Command {
  /** Lower-case, at most 32 characters (Telegram and Discord limits). */
  name: string;
  /** One line for the command menu (at most 100 characters, Discord's limit). */
  description: string;
  params: Param[];
  /** Shown in /help but not registered with the platforms' menus (e.g. Telegram's /start). */
  hidden?: boolean;
  run(ctx: CommandContext, args: Args): Message | Promise<Message>;
}
