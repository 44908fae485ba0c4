import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { Readability } from '@mozilla/readability';
import { parseHTML } from 'linkedom';
import { z } from 'zod';
import { defineTool, ToolError, truncate } from './tool.ts';

/** Most redirects followed. */
export const MAX_REDIRECTS = 5;
/** Time limit for the whole fetch (redirects and body), in ms. */
export const FETCH_TIMEOUT_MS = 15_000;
/** Largest response body read, in bytes (2 MiB). */
export const MAX_BODY_BYTES = 2 * 1024 * 1024;
/** Most characters of page text returned to the model. */
const MAX_TEXT_CHARS = 20_000;
/** Most links listed under a page's text. */
const MAX_LINKS = 40;

/** Most request headers a `web_fetch` call may set. */
export const MAX_FETCH_HEADERS = 10;
/** A bot secret inside a header value: `{{secret.NAME}}` (NAME as in engine/bot-secrets.ts). */
const SECRET_PLACEHOLDER = /\{\{\s*secret\.([A-Z][A-Z0-9_]{0,63})\s*\}\}/g;

/**
 * `headers` with every `{{secret.NAME}}` replaced by the value of the bot's secret NAME.
 * @throws {ToolError} when the bot has no secret of a name used (the names it has are listed).
 */
export function withSecrets(headers: Record<string, string>, secrets: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    out[name] = value.replace(SECRET_PLACEHOLDER, (_m, key: string) => {
      const v = secrets[key];
      if (v === undefined) throw new ToolError(`this bot has no secret named ${key} (it has ${Object.keys(secrets).sort().join(', ') || 'none'})`);
      return v;
    });
  }
  return out;
}

/** The tool error for a destination on this machine or a private network. */
export const PRIVATE_REFUSED = 'web_fetch refuses private and loopback addresses (set WEB_FETCH_ALLOW_PRIVATE=true to allow)';

/**
 * Where a bot must not reach by default: this machine (its own dashboard and API, other bots'
 * documents through it), link-local (cloud metadata at 169.254.169.254) and private networks.
 * IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) are checked against the IPv4 ranges by BlockList.
 */
