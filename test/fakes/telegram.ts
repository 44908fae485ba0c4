/**
 * A fake Telegram Bot API server speaking the real wire protocol on 127.0.0.1, so tests can
 * drive the real `grammy` library (long polling included) without any network.
 *
 * Mirrors https://core.telegram.org/bots/api : every method is `POST {apiRoot}/bot<token>/<method>`
 * (GET with a query string works too), parameters come as JSON, urlencoded or multipart form data,
 * and every answer is `{ ok: true, result }` or `{ ok: false, error_code, description, parameters? }`
 * with the HTTP status equal to `error_code` (https://core.telegram.org/bots/api#making-requests).
 *
 * @example
 * const fake = await startFakeTelegram();
 * const bot = new Bot(fake.token, { client: { apiRoot: fake.apiRoot } });
 * bot.command('start', (ctx) => ctx.reply('hi'));
 * const running = bot.start();
 * fake.pushMessage({ chatId: 42, fromId: 42, text: '/start' });
 * const call = await fake.waitForCall('sendMessage');
 * await bot.stop(); await running; await fake.close();
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type {
  BotCommand,
  CallbackQuery,
  Chat,
  Message,
  MessageEntity,
  Update,
  User,
  UserFromGetMe,
} from 'grammy/types';

/** The error part of a failed Bot API answer (https://core.telegram.org/bots/api#making-requests). */
export interface TelegramError {
  error_code: number;
  description: string;
  /** https://core.telegram.org/bots/api#responseparameters */
  parameters?: { retry_after?: number; migrate_to_chat_id?: number };
}

/** One Bot API request received by the fake. */
export interface TelegramCall {
  /** 0-based position in `fake.calls`. */
  seq: number;
  /** Method name as the client spelled it in the URL, e.g. `sendMessage`. */
  method: string;
  /**
   * Parameters, normalised whatever the body encoding: integer fields (`chat_id`, `message_id`,
   * `offset`, …) are numbers when numeric, JSON-serialised fields (`reply_markup`, `allowed_updates`,
   * `commands`, …) are parsed, `"true"`/`"false"` flags are booleans.
   */
  payload: Record<string, unknown>;
  /** `true`/`false` once answered; `undefined` while a long poll is still pending. */
  ok?: boolean;
  /** The `result` sent back when `ok`. */
  result?: unknown;
  /** The error sent back when not `ok` (includes errors injected with `failNext`). */
  error?: TelegramError;
}

/** Input for {@link FakeTelegram.pushMessage}. */
export interface PushMessageInput {
  /** Positive: private chat; negative: group; `-100…`: supergroup. */
  chatId: number;
  fromId: number;
  text: string;
  username?: string;
  /** Defaults to `username` or `User<fromId>`. */
  firstName?: string;
  /** A forum topic of a supergroup: the message carries `message_thread_id` and `is_topic_message`. */
  threadId?: number;
}

/** One update the fake posted to the webhook set with `setWebhook`. */
export interface WebhookDelivery {
  updateId: number;
  /** The `X-Telegram-Bot-Api-Secret-Token` header sent (the `secret_token` of `setWebhook`). */
  secretToken?: string;
  /** HTTP status the webhook answered; 0 when it could not be reached. */
  status: number;
}

/** Input for {@link FakeTelegram.pushCallbackQuery}. */
export interface PushCallbackQueryInput {
  chatId: number;
  fromId: number;
  /** `callback_data` of the pressed inline button. */
  data: string;
  /** The message carrying the inline keyboard; a stub bot message is made up if unknown. */
  messageId: number;
  username?: string;
  firstName?: string;
}

