import { DiscordAPIError, Routes, type REST } from 'discord.js';
import type { Message } from '../message.ts';
import type { ChatSender } from '../notifier.ts';
import { renderDiscord } from './render.ts';

/**
 * Posts messages to Discord channels with Create Message
 * (https://discord.com/developers/docs/resources/message#create-message), rendered as content,
 * embeds and buttons. discord.js's REST client waits out 429s; other failures are left to
 * {@link RunDelivery}.
 */
export class DiscordSender implements ChatSender {
  readonly platform = 'discord' as const;

  constructor(private readonly rest: REST) {}

  async send(channelId: string, msg: Message): Promise<void> {
    for (const payload of renderDiscord(msg)) {
      await this.rest.post(Routes.channelMessages(channelId), { body: { ...payload, allowed_mentions: { parse: [] } } });
    }
  }

  isPermanent(err: unknown): boolean {
    // 400 invalid form, 401 bad token, 403 missing access, 404 unknown channel.
    return err instanceof DiscordAPIError && err.status >= 400 && err.status < 500 && err.status !== 429;
  }
}
