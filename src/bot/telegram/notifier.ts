import { GrammyError, type Api } from 'grammy';
import type { ChatSender } from '../notifier.ts';
import type { Message } from '../message.ts';
import { renderHtml } from './html.ts';
import { replyMarkup } from './keyboard.ts';

/** A chat id as the Bot API takes it: a number when it is one (ids of supergroups exceed 2^31). */
export function telegramChatId(chatId: string): number | string {
  return /^-?\d+$/.test(chatId) && Number.isSafeInteger(Number(chatId)) ? Number(chatId) : chatId;
}

/**
 * Posts messages to Telegram chats with `sendMessage` (https://core.telegram.org/bots/api#sendmessage)
 * in HTML parse mode, split at 4096 characters, the keyboard on the last part. 429s are retried by
 * @grammyjs/auto-retry on the API; other failures are left to {@link RunDelivery}.
 */
export class TelegramSender implements ChatSender {
  readonly platform = 'telegram' as const;

  constructor(private readonly api: Api) {}

  async send(chatId: string, msg: Message): Promise<void> {
    await this.sendParts(chatId, renderHtml(msg), replyMarkup(msg));
  }

  /**
   * Replaces the text (and keyboard) of a message the bot sent, with `editMessageText`
   * (https://core.telegram.org/bots/api#editmessagetext); parts beyond the first follow as new messages.
   */
  async replace(chatId: string, messageId: number, msg: Message): Promise<void> {
    const [first = '…', ...rest] = renderHtml(msg);
    const markup = replyMarkup(msg);
    const inline = markup && 'inline_keyboard' in markup ? markup : undefined;
    try {
      await this.api.editMessageText(telegramChatId(chatId), messageId, first, {
        parse_mode: 'HTML',
        link_preview_options: { is_disabled: true },
        ...(rest.length === 0 && inline ? { reply_markup: inline } : {}),
      });
    } catch (err) {
      // Refreshing something that has not changed: what the person sees is already right.
      if (!(err instanceof GrammyError && /message is not modified/.test(err.description))) throw err;
    }
    if (rest.length > 0) await this.sendParts(chatId, rest, markup);
  }

  private async sendParts(chatId: string, parts: string[], markup: ReturnType<typeof replyMarkup>): Promise<void> {
    for (const [i, text] of parts.entries()) {
      const last = i === parts.length - 1;
      await this.api.sendMessage(telegramChatId(chatId), text, {
        parse_mode: 'HTML',
        link_preview_options: { is_disabled: true },
        ...(last && markup ? { reply_markup: markup } : {}),
      });
    }
  }

  isPermanent(err: unknown): boolean {
    // 400 bad request / chat not found, 401 token revoked, 403 bot blocked or kicked, 404 unknown method.
    return err instanceof GrammyError && err.error_code >= 400 && err.error_code < 500 && err.error_code !== 429;
  }
}
