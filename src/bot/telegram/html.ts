/**
 * Renders a {@link Message} as Telegram HTML (https://core.telegram.org/bots/api#html-style):
 * everything escaped, and cut into messages of at most 4096 characters of visible text
 * (https://core.telegram.org/bots/api#sendmessage), never inside a tag.
 */
import { firstPiece, spanText, splitText, type Block, type Message, type Span } from '../message.ts';

/** Telegram's limit on a message's text, counted after entity parsing. */
export const TELEGRAM_MAX_TEXT = 4096;
/** A preformatted block starts in the current message when at least this much room is left. */
const MIN_PRE_START = 400;

/** Escapes text for Telegram's HTML parse mode. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function escapeAttr(s: string): string {
  return escapeHtml(s).replace(/"/g, '&quot;');
}

/** Only these become links; anything else stays visible text. */
function linkable(url: string): boolean {
  return /^(https?|tg):\/\//i.test(url);
}

/** Inline spans as Telegram HTML. */
export function spansHtml(spans: Span[]): string {
  return spans
    .map((s) => {
      if (typeof s === 'string') return escapeHtml(s);
      if ('bold' in s) return `<b>${spansHtml(s.bold)}</b>`;
      if ('italic' in s) return `<i>${spansHtml(s.italic)}</i>`;
      if ('code' in s) return `<code>${escapeHtml(s.code)}</code>`;
      return linkable(s.link) ? `<a href="${escapeAttr(s.link)}">${escapeHtml(s.text)}</a>` : escapeHtml(s.text);
    })
    .join('');
}

interface Piece {
  html: string;
  /** Visible length (what Telegram counts). */
  len: number;
  /** Set apart by a blank line (preformatted blocks and cards). */
  spaced: boolean;
}

function pieces(block: Exclude<Block, { type: 'pre' | 'output' }>, max: number): Piece[] {
  switch (block.type) {
    case 'text': {
      const plain = spanText(block.spans);
      if (plain.length <= max) return [{ html: spansHtml(block.spans), len: plain.length, spaced: false }];
      // A line longer than a whole message: keep the words, drop the formatting.
      return splitText(plain, max).map((t) => ({ html: escapeHtml(t), len: t.length, spaced: false }));
    }
    case 'card': {
      const title = block.url && linkable(block.url) ? `<a href="${escapeAttr(block.url)}">${escapeHtml(block.title)}</a>` : escapeHtml(block.title);
      const parts = [`<b>${title}</b>`];
      let len = block.title.length;
      if (block.text) {
        parts.push(escapeHtml(block.text));
        len += 1 + block.text.length;
      }
      if (block.footer) {
        parts.push(`<i>${escapeHtml(block.footer)}</i>`);
        len += 1 + block.footer.length;
      }
      if (len <= max) return [{ html: parts.join('\n'), len, spaced: true }];
      const plain = [block.title, block.text, block.footer].filter(Boolean).join('\n');
      return splitText(plain, max).map((t) => ({ html: escapeHtml(t), len: t.length, spaced: true }));
    }
  }
}

/**
 * The message as one or more HTML texts, each at most `max` visible characters. Blocks are kept
 * whole when they fit; a longer block (a long output) is cut, each part closing its own tags.
 */
export function renderHtml(msg: Message, max = TELEGRAM_MAX_TEXT): string[] {
  const out: string[] = [];
  let html = '';
  let len = 0;
  let prevSpaced = false;
  const sepFor = (spaced: boolean) => (html === '' ? '' : spaced || prevSpaced ? '\n\n' : '\n');
  const add = (p: Piece) => {
    const sep = sepFor(p.spaced);
    if (html !== '' && len + sep.length + p.len > max) {
      out.push(html);
      html = p.html;
      len = p.len;
    } else {
      html += sep + p.html;
      len += sep.length + p.len;
    }
    prevSpaced = p.spaced;
  };
  for (const block of msg.blocks) {
    if (block.type !== 'pre' && block.type !== 'output') {
      for (const p of pieces(block, max)) add(p);
      continue;
    }
    // A long output fills what is left of the current message, then whole messages.
    let rest = block.text.length > 0 ? block.text : ' ';
    while (rest.length > 0) {
      const room = max - len - sepFor(true).length;
      const chunk = firstPiece(rest, room >= 2 && room >= Math.min(MIN_PRE_START, rest.length) ? room : max);
      rest = rest.slice(chunk.length);
      add({ html: `<pre>${escapeHtml(chunk)}</pre>`, len: chunk.length, spaced: true });
    }
  }
  if (html !== '' || out.length === 0) out.push(html || '…');
  return out;
}