/** Handle to a running fake Telegram Bot API server. */
export interface FakeTelegram {
  /** `http://127.0.0.1:PORT`; pass as `new Bot(token, { client: { apiRoot } })`. */
  readonly apiRoot: string;
  /** The token the fake accepts (others get 401 Unauthorized). */
  readonly token: string;
  /** What `getMe` returns; `id` is the numeric prefix of the token. */
  readonly botInfo: UserFromGetMe;
  /** Every request received, in order, including failed and injected-failure ones. */
  readonly calls: TelegramCall[];
  /** Messages currently known to the fake (pushed by users or sent by the bot), by `${chatId}:${messageId}`. */
  readonly messages: ReadonlyMap<string, Message>;
  /** The webhook set with `setWebhook` (empty `url`: none, updates wait for `getUpdates`). */
  readonly webhook: { url: string; secretToken?: string };
  /** Updates posted to the webhook, in order, with the answer each got. */
  readonly webhookDeliveries: WebhookDelivery[];
  /**
   * Posts an update to the webhook as Telegram does (JSON body, `X-Telegram-Bot-Api-Secret-Token`
   * header), optionally with another secret; resolves with the HTTP status. Updates pushed while a
   * webhook is set go there by themselves.
   */
  postToWebhook(update: Update, secretToken?: string): Promise<number>;
  /** Resolves once the update `updateId` was posted to the webhook and answered. */
  waitForWebhookDelivery(updateId: number, timeoutMs?: number): Promise<WebhookDelivery>;
  /** Commands stored by `setMyCommands`, by `JSON.stringify(scope ?? {type:'default'}) + '|' + (language_code ?? '')`. */
  readonly commands: ReadonlyMap<string, BotCommand[]>;
  /**
   * Queue a user's text message as an Update (with `bot_command` entities for `/commands`),
   * answering a pending long poll at once. Returns the `update_id`.
   */
  pushMessage(input: PushMessageInput): number;
  /** Queue a `callback_query` Update (an inline button press). */
  pushCallbackQuery(input: PushCallbackQueryInput): { updateId: number; callbackQueryId: string };
  /** Queue any Update; `update_id` is assigned by the fake and returned. */
  pushUpdate(update: Omit<Update, 'update_id'>): number;
  /**
   * Resolve with the first call to `method` (optionally matching `predicate`) in the WHOLE history:
   * calls recorded before this call count too, so `await fake.waitForCall('sendMessage')` never
   * misses a call that raced ahead. To wait for a later one, let the predicate decide (e.g. compare
   * `call.seq` with a `fake.calls.length` taken earlier) or use {@link FakeTelegram.nextCall}.
   * Rejects after `timeoutMs` (default 5000) with the list of methods seen.
   */
  waitForCall(
    method: string,
    predicate?: (payload: Record<string, unknown>, call: TelegramCall) => boolean,
    timeoutMs?: number,
  ): Promise<TelegramCall>;
  /** Like `waitForCall` but only considers calls recorded after this call. */
  nextCall(
    method: string,
    predicate?: (payload: Record<string, unknown>, call: TelegramCall) => boolean,
    timeoutMs?: number,
  ): Promise<TelegramCall>;
  /**
   * Make the next call to `method` fail once with this error (queued: call several times to fail
   * several calls), e.g. `{ error_code: 429, description: 'Too Many Requests: retry after 1',
   * parameters: { retry_after: 1 } }`. The HTTP status is `error_code`, as Telegram does.
   */
  failNext(method: string, error: TelegramError): void;
  /** Answer pending long polls with no updates, stop the server and destroy every socket. */
  close(): Promise<void>;
}

const DEFAULT_TOKEN = '123456789:AAFakeTelegramTokenForTests_0123456789';

/** Update types delivered when `allowed_updates` is unset or `[]` (https://core.telegram.org/bots/api#getupdates). */
const DEFAULT_EXCLUDED_UPDATES = new Set(['chat_member', 'message_reaction', 'message_reaction_count']);

/** https://core.telegram.org/bots/api#sendchataction */
const CHAT_ACTIONS = new Set([
  'typing',
  'upload_photo',
  'record_video',
  'upload_video',
  'record_voice',
  'upload_voice',
  'upload_document',
  'choose_sticker',
  'find_location',
  'record_video_note',
  'upload_video_note',
]);

const INTEGER_FIELDS = new Set([
  'chat_id',
  'message_id',
  'offset',
  'limit',
  'timeout',
  'from_chat_id',
  'reply_to_message_id',
  'message_thread_id',
  'cache_time',
  'user_id',
]);
const JSON_FIELDS = new Set([
  'reply_markup',
  'allowed_updates',
  'entities',
  'commands',
  'scope',
  'link_preview_options',
  'reply_parameters',
  'message_ids',
  'media',
]);
const BOOLEAN_FIELDS = new Set([
  'disable_notification',
  'protect_content',
  'show_alert',
  'drop_pending_updates',
  'disable_web_page_preview',
  'allow_sending_without_reply',
]);

function botError(error_code: number, description: string, parameters?: TelegramError['parameters']): TelegramError {
  return parameters ? { error_code, description, parameters } : { error_code, description };
}

/** Thrown by method handlers; turned into `{ ok: false, ... }`. */
class ApiError extends Error {
  constructor(readonly error: TelegramError) {
    super(error.description);
  }
}
const badRequest = (what: string) => new ApiError(botError(400, `Bad Request: ${what}`));

function normaliseValue(key: string, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  if (INTEGER_FIELDS.has(key) && /^-?\d+$/.test(value)) return Number(value);
  if (JSON_FIELDS.has(key)) {
    try {
      return JSON.parse(value);
    } catch {
      return value;
    }
  }
  if (BOOLEAN_FIELDS.has(key) && (value === 'true' || value === 'false')) return value === 'true';
  return value;
}

function normalise(raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) out[k] = normaliseValue(k, v);
  return out;
}

