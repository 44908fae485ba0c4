import { GrammyError, InputFile, type Api } from 'grammy';
import type { Message as TgMessage } from 'grammy/types';
import type { Logger } from 'pino';
import type { ChatSender, Place, Posted } from '../chat-sender.ts';
import type { Message } from '../message.ts';
import { retrying, type RetryPolicy } from '../retry.ts';
import { renderHtml } from './html.ts';
import { replyMarkup } from './keyboard.ts';

/** A chat id as the Bot API takes it: a number when it is one (ids of supergroups exceed 2^31). */
export function telegramChatId(chatId: string): number | string {
  return /^-?\d+$/.test(chatId) && Number.isSafeInteger(Number(chatId)) ? Number(chatId) : chatId;
}

/** `true` when retrying cannot help: 400 bad request / chat not found, 401 token revoked, 403 blocked or kicked, 404. */
export function isPermanentTelegramError(err: unknown): boolean {
  return err instanceof GrammyError && err.error_code >= 400 && err.error_code < 500 && err.error_code !== 429;
}

/** Where in a chat: its forum topic (https://core.telegram.org/bots/api#sendmessage `message_thread_id`). */
function topic(place: Place): { message_thread_id?: number } {
  return place.threadId ? { message_thread_id: Number(place.threadId) } : {};
}

/** Answers `messageId` (https://core.telegram.org/bots/api#replyparameters), and still posts if it was deleted. */
function replyTo(messageId: number | undefined) {
  return messageId ? { reply_parameters: { message_id: messageId, allow_sending_without_reply: true } } : {};
}

/**
 * Posts to Telegram chats: `sendMessage` (https://core.telegram.org/bots/api#sendmessage) in HTML
 * parse mode, split at 4096 characters with the keyboard on the last part, in the place's forum
 * topic and as a reply to its command; files as documents (`sendDocument`); edits with
 * `editMessageText`. 429s are waited out by @grammyjs/auto-retry on the API; 5xx and network
 * errors are retried here, for every call.
 */
export class TelegramSender implements ChatSender {
  readonly platform = 'telegram' as const;
  private readonly retry: RetryPolicy;

  constructor(
    private readonly api: Api,
    opts: { delaysMs: readonly number[]; signal?: AbortSignal; log: Logger },
  ) {
    this.retry = { ...opts, isPermanent: isPermanentTelegramError };
  }

  async post(place: Place, msg: Message): Promise<Posted> {
    const chat = telegramChatId(place.chatId);
    const parts = renderHtml(msg);
    const markup = replyMarkup(msg);
    let first: TgMessage.TextMessage | undefined;
    for (const [i, text] of parts.entries()) {
      const last = i === parts.length - 1;
      const sent = await retrying(
        'a message',
        () =>
          this.api.sendMessage(chat, text, {
            parse_mode: 'HTML',
            link_preview_options: { is_disabled: true },
            ...topic(place),
            ...(i === 0 ? replyTo(place.replyTo) : {}),
            ...(last && markup ? { reply_markup: markup } : {}),
          }),
        this.retry,
      );
      first ??= sent;
    }
    await this.sendFiles(place, msg, first!.message_id);
    return this.posted(place, first!.message_id);
  }

  /** The message `messageId` in `place`, to edit (the one carrying a pressed button, say). */
  posted(place: Place, messageId: number): Posted {
    return { edit: (msg) => this.edit(place, messageId, msg) };
  }

  /**
   * Replaces a message's text and inline keyboard (https://core.telegram.org/bots/api#editmessagetext);
   * `msg` is kept to one message (what does not fit is cut). "Message is not modified" is no error:
   * what the person sees is already right. Files go beside it as documents.
   */
  private async edit(place: Place, messageId: number, msg: Message): Promise<void> {
    const [first = '…', ...rest] = renderHtml(msg);
    if (rest.length > 0) this.retry.log.warn({ chatId: place.chatId, messageId, parts: rest.length + 1 }, 'an edited message was longer than one Telegram message; its end was left out');
    const markup = replyMarkup(msg);
    const inline = markup && 'inline_keyboard' in markup ? markup : undefined;
    await retrying(
      'an edit',
      () =>
        this.api
          .editMessageText(telegramChatId(place.chatId), messageId, first, {
            parse_mode: 'HTML',
            link_preview_options: { is_disabled: true },
            ...(inline ? { reply_markup: inline } : {}),
          })
          .catch((err: unknown) => {
            if (!isNotModified(err)) throw err;
          }),
      this.retry,
    );
    await this.sendFiles(place, msg, messageId);
  }

  /** Each file of `msg` as a document (https://core.telegram.org/bots/api#senddocument), answering `messageId`. */
  private async sendFiles(place: Place, msg: Message, messageId: number): Promise<void> {
    for (const f of msg.files ?? []) {
      await retrying(
        'a document',
        () =>
          this.api.sendDocument(telegramChatId(place.chatId), new InputFile(Buffer.from(f.text, 'utf8'), f.name), {
            caption: `📎 ${f.name} (${f.text.length.toLocaleString('en-US')} characters)`,
            ...topic(place),
            ...replyTo(messageId),
          }),
        this.retry,
      );
    }
  }

  /** "typing…" for 5 s or until the next message (https://core.telegram.org/bots/api#sendchataction). */
  async typing(place: Place): Promise<void> {
    await this.api.sendChatAction(telegramChatId(place.chatId), 'typing', topic(place));
  }

  async isPrivateChatOf(chatId: string, userId: string): Promise<boolean> {
    // A private chat's id is the user's id (https://core.telegram.org/bots/api#chat).
    return chatId === userId;
  }
}

function isNotModified(err: unknown): boolean {
  return err instanceof GrammyError && /message is not modified/.test(err.description);
}