const PRIVATE_RANGES = new net.BlockList();
// prettier-ignore
const PRIVATE_V4 = [['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 3]] as const;
// IPv6 forms that carry an IPv4 address some network may translate to it: IPv4-compatible (::/96),
// IPv4-translated (::ffff:0:0:0/96), NAT64 (64:ff9b::/96, 64:ff9b:1::/48) and 6to4 (2002::/16).
// prettier-ignore
const PRIVATE_V6 = [['::', 96], ['::ffff:0:0:0', 96], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['2002::', 16],
  ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8]] as const;
for (const [net4, bits] of PRIVATE_V4) PRIVATE_RANGES.addSubnet(net4, bits, 'ipv4');
for (const [net6, bits] of PRIVATE_V6) PRIVATE_RANGES.addSubnet(net6, bits, 'ipv6');

/**
 * `true` for a loopback, unspecified, link-local, private (RFC 1918, fc00::/7), shared (100.64/10)
 * or multicast/reserved address, and for anything that is not an IP address at all.
 */
export function isPrivateAddress(ip: string): boolean {
  const type = net.isIPv4(ip) ? 'ipv4' : net.isIPv6(ip) ? 'ipv6' : null;
  return type === null || PRIVATE_RANGES.check(ip, type);
}

/**
 * Resolves `url`'s host (every address, as `dns.lookup` gives them) and refuses it when any is
 * private. The connection resolves the name again; a name that changes its answer in between
 * (DNS rebinding with a zero TTL) is not caught here.
 * @throws {ToolError} {@link PRIVATE_REFUSED} with the host and the address found.
 */
async function checkDestination(url: URL): Promise<void> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const addresses = net.isIP(host) ? [host] : (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
  const bad = addresses.find(isPrivateAddress);
  if (bad !== undefined) throw new ToolError(`${PRIVATE_REFUSED}: ${net.isIP(host) ? bad : `${host} resolves to ${bad}`}`);
}

/** A fetched page reduced to text. */
export interface FetchedPage {
  /** The URL after redirects. */
  url: string;
  status: number;
  contentType: string;
  title: string | null;
  /** Readable text (HTML) or the body as is (text, JSON, XML). */
  text: string;
  /** Links found in the readable part of an HTML page, absolute, at most 40. */
  links: { text: string; href: string }[];
}

/**
 * GETs `url`, following at most {@link MAX_REDIRECTS} redirects, within {@link FETCH_TIMEOUT_MS}
 * and {@link MAX_BODY_BYTES}; HTML is reduced to its readable text with Mozilla Readability over
 * linkedom (https://github.com/mozilla/readability). `opts.headers` are sent to the URL's own origin,
 * and dropped once a redirect leads to another. Unless `opts.allowPrivate`, the host of the URL
 * and of every redirect is resolved first and loopback, link-local and private addresses are refused.
 * @throws {ToolError} for a bad URL, a private destination, too many redirects, HTTP errors, limits, and non-text bodies.
 */
export async function fetchPage(url: string, signal: AbortSignal, opts: { allowPrivate?: boolean; headers?: Record<string, string> } = {}): Promise<FetchedPage> {
  const timeout = AbortSignal.timeout(FETCH_TIMEOUT_MS);
  const both = AbortSignal.any([signal, timeout]);
  let current = parseHttpUrl(url);
  const origin = current.origin;
  try {
    for (let hop = 0; ; hop++) {
      if (!opts.allowPrivate) await checkDestination(current);
      const res = await fetch(current, {
        redirect: 'manual',
        signal: both,
        headers: {
          'user-agent': 'openOrchestrator/0.1 (+web_fetch)',
          accept: 'text/html,application/xhtml+xml,application/json,text/plain;q=0.9,*/*;q=0.5',
          // The caller's headers (a bot's token) go to the origin it named only, never where a redirect leads.
          ...(current.origin === origin ? opts.headers : {}),
        },
      });
      if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
        await res.body?.cancel();
        if (hop >= MAX_REDIRECTS) throw new ToolError(`too many redirects (more than ${MAX_REDIRECTS})`);
        current = parseHttpUrl(new URL(res.headers.get('location')!, current).toString());
        continue;
      }
      if (!res.ok) {
        await res.body?.cancel();
        throw new ToolError(`HTTP ${res.status} ${res.statusText} from ${current}`);
      }
      const contentType = (res.headers.get('content-type') ?? '').toLowerCase();
      const body = await readLimited(res);
      return toPage(current.toString(), res.status, contentType, body);
    }
  } catch (err) {
    if (err instanceof ToolError) throw err;
    if (timeout.aborted) throw new ToolError(`no complete answer within ${FETCH_TIMEOUT_MS / 1000} s`);
    if (signal.aborted) throw err;
    const cause = (err as { cause?: { message?: string; code?: string } }).cause;
    throw new ToolError(`cannot fetch ${current}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
}

function parseHttpUrl(raw: string): URL {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    throw new ToolError(`"${raw}" is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ToolError(`only http and https URLs can be fetched, not ${u.protocol}`);
  return u;
}

async function readLimited(res: Response): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length'));
  if (declared > MAX_BODY_BYTES) {
    await res.body?.cancel();
    throw new ToolError(`the page is larger than ${MAX_BODY_BYTES / 1024 / 1024} MB (${declared} bytes)`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  if (!res.body) return Buffer.alloc(0);
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      throw new ToolError(`the page is larger than ${MAX_BODY_BYTES / 1024 / 1024} MB`);
    }
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks);
}

function decode(body: Buffer, contentType: string): string {
  const charset = /charset=["']?([\w-]+)/.exec(contentType)?.[1];
  try {
    return new TextDecoder(charset ?? 'utf-8').decode(body);
  } catch {
    return new TextDecoder('utf-8').decode(body);
  }
}

function toPage(url: string, status: number, contentType: string, body: Buffer): FetchedPage {
  const isHtml = contentType.includes('html') || (!contentType && /^\s*<(!doctype html|html)/i.test(body.subarray(0, 200).toString('latin1')));
  const isText = isHtml || contentType.startsWith('text/') || /json|xml|javascript|csv|yaml/.test(contentType);
  if (!isText) throw new ToolError(`${url} is not a text page (content-type ${contentType || 'unknown'}, ${body.length} bytes)`);
  const raw = decode(body, contentType);
  if (!isHtml) return { url, status, contentType, title: null, text: raw, links: [] };
  const { title, text, linksFrom } = readable(raw);
  return { url, status, contentType, title, text, links: links(linksFrom, url) };
}

/** Readable title and text of an HTML page; the whole body's text when Readability finds no article. */
export function readable(html: string): { title: string | null; text: string; linksFrom: string } {
  const { document } = parseHTML(html);
  const fallbackTitle = document.querySelector('title')?.textContent?.trim() || null;
  let article: ReturnType<Readability['parse']> = null;
  try {
    // Readability mutates the document; it gets its own copy.
    article = new Readability(parseHTML(html).document as unknown as Document).parse();
  } catch {
    article = null;
  }
  if (article?.textContent && article.textContent.trim().length > 0) {
    return { title: article.title?.trim() || fallbackTitle, text: tidy(article.textContent), linksFrom: article.content ?? '' };
  }
  for (const el of document.querySelectorAll('script,style,noscript,template')) el.remove();
  return { title: fallbackTitle, text: tidy(document.body?.textContent ?? document.documentElement?.textContent ?? ''), linksFrom: html };
}

function tidy(text: string): string {
  return text
    .replace(/\r/g, '')
    .split('\n')
    .map((l) => l.replace(/[ \t\u00a0]+/g, ' ').trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

function links(html: string, base: string): { text: string; href: string }[] {
  if (!html) return [];
  const { document } = parseHTML(`<!doctype html><html><body>${html}</body></html>`);
  const out: { text: string; href: string }[] = [];
  const seen = new Set<string>();
  for (const a of document.querySelectorAll('a[href]')) {
    let href: string;
    try {
      href = new URL(a.getAttribute('href') ?? '', base).toString();
    } catch {
      continue;
    }
    if (!/^https?:/.test(href) || seen.has(href)) continue;
    seen.add(href);
    out.push({ text: (a.textContent ?? '').replace(/\s+/g, ' ').trim().slice(0, 120), href });
    if (out.length >= MAX_LINKS) break;
  }
  return out;
}

/** `web_fetch`: a web page as readable text, with its links. */
export const webFetch = defineTool({
  name: 'web_fetch',
  description: `Fetch a web page (GET) and return its readable text and links. Follows up to ${MAX_REDIRECTS} redirects; ${FETCH_TIMEOUT_MS / 1000} s and ${MAX_BODY_BYTES / 1024 / 1024} MB limits. JSON and plain text are returned as they are.`,
  schema: z.object({
    url: z.string().min(1).describe('An http(s) URL'),
    headers: z
      .record(z.string(), z.string())
      .refine((h) => Object.keys(h).length <= MAX_FETCH_HEADERS, `at most ${MAX_FETCH_HEADERS} headers`)
      .optional()
      .describe("Request headers, sent to this URL's site only. Write {{secret.NAME}} to insert the bot's secret NAME (e.g. \"Authorization\": \"Bearer {{secret.GITHUB_TOKEN}}\"); you never see the value."),
  }),
  async run(args, ctx) {
    const headers = args.headers ? withSecrets(args.headers, ctx.secrets ?? {}) : undefined;
    const page = await fetchPage(args.url, ctx.signal, { allowPrivate: ctx.webFetchAllowPrivate === true, headers });
    const head = [`URL: ${page.url}`, `Status: ${page.status}`, ...(page.title ? [`Title: ${page.title}`] : [])].join('\n');
    const linkList = page.links.length ? `\n\nLinks:\n${page.links.map((l) => `- ${l.text || '(no text)'}: ${l.href}`).join('\n')}` : '';
    return `${head}\n\n${truncate(page.text, MAX_TEXT_CHARS)}${linkList}`;
  },
});