/** A file uploaded with a request (multipart/form-data), as the fake stores it. */
export interface UploadedFile {
  filename: string;
  size: number;
  /** The bytes, read as UTF-8 (the bot only sends text documents). */
  text: string;
}

/**
 * Minimal multipart/form-data reader: text fields as strings, file parts as {@link UploadedFile}.
 * A field whose value is `attach://<name>` (how grammY and the Bot API refer to an uploaded part,
 * https://core.telegram.org/bots/api#sending-files) becomes that file.
 */
function parseMultipart(body: Buffer, boundary: string): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  const files: Record<string, UploadedFile> = {};
  const text = body.toString('latin1');
  for (const part of text.split(`--${boundary}`)) {
    const sep = part.indexOf('\r\n\r\n');
    if (sep < 0) continue;
    const head = part.slice(0, sep);
    let value = part.slice(sep + 4);
    if (value.endsWith('\r\n')) value = value.slice(0, -2);
    const name = /name="([^"]*)"/i.exec(head)?.[1];
    if (!name) continue;
    const filename = /filename="?([^";\r\n]*)"?/i.exec(head)?.[1];
    if (filename !== undefined) files[name] = { filename, size: Buffer.byteLength(value, 'latin1'), text: Buffer.from(value, 'latin1').toString('utf8') };
    else fields[name] = Buffer.from(value, 'latin1').toString('utf8');
  }
  for (const [k, v] of Object.entries(fields)) {
    const ref = typeof v === 'string' ? /^attach:\/\/(.+)$/.exec(v)?.[1] : undefined;
    if (ref && files[ref]) fields[k] = files[ref];
  }
  // A file sent directly under the field's own name (no attach:// indirection).
  for (const [k, f] of Object.entries(files)) if (!(k in fields)) fields[k] = f;
  return fields;
}

function parseBody(req: http.IncomingMessage, body: Buffer, url: URL): Record<string, unknown> {
  const raw: Record<string, unknown> = Object.fromEntries(url.searchParams);
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  if (body.length === 0) return raw;
  if (type.startsWith('application/json')) {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (parsed && typeof parsed === 'object') Object.assign(raw, parsed);
  } else if (type.startsWith('application/x-www-form-urlencoded')) {
    Object.assign(raw, Object.fromEntries(new URLSearchParams(body.toString('utf8'))));
  } else if (type.startsWith('multipart/form-data')) {
    // The boundary is case-sensitive: read it from the header as sent.
    const boundary = /boundary=("?)([^";]+)\1/i.exec(req.headers['content-type'] ?? '')?.[2];
    if (boundary) Object.assign(raw, parseMultipart(body, boundary));
  }
  return raw;
}

/** Tags Telegram's HTML parse mode knows (https://core.telegram.org/bots/api#html-style). */
const HTML_TAGS = new Set(['b', 'strong', 'i', 'em', 'u', 'ins', 's', 'strike', 'del', 'a', 'code', 'pre', 'tg-spoiler', 'span', 'blockquote', 'tg-emoji']);

/**
 * Rejects HTML Telegram cannot parse, with its wording: a `<` that starts no known tag, a tag
 * outside the supported set, `<span>` without `class="tg-spoiler"`, an end tag that closes
 * nothing open, or a tag left open. So an escaping mistake fails like it would against Telegram.
 */
function checkHtml(text: string): void {
  const fail = (what: string) => badRequest(`can't parse entities: ${what}`);
  const byteOffset = (i: number) => Buffer.byteLength(text.slice(0, i), 'utf8');
  const open: string[] = [];
  for (let i = text.indexOf('<'); i >= 0; i = text.indexOf('<', i + 1)) {
    const m = /^<(\/?)([A-Za-z][A-Za-z0-9-]*)?([^<>]*)>/.exec(text.slice(i));
    const name = (m?.[2] ?? '').toLowerCase();
    if (!m || !name) throw fail(`Unsupported start tag "${name}" at byte offset ${byteOffset(i)}`);
    if (m[1]) {
      const top = open.pop();
      if (top === undefined) throw fail(`Unexpected end tag at byte offset ${byteOffset(i)}`);
      if (top !== name) throw fail(`Unmatched end tag at byte offset ${byteOffset(i)}, expected "</${top}>", found "</${name}>"`);
      continue;
    }
    if (!HTML_TAGS.has(name)) throw fail(`Unsupported start tag "${name}" at byte offset ${byteOffset(i)}`);
    if (name === 'span' && !/\sclass\s*=\s*"tg-spoiler"/.test(m[3] ?? '')) throw fail(`Tag "span" must have class "tg-spoiler" at byte offset ${byteOffset(i)}`);
    open.push(name);
  }
  if (open.length > 0) throw fail(`Can't find end tag corresponding to start tag "${open.at(-1)}"`);
}

