/**
 * Discord interactions (https://discord.com/developers/docs/interactions/receiving-and-responding)
 * turned into core calls. The core answers most commands at once, so the answer is given directly
 * (callback type 4, or 7 to update a button's message), and a failure is ephemeral (flag 64, only
 * the person who asked sees it). A command that takes longer than {@link QUICK_MS} is deferred
 * inside Discord's 3-second window and its answer edited in; if that answer is a failure, the
 * deferred message is deleted and the failure followed up ephemerally. A run's answer is its live
 * card, edited through the interaction's token.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  MessageFlags,
  type AutocompleteInteraction,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type Interaction,
  type RepliableInteraction,
} from 'discord.js';
import type { Logger } from 'pino';
import type { Place, Posted } from '../chat-sender.ts';
import type { Args, Caller, CommandCore } from '../core.ts';
import type { Message } from '../message.ts';
import type { RunDelivery } from '../run-delivery.ts';
import { discordFiles, renderDiscord, type DiscordPayload } from './render.ts';

/** An answer ready within this long is given directly; later ones after a defer (Discord's window is 3 s). */
export const QUICK_MS = 2000;

/** An interaction token lives 15 minutes; after this long its message is no longer edited through it. */
const TOKEN_LIFETIME_MS = 14 * 60_000;

/** Mentions in replies never ping anybody. */
const NO_MENTIONS = { allowedMentions: { parse: [] } };

/** The caller of an interaction: the user, and the channel (a DM channel in DMs). */
export function callerOf(i: Interaction): Caller {
  return { platform: 'discord', userId: i.user.id, chatId: i.channelId ?? i.user.id, private: !i.inGuild(), displayName: i.user.username };
}

/** The payloads of `msg`, its files on the last one. */
function payloads(msg: Message): (DiscordPayload & typeof NO_MENTIONS & { files?: ReturnType<typeof discordFiles> })[] {
  const parts: (DiscordPayload & typeof NO_MENTIONS & { files?: ReturnType<typeof discordFiles> })[] = renderDiscord(msg).map((p) => ({ ...p, ...NO_MENTIONS }));
  const files = discordFiles(msg);
  if (files.length) parts.at(-1)!.files = files;
  return parts;
}

const EPHEMERAL = { flags: MessageFlags.Ephemeral } as const;

/** Shows a failure (or a refusal) to the person only. */
async function ephemeral(i: RepliableInteraction, msg: Message, deferred: 'reply' | 'update' | null): Promise<void> {
  const [first, ...rest] = payloads(msg);
  if (deferred === 'reply') {
    // A deferred reply cannot become ephemeral: it goes, and the failure follows up ephemerally.
    await i.deleteReply().catch(() => {});
    await i.followUp({ ...first!, ...EPHEMERAL });
  } else if (deferred === 'update') await i.followUp({ ...first!, ...EPHEMERAL });
  else await i.reply({ ...first!, ...EPHEMERAL });
  for (const p of rest) await i.followUp({ ...p, ...EPHEMERAL });
}

/** The interaction's own message (its reply), editable while the token lives. */
function original(i: RepliableInteraction): Posted {
  return {
    async edit(msg) {
      if (Date.now() - i.createdTimestamp > TOKEN_LIFETIME_MS) throw new Error('the interaction token has expired');
      const [first] = payloads(msg);
      await i.editReply(first!);
    },
  };
}

/** Posts `msg` as the interaction's reply (or into its deferred reply), the rest as follow-ups. */
function answerSurface(i: RepliableInteraction, deferred: boolean) {
  return async (msg: Message): Promise<Posted> => {
    const [first, ...rest] = payloads(msg);
    if (deferred) await i.editReply(first!);
    else await i.reply(first!);
    for (const p of rest) await i.followUp(p);
    return original(i);
  };
}

/** Runs `work`; resolves with its value if it is ready within {@link QUICK_MS}, else with null (it keeps going). */
async function quickly<T>(work: Promise<T>): Promise<{ value: T } | null> {
  const timer = new AbortController();
  try {
    return await Promise.race([work.then((value) => ({ value })), sleep(QUICK_MS, null, { signal: timer.signal, ref: false }).catch(() => null)]);
  } finally {
    timer.abort();
  }
}

