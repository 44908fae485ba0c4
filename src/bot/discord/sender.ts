import { ChannelType, DiscordAPIError, Routes, type Client, type REST } from 'discord.js';
import type { Logger } from 'pino';
import type { ChatSender, Place, Posted } from '../chat-sender.ts';
import type { Message } from '../message.ts';
import { retrying, type RetryPolicy } from '../retry.ts';
import { discordFiles, renderDiscord } from './render.ts';

/** `true` when retrying cannot help: 400 invalid form, 401 bad token, 403 missing access, 404 unknown channel. */
export function isPermanentDiscordError(err: unknown): boolean {
  return err instanceof DiscordAPIError && Number(err.status) >= 400 && Number(err.status) < 500 && err.status !== 429;
}

/**
 * Posts to Discord channels with Create Message
 * (https://discord.com/developers/docs/resources/message#create-message), rendered as content,
 * embeds and buttons, files as attachments (multipart), and edits with Edit Message. discord.js's
 * REST client waits out 429s and retries 5xx a few times; what still fails is retried here.
 */
export class DiscordSender implements ChatSender {
  readonly platform = 'discord' as const;
  private readonly retry: RetryPolicy;
  private readonly dmOf = new Map<string, string | null>();

  constructor(
    private readonly client: Client,
    opts: { delaysMs: readonly number[]; signal?: AbortSignal; log: Logger },
  ) {
    this.retry = { ...opts, isPermanent: isPermanentDiscordError };
  }

  private get rest(): REST {
    return this.client.rest;
  }

  async post(place: Place, msg: Message): Promise<Posted> {
    const parts = renderDiscord(msg);
    const files = discordFiles(msg).map((f) => ({ name: f.name, data: f.attachment }));
    let firstId: string | undefined;
    for (const [i, payload] of parts.entries()) {
      const last = i === parts.length - 1;
      const sent = (await retrying(
        'a message',
        () =>
          this.rest.post(Routes.channelMessages(place.chatId), {
            body: { ...payload, allowed_mentions: { parse: [] } },
            ...(last && files.length ? { files } : {}),
          }),
        this.retry,
      )) as { id: string };
      firstId ??= sent.id;
    }
    const id = firstId!;
    return {
      edit: async (m) => {
        const [first] = renderDiscord(m);
        const more = discordFiles(m).map((f) => ({ name: f.name, data: f.attachment }));
        await retrying(
          'an edit',
          () => this.rest.patch(Routes.channelMessage(place.chatId, id), { body: { ...first, allowed_mentions: { parse: [] } }, ...(more.length ? { files: more } : {}) }),
          this.retry,
        );
      },
    };
  }

  /** A DM channel's recipient, from the client's cache or Get Channel (remembered). */
  async isPrivateChatOf(chatId: string, userId: string): Promise<boolean> {
    if (!this.dmOf.has(chatId)) {
      try {
        const ch = await this.client.channels.fetch(chatId);
        this.dmOf.set(chatId, ch && ch.type === ChannelType.DM ? ch.recipientId : null);
      } catch {
        return false; // unknown: better a second copy than none
      }
    }
    return this.dmOf.get(chatId) === userId;
  }
}
