import { InlineKeyboard } from 'grammy';
import type { ForceReply } from 'grammy/types';
import type { Message } from '../message.ts';

/**
 * The reply markup of a message: its buttons as an inline keyboard
 * (https://core.telegram.org/bots/api#inlinekeyboardmarkup), each press coming back as a callback
 * query with the button's action as `callback_data`; or, when the message asks for an answer, a
 * `force_reply` (https://core.telegram.org/bots/api#forcereply) so the answer reaches the bot even
 * in groups with privacy mode on. It is `selective`: in a group only the person the message
 * replies to is asked, not every member.
 */
export function replyMarkup(msg: Message): InlineKeyboard | ForceReply | undefined {
  if (msg.expectReply) return { force_reply: true, selective: true, input_field_placeholder: msg.expectReply.placeholder };
  if (!msg.buttons?.length) return undefined;
  const kb = new InlineKeyboard();
  msg.buttons.forEach((row, i) => {
    if (i > 0) kb.row();
    for (const b of row) kb.text(b.label, b.action);
  });
  return kb;
}