/** Shown instead of an answer Discord refused, so the interaction never hangs "thinking…". */
const FALLBACK = '⚠️ I could not show the answer here; the server log has the details.';

/** Answers a command or button with `msg` (a live card when it is one) through the delivery; a refused answer becomes a plain ⚠️. */
async function answer(i: RepliableInteraction, delivery: RunDelivery, caller: Caller, msg: Message, deferred: boolean, log: Logger): Promise<void> {
  const place: Place = { chatId: caller.chatId };
  let shown = false;
  const surface = answerSurface(i, deferred);
  await delivery.answer(
    caller.chatId,
    msg,
    async (m) => {
      try {
        const posted = await surface(m);
        shown = true;
        return posted;
      } catch (err) {
        log.error({ err, interactionId: i.id }, 'could not post the answer to a Discord interaction');
        throw err;
      }
    },
    place,
  );
  if (!shown) {
    const fallback = { content: FALLBACK, embeds: [], components: [], ...NO_MENTIONS };
    await (i.deferred || i.replied ? i.editReply(fallback) : i.reply(fallback)).catch((err: unknown) =>
      log.error({ err, interactionId: i.id }, 'could not post the fallback answer to an interaction either'),
    );
  }
}

/** A slash command: each registered option is read as a string and handed to the core. */
export async function onChatInput(core: CommandCore, delivery: RunDelivery, i: ChatInputCommandInteraction, log: Logger): Promise<void> {
  const caller = callerOf(i);
  if (!(await core.isAllowed(caller))) return ephemeral(i, await core.refusal(caller), null);
  const args: Args = {};
  for (const p of core.command(i.commandName)?.params ?? []) {
    const v = i.options.getString(p.name);
    if (v != null) args[p.name] = v;
  }
  const work = core.runCommand(caller, i.commandName, args);
  const quick = await quickly(work);
  if (quick) {
    if (quick.value.error) return ephemeral(i, quick.value, null);
    return answer(i, delivery, caller, quick.value, false, log);
  }
  await i.deferReply();
  const msg = await work;
  if (msg.error) return ephemeral(i, msg, 'reply');
  return answer(i, delivery, caller, msg, true, log);
}

/** A button press: updates the message carrying the button, answers with a new one, or only acknowledges (⏹ Stop on a card). */
export async function onButton(core: CommandCore, delivery: RunDelivery, i: ButtonInteraction, log: Logger): Promise<void> {
  const caller = callerOf(i);
  if (!(await core.isAllowed(caller))) return ephemeral(i, await core.refusal(caller), null);
  const mode = core.actionMode(i.customId);
  const work = core.handleAction(caller, i.customId);
  const quick = await quickly(work);
  let deferred: 'reply' | 'update' | null = null;
  if (!quick) {
    deferred = mode === 'reply' ? 'reply' : 'update';
    if (deferred === 'reply') await i.deferReply();
    else await i.deferUpdate();
  }
  const result = quick ? quick.value : await work;
  const msg = result.message;
  if (msg?.error) return ephemeral(i, msg, deferred);
  if (result.mode === 'none' || !msg) {
    if (!deferred) await i.deferUpdate();
    return;
  }
  if (result.mode === 'replace') {
    const [first] = payloads(msg);
    try {
      if (deferred) await i.editReply(first!);
      else await i.update(first!);
    } catch (err) {
      log.error({ err, interactionId: i.id }, 'could not redraw the message of a pressed button');
    }
    return;
  }
  return answer(i, delivery, caller, msg, deferred !== null, log);
}

/** Autocomplete of `bot`, `target` and `pipeline`: matching names (none for strangers). */
export async function onAutocomplete(core: CommandCore, i: AutocompleteInteraction): Promise<void> {
  const focused = i.options.getFocused(true);
  const kind = focused.name === 'bot' || focused.name === 'target' ? 'bot' : focused.name === 'pipeline' ? 'pipeline' : null;
  const names = kind ? await core.nameChoices(callerOf(i), kind, String(focused.value)) : [];
  await i.respond(names.map((n) => ({ name: n, value: n })));
}