/** Text as Telegram stores it for `parse_mode: 'HTML'` (checked, tags stripped, entities decoded). */
function plainText(text: string, parseMode: unknown): string {
  if (parseMode !== 'HTML') return text;
  checkHtml(text);
  return text
    .replace(/<[^>]*>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
    .replace(/&#x([0-9a-f]+);/gi, (_, n: string) => String.fromCodePoint(parseInt(n, 16)))
    .replace(/&amp;/g, '&');
}

/** `bot_command` entities as Telegram detects them: `/cmd` or `/cmd@bot` at the start or after whitespace. */
function commandEntities(text: string): MessageEntity[] {
  const entities: MessageEntity[] = [];
  const re = /(^|\s)(\/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,64})?)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const lead = m[1] ?? '';
    const cmd = m[2] ?? '';
    entities.push({ type: 'bot_command', offset: m.index + lead.length, length: cmd.length });
  }
  return entities;
}

const now = () => Math.floor(Date.now() / 1000);

/**
 * Start a fake Bot API server on 127.0.0.1 (random port).
 * @param opts.token the token to accept; defaults to a fixed test token whose prefix `123456789` is the bot id.
 */
export async function startFakeTelegram(opts: { token?: string } = {}): Promise<FakeTelegram> {
  const token = opts.token ?? DEFAULT_TOKEN;
  const botId = Number(/^(\d+):/.exec(token)?.[1] ?? 123456789);
  const botInfo: UserFromGetMe = {
    id: botId,
    is_bot: true,
    first_name: 'Fake Bot',
    username: 'fake_test_bot',
    can_join_groups: true,
    can_read_all_group_messages: false,
    supports_inline_queries: false,
    can_connect_to_business: false,
    has_main_web_app: false,
  } as UserFromGetMe;
  const botUser: User = { id: botId, is_bot: true, first_name: botInfo.first_name, username: botInfo.username };

  const calls: TelegramCall[] = [];
  const messages = new Map<string, Message>();
  const commands = new Map<string, BotCommand[]>();
  const users = new Map<number, User>();
  const nextMessageId = new Map<number, number>();
  const openCallbackQueries = new Set<string>();
  const failures = new Map<string, TelegramError[]>();
  const waiters = new Set<() => void>();
  const sockets = new Set<Socket>();

  let queue: Update[] = [];
  let nextUpdateId = 100_000_001;
  let nextCallbackQueryId = 4_382_235_342_069_395_000n;
  let allowedUpdates: string[] | null = null;
  let webhookUrl = '';
  let webhookSecret: string | undefined;
  const webhookDeliveries: WebhookDelivery[] = [];
  /** Forum topics seen per chat (from pushed messages); sending to another topic fails like on Telegram. */
  const topics = new Map<number, Set<number>>();
  let closed = false;
  let pendingPoll: { res: http.ServerResponse; call: TelegramCall; limit: number; timer: NodeJS.Timeout } | null = null;

  const key = (chatId: number, messageId: number) => `${chatId}:${messageId}`;

  function newMessageId(chatId: number): number {
    const id = nextMessageId.get(chatId) ?? 1;
    nextMessageId.set(chatId, id + 1);
    return id;
  }

  function userFor(id: number, username?: string, firstName?: string): User {
    const known = users.get(id);
    const user: User = {
      id,
      is_bot: false,
      first_name: firstName ?? known?.first_name ?? username ?? `User${id}`,
      ...((username ?? known?.username) ? { username: username ?? known?.username } : {}),
      language_code: 'en',
    };
    users.set(id, user);
    return user;
  }

  /** Chat object as Telegram shapes it (https://core.telegram.org/bots/api#chat). */
  function chatFor(chatId: number): Chat {
    if (chatId > 0) {
      const u = users.get(chatId);
      return {
        id: chatId,
        type: 'private',
        first_name: u?.first_name ?? `User${chatId}`,
        ...(u?.username ? { username: u.username } : {}),
      } as Chat;
    }
    if (chatId <= -1_000_000_000_000) return { id: chatId, type: 'supergroup', title: 'Test Supergroup', ...(topics.has(chatId) ? { is_forum: true } : {}) } as Chat;
    return { id: chatId, type: 'group', title: 'Test Group' } as Chat;
  }

  function notify(): void {
    for (const w of [...waiters]) w();
  }

  function record(method: string, payload: Record<string, unknown>): TelegramCall {
    const call: TelegramCall = { seq: calls.length, method, payload };
    calls.push(call);
    return call;
  }

  function updateType(u: Update): string {
    return Object.keys(u).find((k) => k !== 'update_id') ?? 'unknown';
  }

  function isAllowed(u: Update): boolean {
    const t = updateType(u);
    if (!allowedUpdates || allowedUpdates.length === 0) return !DEFAULT_EXCLUDED_UPDATES.has(t);
    return allowedUpdates.includes(t);
  }

  function send(res: http.ServerResponse, call: TelegramCall | null, body: { ok: true; result: unknown } | { ok: false; error: TelegramError }): void {
    const status = body.ok ? 200 : body.error.error_code;
    const json = body.ok
      ? { ok: true, result: body.result }
      : { ok: false, error_code: body.error.error_code, description: body.error.description, ...(body.error.parameters ? { parameters: body.error.parameters } : {}) };
    if (call) {
      call.ok = body.ok;
      if (body.ok) call.result = body.result;
      else call.error = body.error;
    }
    if (!res.writableEnded && !res.destroyed) {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(json));
    }
  }

  function answerPendingPoll(): void {
    if (!pendingPoll) return;
    const p = pendingPoll;
    pendingPoll = null;
    clearTimeout(p.timer);
    send(p.res, p.call, { ok: true, result: queue.slice(0, p.limit) });
    notify();
  }

  async function deliver(update: Update, secretToken: string | undefined): Promise<number> {
    const delivery: WebhookDelivery = { updateId: update.update_id, status: 0, ...(secretToken !== undefined ? { secretToken } : {}) };
    try {
      const res = await fetch(webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(secretToken !== undefined ? { 'x-telegram-bot-api-secret-token': secretToken } : {}) },
        body: JSON.stringify(update),
      });
      await res.arrayBuffer();
      delivery.status = res.status;
    } catch {
      delivery.status = 0;
    }
    webhookDeliveries.push(delivery);
    notify();
    return delivery.status;
  }

  function enqueue(update: Omit<Update, 'update_id'>): number {
    const full = { update_id: nextUpdateId++, ...update } as Update;
    // With a webhook set, Telegram posts each update there instead of keeping it for getUpdates.
    if (webhookUrl && isAllowed(full)) {
      void deliver(full, webhookSecret);
      return full.update_id;
    }
    // Telegram only stores updates of the currently allowed types.
    if (isAllowed(full)) {
      queue.push(full);
      if (pendingPoll) answerPendingPoll();
    }
    return full.update_id;
  }

  function findMessage(chatId: unknown, messageId: unknown): Message | undefined {
    if (typeof chatId !== 'number' || typeof messageId !== 'number') return undefined;
    return messages.get(key(chatId, messageId));
  }

  function requireChatId(p: Record<string, unknown>): number {
    const chatId = p.chat_id;
    if (chatId === undefined || chatId === '') throw badRequest('chat_id is empty');
    if (typeof chatId !== 'number') throw badRequest('chat not found');
    return chatId;
  }

  function sameMarkup(a: unknown, b: unknown): boolean {
    return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
  }

  /** Shared checks of editMessageText / editMessageReplyMarkup (https://core.telegram.org/bots/api#updating-messages). */
  function editable(p: Record<string, unknown>): Message {
    if (p.chat_id === undefined && p.message_id === undefined) throw badRequest('message identifier is not specified');
    const msg = findMessage(p.chat_id, p.message_id);
    if (!msg) throw badRequest('message to edit not found');
    if (msg.from?.id !== botId) throw badRequest("message can't be edited");
    return msg;
  }

  function storeEdit(msg: Message, changes: Record<string, unknown>, markup: unknown): Message {
    const edited: Record<string, unknown> = { ...msg, ...changes, edit_date: now() };
    if (markup) edited.reply_markup = markup;
    else delete edited.reply_markup;
    messages.set(key(msg.chat.id, msg.message_id), edited as unknown as Message);
    return edited as unknown as Message;
  }

  type Handler = (p: Record<string, unknown>) => unknown;
  const methods: Record<string, Handler> = {
    // https://core.telegram.org/bots/api#getme
    getme: () => botInfo,

    // https://core.telegram.org/bots/api#setwebhook — unlike Telegram, http://127.0.0.1 URLs are accepted (tests).
    setwebhook: (p) => {
      const url = typeof p.url === 'string' ? p.url : '';
      if (url && !/^https?:\/\//.test(url)) throw badRequest('bad webhook: An HTTPS URL must be provided for webhook');
      const secret = p.secret_token;
      if (secret !== undefined && (typeof secret !== 'string' || !/^[A-Za-z0-9_-]{1,256}$/.test(secret))) {
        throw badRequest('secret token contains unallowed characters');
      }
      if (Array.isArray(p.allowed_updates)) allowedUpdates = p.allowed_updates.map(String);
      webhookUrl = url;
      webhookSecret = url ? (secret as string | undefined) : undefined;
      if (p.drop_pending_updates === true) queue = [];
      return true;
    },

    // https://core.telegram.org/bots/api#deletewebhook
    deletewebhook: (p) => {
      webhookUrl = '';
      webhookSecret = undefined;
      if (p.drop_pending_updates === true) queue = [];
      return true;
    },

    // https://core.telegram.org/bots/api#getwebhookinfo
    getwebhookinfo: () => ({ url: webhookUrl, has_custom_certificate: false, pending_update_count: queue.length }),

    // https://core.telegram.org/bots/api#setmycommands
    setmycommands: (p) => {
      const list = p.commands;
      if (!Array.isArray(list)) throw badRequest('parameter "commands" is required');
      for (const c of list as BotCommand[]) {
        if (typeof c?.command !== 'string' || !/^[a-z0-9_]{1,32}$/.test(c.command)) throw badRequest('BOT_COMMAND_INVALID');
        if (typeof c.description !== 'string' || c.description.length < 1 || c.description.length > 256) {
          throw badRequest('BOT_COMMAND_DESCRIPTION_INVALID');
        }
      }
      commands.set(commandsKey(p), (list as BotCommand[]).map((c) => ({ command: c.command, description: c.description })));
      return true;
    },

    // https://core.telegram.org/bots/api#getmycommands
    getmycommands: (p) => commands.get(commandsKey(p)) ?? [],

    // https://core.telegram.org/bots/api#deletemycommands
    deletemycommands: (p) => {
      commands.delete(commandsKey(p));
      return true;
    },

    // https://core.telegram.org/bots/api#sendmessage
    sendmessage: (p) => {
      const chatId = requireChatId(p);
      if (typeof p.text !== 'string' || p.text.trim() === '') throw badRequest('message text is empty');
      const text = plainText(p.text, p.parse_mode);
      if (text.length > 4096) throw badRequest('message is too long');
      const msg = {
        message_id: newMessageId(chatId),
        from: botUser,
        chat: chatFor(chatId),
        date: now(),
        ...placement(chatId, p),
        text,
        ...(Array.isArray(p.entities) ? { entities: p.entities as MessageEntity[] } : {}),
        ...(p.reply_markup && typeof p.reply_markup === 'object' && 'inline_keyboard' in p.reply_markup
          ? { reply_markup: p.reply_markup }
          : {}),
      } as Message;
      messages.set(key(chatId, msg.message_id), msg);
      return msg;
    },

    // https://core.telegram.org/bots/api#senddocument
    senddocument: (p) => {
      const chatId = requireChatId(p);
      const doc = p.document;
      if (doc === undefined || doc === '') throw badRequest('there is no document in the request');
      if (typeof doc === 'string') throw badRequest('wrong remote file identifier specified: the fake only takes uploads');
      const file = doc as UploadedFile;
      if (file.size === 0) throw badRequest('file must be non-empty');
      const caption = typeof p.caption === 'string' ? plainText(p.caption, p.parse_mode) : undefined;
      if (caption !== undefined && caption.length > 1024) throw badRequest('message caption is too long');
      const id = `BQACAgIAAxkBAAI${String(calls.length).padStart(6, '0')}`;
      const msg = {
        message_id: newMessageId(chatId),
        from: botUser,
        chat: chatFor(chatId),
        date: now(),
        ...placement(chatId, p),
        document: { file_id: id, file_unique_id: id.slice(-12), file_name: file.filename, mime_type: 'text/plain', file_size: file.size },
        ...(caption ? { caption } : {}),
      } as Message;
      messages.set(key(chatId, msg.message_id), msg);
      return msg;
    },

    // https://core.telegram.org/bots/api#editmessagetext
    editmessagetext: (p) => {
      if (typeof p.text !== 'string' || p.text.trim() === '') throw badRequest('message text is empty');
      if (p.inline_message_id !== undefined) return true;
      const msg = editable(p);
      const text = plainText(p.text, p.parse_mode);
      if (text.length > 4096) throw badRequest('MESSAGE_TOO_LONG');
      const markup = p.reply_markup ?? undefined;
      if ((msg as { text?: string }).text === text && sameMarkup((msg as { reply_markup?: unknown }).reply_markup, markup)) {
        throw badRequest(
          'message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message',
        );
      }
      // Like Telegram, an edit without reply_markup removes the inline keyboard.
      return storeEdit(msg, { text }, markup);
    },

    // https://core.telegram.org/bots/api#editmessagereplymarkup
    editmessagereplymarkup: (p) => {
      if (p.inline_message_id !== undefined) return true;
      const msg = editable(p);
      const markup = p.reply_markup ?? undefined;
      if (sameMarkup((msg as { reply_markup?: unknown }).reply_markup, markup)) {
        throw badRequest(
          'message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message',
        );
      }
      return storeEdit(msg, {}, markup);
    },

    // https://core.telegram.org/bots/api#deletemessage
    deletemessage: (p) => {
      const chatId = requireChatId(p);
      const msg = findMessage(chatId, p.message_id);
      if (!msg) throw badRequest('message to delete not found');
      messages.delete(key(chatId, msg.message_id));
      return true;
    },

    // https://core.telegram.org/bots/api#answercallbackquery
    answercallbackquery: (p) => {
      const id = String(p.callback_query_id ?? '');
      if (!openCallbackQueries.delete(id)) {
        throw badRequest('query is too old and response timeout expired or query ID is invalid');
      }
      return true;
    },

    // https://core.telegram.org/bots/api#sendchataction
    sendchataction: (p) => {
      requireChatId(p);
      if (typeof p.action !== 'string' || !CHAT_ACTIONS.has(p.action)) throw badRequest('wrong parameter action in request');
      return true;
    },
  };

  /**
   * Where a sent message lands: its forum topic (`message_thread_id` must name a topic of the
   * chat) and the message it replies to (`reply_parameters`, which must exist unless
   * `allow_sending_without_reply`).
   */
  function placement(chatId: number, p: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const thread = p.message_thread_id;
    if (thread !== undefined) {
      if (typeof thread !== 'number' || !topics.get(chatId)?.has(thread)) throw badRequest('message thread not found');
      Object.assign(out, { message_thread_id: thread, is_topic_message: true });
    }
    const reply = p.reply_parameters as { message_id?: unknown; allow_sending_without_reply?: unknown } | undefined;
    if (reply !== undefined) {
      const target = findMessage(chatId, reply.message_id);
      if (target) out.reply_to_message = target;
      else if (reply.allow_sending_without_reply !== true) throw badRequest('message to be replied not found');
    }
    return out;
  }

  function commandsKey(p: Record<string, unknown>): string {
    const scope = p.scope && typeof p.scope === 'object' ? p.scope : { type: 'default' };
    return `${JSON.stringify(scope)}|${typeof p.language_code === 'string' ? p.language_code : ''}`;
  }

  /** https://core.telegram.org/bots/api#getupdates — real long polling, one poller at a time. */
  function getUpdates(p: Record<string, unknown>, call: TelegramCall, res: http.ServerResponse): void {
    if (webhookUrl) {
      send(res, call, {
        ok: false,
        error: botError(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"),
      });
      notify();
      return;
    }
    const offset = typeof p.offset === 'number' ? p.offset : 0;
    const limit = Math.min(100, Math.max(1, typeof p.limit === 'number' ? p.limit : 100));
    const timeout = Math.max(0, typeof p.timeout === 'number' ? p.timeout : 0);
    if (Array.isArray(p.allowed_updates)) allowedUpdates = p.allowed_updates.map(String);
    // "An update is considered confirmed as soon as getUpdates is called with an offset higher than its update_id."
    if (offset > 0) queue = queue.filter((u) => u.update_id >= offset);
    else if (offset < 0) queue = queue.slice(offset);
    // Like the real server: a newer getUpdates terminates the one still waiting.
    if (pendingPoll) {
      const old = pendingPoll;
      pendingPoll = null;
      clearTimeout(old.timer);
      send(old.res, old.call, {
        ok: false,
        error: botError(409, 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running'),
      });
    }
    const ready = queue.slice(0, limit);
    if (ready.length > 0 || timeout === 0 || closed) {
      send(res, call, { ok: true, result: ready });
      notify();
      return;
    }
    const poll = {
      res,
      call,
      limit,
      timer: setTimeout(() => {
        if (pendingPoll === poll) answerPendingPoll();
      }, timeout * 1000),
    };
    pendingPoll = poll;
    notify(); // waiters may look for pending polls (call.ok === undefined)
    // A client that gives up (e.g. grammY's bot.stop() aborting the request) stops polling.
    res.on('close', () => {
      if (pendingPoll === poll) {
        clearTimeout(poll.timer);
        pendingPoll = null;
      }
    });
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const m = /^\/bot([^/]+)\/([A-Za-z0-9_]+)$/.exec(url.pathname);
      if (!m) {
        send(res, null, { ok: false, error: botError(404, 'Not Found') });
        return;
      }
      const [, reqToken = '', method = ''] = m;
      let payload: Record<string, unknown>;
      try {
        payload = normalise(parseBody(req, Buffer.concat(chunks), url));
      } catch {
        send(res, null, { ok: false, error: botError(400, "Bad Request: can't parse JSON object") });
        return;
      }
      const call = record(method, payload);
      if (reqToken !== token) {
        send(res, call, { ok: false, error: botError(401, 'Unauthorized') });
        notify();
        return;
      }
      const injected = failures.get(method)?.shift();
      if (injected) {
        send(res, call, { ok: false, error: injected });
        notify();
        return;
      }
      const lower = method.toLowerCase(); // "All methods in the Bot API are case-insensitive."
      if (lower === 'getupdates') {
        getUpdates(payload, call, res);
        return;
      }
      const handler = methods[lower];
      if (!handler) {
        send(res, call, { ok: false, error: botError(404, 'Not Found') });
        notify();
        return;
      }
      try {
        send(res, call, { ok: true, result: handler(payload) });
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        send(res, call, { ok: false, error: err.error });
      }
      notify();
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  function wait(
    method: string,
    predicate: ((payload: Record<string, unknown>, call: TelegramCall) => boolean) | undefined,
    timeoutMs: number,
    from: number,
  ): Promise<TelegramCall> {
    return new Promise((resolve, reject) => {
      let cursor = from;
      const check = () => {
        for (; cursor < calls.length; cursor++) {
          const c = calls[cursor]!;
          if (c.method === method && (!predicate || predicate(c.payload, c))) {
            cleanup();
            resolve(c);
            return;
          }
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`fake Telegram: no ${method} call within ${timeoutMs} ms; saw [${calls.map((c) => c.method).join(', ')}]`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  }

  return {
    apiRoot: `http://127.0.0.1:${port}`,
    token,
    botInfo,
    calls,
    messages,
    commands,

    pushMessage({ chatId, fromId, text, username, firstName, threadId }) {
      const from = userFor(fromId, username, firstName);
      const entities = commandEntities(text);
      if (threadId !== undefined) topics.set(chatId, (topics.get(chatId) ?? new Set()).add(threadId));
      const message = {
        message_id: newMessageId(chatId),
        from,
        chat: chatFor(chatId),
        date: now(),
        ...(threadId !== undefined ? { message_thread_id: threadId, is_topic_message: true } : {}),
        text,
        ...(entities.length ? { entities } : {}),
      } as Message;
      messages.set(key(chatId, message.message_id), message);
      return enqueue({ message } as Omit<Update, 'update_id'>);
    },

    pushCallbackQuery({ chatId, fromId, data, messageId, username, firstName }) {
      const from = userFor(fromId, username, firstName);
      const message =
        messages.get(key(chatId, messageId)) ??
        ({ message_id: messageId, from: botUser, chat: chatFor(chatId), date: now(), text: '' } as Message);
      const id = String(nextCallbackQueryId++);
      openCallbackQueries.add(id);
      const callback_query = {
        id,
        from,
        message,
        chat_instance: String(BigInt.asUintN(63, BigInt(chatId) * 7919n + 104729n)),
        data,
      } as CallbackQuery;
      return { updateId: enqueue({ callback_query } as Omit<Update, 'update_id'>), callbackQueryId: id };
    },

    pushUpdate(update) {
      return enqueue(update);
    },

    get webhook() {
      return { url: webhookUrl, ...(webhookSecret !== undefined ? { secretToken: webhookSecret } : {}) };
    },
    webhookDeliveries,

    postToWebhook(update, secretToken) {
      if (!webhookUrl) return Promise.reject(new Error('fake Telegram: no webhook is set'));
      return deliver(update, arguments.length >= 2 ? secretToken : webhookSecret);
    },

    waitForWebhookDelivery(updateId, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const d = webhookDeliveries.find((x) => x.updateId === updateId);
          if (!d) return;
          cleanup();
          resolve(d);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`fake Telegram: update ${updateId} was not delivered to the webhook within ${timeoutMs} ms`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },

    waitForCall(method, predicate, timeoutMs = 5000) {
      return wait(method, predicate, timeoutMs, 0);
    },

    nextCall(method, predicate, timeoutMs = 5000) {
      return wait(method, predicate, timeoutMs, calls.length);
    },

    failNext(method, error) {
      const list = failures.get(method) ?? [];
      list.push(error);
      failures.set(method, list);
    },

    async close() {
      if (closed) return;
      closed = true;
      answerPendingPoll();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
      await done;
    },
  };
}

/** One Bot API address in front of several fakes (see {@link startFakeTelegramRouter}). */
export interface FakeTelegramRouter {
  /** `http://127.0.0.1:PORT`: `TELEGRAM_API_ROOT` for every bot of the process. */
  readonly apiRoot: string;
  close(): Promise<void>;
}

/**
 * A Bot API root serving several bots, each its own fake (its own updates, messages and calls):
 * a request for `/bot<token>/…` (or `/file/bot<token>/…`) is passed to the fake whose token it is;
 * an unknown token gets 401 Unauthorized, as from Telegram. This is how one process that runs a
 * bot per user, all on one `TELEGRAM_API_ROOT`, is tested.
 */
export async function startFakeTelegramRouter(fakes: readonly FakeTelegram[]): Promise<FakeTelegramRouter> {
  const server = http.createServer((req, res) => {
    const m = /^\/(?:file\/)?bot([^/]+)\//.exec(req.url ?? '/');
    const target = m ? fakes.find((f) => f.token === m[1]) : undefined;
    if (!target) {
      res.writeHead(m ? 401 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: false, error_code: m ? 401 : 404, description: m ? 'Unauthorized' : 'Not Found' }));
      return;
    }
    const upstream = http.request(target.apiRoot + (req.url ?? '/'), { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    apiRoot: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
