/**
 * Renders a {@link Message} for Discord: text as escaped markdown in `content` (at most 2000
 * characters a message, https://discord.com/developers/docs/resources/message#create-message),
 * cards as embeds (https://discord.com/developers/docs/resources/message#embed-object) and buttons
 * as action rows (https://discord.com/developers/docs/components/reference#button).
 */
import { ButtonStyle, ComponentType, escapeMarkdown, type APIActionRowComponent, type APIButtonComponent, type APIEmbed } from 'discord.js';
import { excerpt, firstPiece, splitText, type Block, type Button, type Message, type Span } from '../message.ts';

/** Discord's limit on `content`. */
export const DISCORD_MAX_CONTENT = 2000;
const MAX_EMBEDS = 10;
const MAX_ROWS = 5;
const MAX_BUTTONS_PER_ROW = 5;
/** A code block starts in the current message when at least this much room is left. */
const MIN_PRE_START = 300;
const FENCE = '```';

/** One Discord message: what `channel.send`, `editReply` and `followUp` take. */
export interface DiscordPayload {
  content: string;
  embeds: APIEmbed[];
  components: APIActionRowComponent<APIButtonComponent>[];
}

/** The files of a message as discord.js attachments (sent as multipart `files[n]`). */
export function discordFiles(msg: Message): { attachment: Buffer; name: string }[] {
  return (msg.files ?? []).map((f) => ({ attachment: Buffer.from(f.text, 'utf8'), name: f.name }));
}

/** Escapes user text so Discord shows it verbatim (markdown, masked links, headings, quotes, lists). */
export function escapeDiscord(s: string): string {
  return escapeMarkdown(s, { heading: true, bulletedList: true, numberedList: true, maskedLink: true })
    .replace(/^(\s*)(>|#)/gm, '$1\\$2')
    .replace(/@(everyone|here)/g, '@\u200b$1');
}

function spansMd(spans: Span[]): string {
  return spans
    .map((s) => {
      if (typeof s === 'string') return escapeDiscord(s);
      if ('bold' in s) return `**${spansMd(s.bold)}**`;
      if ('italic' in s) return `*${spansMd(s.italic)}*`;
      if ('code' in s) return `\`${s.code.replace(/`/g, 'ˋ')}\``;
      const text = escapeDiscord(s.text).replace(/[[\]]/g, '\\$&');
      return /^https?:\/\//i.test(s.link) ? `[${text}](<${s.link.replace(/[<>\s]/g, encodeURIComponent)}>)` : text;
    })
    .join('');
}

/** `text` escaped with {@link escapeDiscord} and cut so that the escaped text fits in `max`. */
function escapedWithin(text: string, max: number): string {
  for (let limit = max; ; ) {
    const escaped = escapeDiscord(excerpt(text, limit));
    if (escaped.length <= max || limit <= 1) return escaped;
    limit = Math.max(1, limit - (escaped.length - max));
  }
}

/**
 * An http(s) URL Discord accepts as an embed's `url`, or undefined: Discord refuses the whole
 * message (400) for one it cannot parse, so such a link is left out rather than sent.
 */
function embedUrl(url: string | null | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return undefined;
    // Spaces and control characters go percent-encoded; an ordinary URL is sent as written.
    return /[\s\x00-\x1f\x7f]/.test(url) ? parsed.href : url;
  } catch {
    return undefined;
  }
}

/** A card as an embed. Title and description render markdown (masked links included), so they are escaped; the footer is plain text. */
function embedOf(block: Extract<Block, { type: 'card' }>): APIEmbed {
  const url = embedUrl(block.url);
  return {
    title: escapedWithin(block.title, 256),
    ...(url ? { url } : {}),
    ...(block.text ? { description: escapedWithin(block.text, 4096) } : {}),
    ...(block.footer ? { footer: { text: excerpt(block.footer, 2048) } } : {}),
    color: 0x5865f2,
  };
}

const STYLES: Record<NonNullable<Button['style']>, ButtonStyle.Primary | ButtonStyle.Secondary | ButtonStyle.Success | ButtonStyle.Danger> = {
  primary: ButtonStyle.Primary,
  secondary: ButtonStyle.Secondary,
  success: ButtonStyle.Success,
  danger: ButtonStyle.Danger,
};

/** No two backticks stay adjacent, so nothing in `text` can close a code block (``` or ````…). */
function unfence(text: string): string {
  return text.replace(/`(?=`)/g, '`\u200b');
}

/** An `output` block as an embed: a code block in the description, whose 4096 characters hold it. */
function outputEmbed(text: string): APIEmbed {
  const room = 4096 - FENCE.length * 2 - 2;
  let body = unfence(text || ' ');
  if (body.length > room) body = '…' + body.slice(body.length - room + 1);
  return { description: `${FENCE}\n${body}\n${FENCE}`, color: 0x2b2d31 };
}

/** Buttons as action rows: at most 5 rows of 5 (Discord's limits); extra rows are dropped. */
export function actionRows(buttons: Button[][] | undefined): APIActionRowComponent<APIButtonComponent>[] {
  return (buttons ?? []).slice(0, MAX_ROWS).map((row) => ({
    type: ComponentType.ActionRow,
    components: row.slice(0, MAX_BUTTONS_PER_ROW).map((b) => ({
      type: ComponentType.Button,
      style: STYLES[b.style ?? 'secondary'],
      label: excerpt(b.label, 80),
      custom_id: b.action,
    })),
  }));
}

/**
 * The message as one or more Discord messages: content split at 2000 characters, embeds (10 at
 * most per message) and buttons on the last one.
 */
export function renderDiscord(msg: Message, max = DISCORD_MAX_CONTENT): DiscordPayload[] {
  const contents: string[] = [];
  let current = '';
  const add = (piece: string) => {
    const joined = current ? `${current}\n${piece}` : piece;
    if (current && joined.length > max) {
      contents.push(current);
      current = piece;
    } else current = joined;
  };
  for (const block of msg.blocks) {
    if (block.type === 'text') {
      const md = spansMd(block.spans);
      for (const piece of md.length <= max ? [md] : splitText(md, max)) add(piece);
    } else if (block.type === 'pre') {
      // A long output fills what is left of the current message, then whole messages.
      let rest = unfence(block.text || ' ');
      const overhead = FENCE.length * 2 + 2;
      while (rest.length > 0) {
        const room = max - current.length - (current ? 1 : 0) - overhead;
        const chunk = firstPiece(rest, room >= 2 && room >= Math.min(MIN_PRE_START, rest.length) ? room : max - overhead);
        rest = rest.slice(chunk.length);
        add(`${FENCE}\n${chunk}\n${FENCE}`);
      }
    }
  }
  if (current) contents.push(current);
  const embeds = msg.blocks.flatMap((b) => (b.type === 'card' ? [embedOf(b)] : b.type === 'output' ? [outputEmbed(b.text)] : []));
  const embedGroups: APIEmbed[][] = [];
  for (let i = 0; i < embeds.length; i += MAX_EMBEDS) embedGroups.push(embeds.slice(i, i + MAX_EMBEDS));
  const payloads: DiscordPayload[] = contents.map((content) => ({ content, embeds: [], components: [] }));
  if (embedGroups.length > 0) {
    const last = payloads.at(-1);
    if (last) last.embeds = embedGroups.shift()!;
    for (const group of embedGroups) payloads.push({ content: '', embeds: group, components: [] });
  }
  if (payloads.length === 0) payloads.push({ content: '…', embeds: [], components: [] });
  payloads.at(-1)!.components = actionRows(msg.buttons);
  return payloads;
}
