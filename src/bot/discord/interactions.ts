/**
 * Discord interactions (https://discord.com/developers/docs/interactions/receiving-and-responding)
 * turned into core calls: slash commands and buttons are acknowledged at once (`deferReply` /
 * `deferUpdate`, inside Discord's 3-second window), then the deferred reply is edited with the
 * answer and followed up with what does not fit. Refusals are ephemeral.
 */
import {
  MessageFlags,
  type AutocompleteInteraction,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type Interaction,
  type RepliableInteraction,
} from 'discord.js';
import type { Logger } from 'pino';
import type { Args, Caller, CommandCore } from '../core.ts';
import type { Message } from '../message.ts';
import { answerLatch, type ReplyRoute } from '../notifier.ts';
import { renderDiscord, type DiscordPayload } from './render.ts';

/** A Discord caller, with the interaction that can still be followed up. */
export interface DiscordCaller extends Caller {
  interaction?: RepliableInteraction;
}

/** An interaction token lives 15 minutes; after this long, outcomes go to the channel instead. */
const FOLLOW_UP_WINDOW_MS = 14 * 60_000;

/** Mentions in replies never ping anybody. */
const NO_MENTIONS = { allowedMentions: { parse: [] } };

/** The caller of an interaction: the user, and the channel (a DM channel in DMs). */
export function callerOf(i: Interaction): DiscordCaller {
  return {
    platform: 'discord',
    userId: i.user.id,
    chatId: i.channelId ?? i.user.id,
    ...(i.isRepliable() ? { interaction: i } : {}),
  };
}

function payload(p: DiscordPayload) {
  return { ...p, ...NO_MENTIONS };
}

/** Shown instead of an answer Discord refused, so the deferred "thinking…" never stays. */
const FALLBACK = '⚠️ I could not show the answer here; the server log has the details.';

/**
 * Edits the deferred reply with the first part of `msg` and follows up with the rest. When Discord
 * refuses a part, the error is logged and a plain ⚠️ takes its place.
 */
async function answer(i: RepliableInteraction, msg: Message, log: Logger): Promise<void> {
  const [first, ...rest] = renderDiscord(msg);
  let edited = false;
  try {
    await i.editReply(payload(first!));
    edited = true;
    for (const p of rest) await i.followUp(payload(p));
  } catch (err) {
    log.error({ err, interactionId: i.id }, 'could not post the answer to a Discord interaction');
    const fallback = payload({ content: FALLBACK, embeds: [], components: [] });
    await (edited ? i.followUp(fallback) : i.editReply(fallback)).catch((e: unknown) =>
      log.error({ err: e, interactionId: i.id }, 'could not post the fallback answer to an interaction either'),
    );
  }
}

async function refuse(core: CommandCore<DiscordCaller>, i: RepliableInteraction, caller: DiscordCaller): Promise<void> {
  const [first] = renderDiscord(core.refusal(caller));
  await i.reply({ ...payload(first!), flags: MessageFlags.Ephemeral });
}

/**
 * The route that posts a run's outcome as a follow-up of the command that started it
 * (https://discord.com/developers/docs/interactions/receiving-and-responding#create-followup-message),
 * while the interaction token is valid.
 */
export function followUpRoute(i: RepliableInteraction): ReplyRoute {
  return async (msg) => {
    if (Date.now() - i.createdTimestamp > FOLLOW_UP_WINDOW_MS) throw new Error('the interaction token has expired');
    for (const p of renderDiscord(msg)) await i.followUp(payload(p));
  };
}

/** A slash command: each registered option is read as a string and handed to the core. */
export async function onChatInput(core: CommandCore<DiscordCaller>, i: ChatInputCommandInteraction, log: Logger): Promise<void> {
  const caller = callerOf(i);
  if (!core.isAllowed(caller.userId)) return refuse(core, i, caller);
  await i.deferReply();
  const args: Args = {};
  for (const p of core.command(i.commandName)?.params ?? []) {
    const v = i.options.getString(p.name);
    if (v != null) args[p.name] = v;
  }
  const { answered, release } = answerLatch();
  try {
    await answer(i, await core.runCommand({ ...caller, answered }, i.commandName, args), log);
  } finally {
    release();
  }
}

/** A button press: replaces the message carrying the button (delete confirmation) or answers with a new one. */
export async function onButton(core: CommandCore<DiscordCaller>, i: ButtonInteraction, log: Logger): Promise<void> {
  const caller = callerOf(i);
  if (!core.isAllowed(caller.userId)) return refuse(core, i, caller);
  if (core.actionMode(i.customId) === 'replace') await i.deferUpdate();
  else await i.deferReply();
  const { answered, release } = answerLatch();
  try {
    const result = await core.handleAction({ ...caller, answered }, i.customId);
    await answer(i, result.message, log);
  } finally {
    release();
  }
}

/** Autocomplete of `bot` and `target`: matching bot names (none for strangers). */
export async function onAutocomplete(core: CommandCore<DiscordCaller>, i: AutocompleteInteraction): Promise<void> {
  const focused = i.options.getFocused(true);
  const names = focused.name === 'bot' || focused.name === 'target' ? core.botNameChoices(callerOf(i), String(focused.value)) : [];
  await i.respond(names.map((n) => ({ name: n, value: n })));
}
