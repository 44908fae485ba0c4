/**
 * The platform-neutral reply the command core produces. Adapters render it: Telegram as HTML
 * (`telegram/html.ts`), Discord as markdown, embeds and buttons (`discord/render.ts`). Text here is
 * always plain; escaping is the renderer's job, so nothing a user or a bot wrote can inject markup.
 */

/** Inline text: plain, bold, italic, code or a link. */
export type Span =
  | string
  | { bold: Span[] }
  | { italic: Span[] }
  | { code: string }
  | { link: string; text: string };

/** One part of a message; blocks are shown one under the other. */
export type Block =
  /** One line (or paragraph) of inline text. */
  | { type: 'text'; spans: Span[] }
  /** Preformatted text: a log tail, a run's output. May be long; renderers split it. */
  | { type: 'pre'; text: string }
  /** A result: a title (a link when `url`), an excerpt and a footer. A Discord embed. */
  | { type: 'card'; title: string; url?: string | null; text?: string; footer?: string }
  /**
   * A run's output or a log tail: preformatted, kept to one message (at most {@link MAX_OUTPUT_BLOCK}
   * characters). Telegram shows it like `pre`; Discord in an embed, whose 4096 characters hold it
   * where a message's 2000 would not.
   */
  | { type: 'output'; text: string };

/** Longest text an `output` block holds, so that it fits in one Telegram message or Discord embed. */
export const MAX_OUTPUT_BLOCK = 3500;

/** A text file sent with a message: a document on Telegram, an attachment on Discord. */
export interface Attachment {
  /** File name, e.g. `run-12-output.txt`. */
  name: string;
  text: string;
}

/** A button under a message; `action` comes back to `CommandCore.handleAction` when pressed. */
export interface Button {
  label: string;
  /** At most 64 bytes (Telegram's `callback_data` limit), e.g. `run:12`. */
  action: string;
  style?: 'primary' | 'secondary' | 'success' | 'danger';
}

/** A reply: blocks, optional rows of buttons, and how to show it. */
export interface Message {
  blocks: Block[];
  /** Rows of buttons, attached to the last part when the message is split. */
  buttons?: Button[][];
  /** Only the person who asked sees it (Discord); Telegram ignores it. */
  ephemeral?: boolean;
  /** The reply expects an answer (the guided /newbot flow); Telegram asks with `force_reply`. */
  expectReply?: { placeholder: string };
  /** A failure the person should see (and fix): Discord shows it only to them (ephemeral). */
  error?: boolean;
  /** Text files that go with it (a long output): Telegram sends each as a document, Discord attaches them. */
  files?: Attachment[];
  /** The message is the live card of this run: it is posted, then edited as the run goes. */
  card?: { runId: number };
  /** The message says this pipeline run started: once it is posted, a live card follows for each step. */
  steps?: { pipelineRunId: number };
}

/** A text line made of spans. */
export function line(...spans: Span[]): Block {
  return { type: 'text', spans };
}

/** Bold spans. */
export function bold(...spans: Span[]): Span {
  return { bold: spans };
}

/** Italic spans. */
export function italic(...spans: Span[]): Span {
  return { italic: spans };
}

/** Inline code. */
export function code(text: string): Span {
  return { code: text };
}

/** A link; `text` defaults to the URL. */
export function link(url: string, text?: string): Span {
  return { link: url, text: text ?? url };
}

/** A preformatted block. */
export function pre(text: string): Block {
  return { type: 'pre', text };
}

/** A message of the given blocks. */
export function message(blocks: Block[], extra: Omit<Message, 'blocks'> = {}): Message {
  return { blocks, ...extra };
}

/** A one-line message. */
export function say(...spans: Span[]): Message {
  return { blocks: [line(...spans)] };
}

/** A ⚠️ failure message (see {@link Message.error}). */
export function failure(...spans: Span[]): Message {
  return { blocks: [line('⚠️ ', ...spans)], error: true };
}

/** An `output` block, cut to {@link MAX_OUTPUT_BLOCK} characters (keeping the end when `keep` is `tail`). */
export function output(text: string, keep: 'head' | 'tail' = 'head'): Block {
  if (text.length <= MAX_OUTPUT_BLOCK) return { type: 'output', text };
  const room = MAX_OUTPUT_BLOCK - 2;
  return { type: 'output', text: keep === 'head' ? `${text.slice(0, room).trimEnd()}\n…` : `…\n${text.slice(text.length - room).trimStart()}` };
}

/** The plain text of spans, as a reader sees it. */
export function spanText(spans: Span[]): string {
  return spans
    .map((s) => {
      if (typeof s === 'string') return s;
      if ('bold' in s) return spanText(s.bold);
      if ('italic' in s) return spanText(s.italic);
      if ('code' in s) return s.code;
      return s.text;
    })
    .join('');
}

/** The plain text of a whole message (tests and logs). */
export function messageText(msg: Message): string {
  return msg.blocks
    .map((b) => {
      switch (b.type) {
        case 'text':
          return spanText(b.spans);
        case 'pre':
        case 'output':
          return b.text;
        case 'card':
          return [b.title, b.url, b.text, b.footer].filter(Boolean).join('\n');
      }
    })
    .join('\n');
}

/**
 * Cuts `text` into pieces of at most `max` UTF-16 units, preferring to cut after a newline (or a
 * space) in the last fifth of a piece, and never between the halves of a surrogate pair.
 */
export function splitText(text: string, max: number): string[] {
  const out: string[] = [];
  let rest = text;
  while (rest.length > max) {
    const piece = firstPiece(rest, max);
    out.push(piece);
    rest = rest.slice(piece.length);
  }
  if (rest.length > 0 || out.length === 0) out.push(rest);
  return out;
}

/** The first piece {@link splitText} would cut from `text` (all of it when it fits in `max`). */
export function firstPiece(text: string, max: number): string {
  if (max < 2) throw new Error('firstPiece: max must be at least 2');
  if (text.length <= max) return text;
  const floor = Math.floor(max * 0.8);
  const nl = text.lastIndexOf('\n', max - 1);
  if (nl >= floor) return text.slice(0, nl + 1);
  const sp = text.lastIndexOf(' ', max - 1);
  if (sp >= floor) return text.slice(0, sp + 1);
  let cut = max;
  const c = text.charCodeAt(cut - 1);
  if (c >= 0xd800 && c <= 0xdbff) cut -= 1;
  return text.slice(0, cut);
}

/** `text` cut to `max` characters with an ellipsis. */
export function excerpt(text: string, max: number): string {
  const t = text.trim();
  if (t.length <= max) return t;
  let cut = max - 1;
  const c = t.charCodeAt(cut - 1);
  if (c >= 0xd800 && c <= 0xdbff) cut -= 1;
  return t.slice(0, cut).trimEnd() + '…';
}
