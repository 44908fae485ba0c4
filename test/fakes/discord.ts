/**
 * A fake Discord API (REST v10 + Gateway v10) on 127.0.0.1, so tests can drive the real
 * `discord.js` 14 Client — login, READY, slash commands, autocomplete and buttons — without network.
 *
 * One port serves both: HTTP under `/api/v10/...` (https://discord.com/developers/docs/reference)
 * and the Gateway WebSocket at `ws://127.0.0.1:PORT/?v=10&encoding=json`
 * (https://discord.com/developers/docs/events/gateway). Plain JSON frames only: discord.js asks for
 * zlib-stream only when the optional `zlib-sync` package is installed, and text frames are read
 * as JSON even then.
 *
 * @example
 * const fake = await startFakeDiscord();
 * const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: fake.apiBase } });
 * client.on(Events.InteractionCreate, async (i) => { if (i.isChatInputCommand()) await i.reply('pong'); });
 * const ready = once(client, Events.ClientReady);
 * await client.login('any-token'); await ready;
 * fake.slashCommand({ name: 'ping', userId: '111', channelId: '222' });
 * await fake.waitForCall((c) => c.path.endsWith('/callback'));
 * await client.destroy(); await fake.close();
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type {
  APIApplicationCommand,
  APIApplicationCommandInteractionDataOption,
  APIChannel,
  APIMessage,
  APIUser,
} from 'discord.js';

/** Loose JSON object used for the wire payloads the fake builds and reads. */
type Obj = Record<string, any>;

/** One REST request received by the fake. */
export interface DiscordCall {
  /** 0-based position in `fake.calls`. */
  seq: number;
  /** `GET`, `POST`, `PUT`, `PATCH` or `DELETE`. */
  method: string;
  /** Path below the versioned API root, without query: e.g. `/interactions/123/tok/callback`. */
  path: string;
  /** Query string parameters, e.g. `{ with_response: 'false' }`. */
  query: Record<string, string>;
  /** Parsed JSON body (for multipart: the parsed `payload_json`); `undefined` when empty. */
  body: any;
  /** Files of a multipart body (`text`: the bytes read as UTF-8). */
  files: { field: string; filename: string; size: number; contentType?: string; text: string }[];
  /** The `Authorization` header as sent (`Bot <token>`), if any. */
  authorization?: string;
  /** HTTP status answered. */
  status: number;
  /** JSON answered (`undefined` for 204). */
  response?: unknown;
}

/** A scripted REST failure for {@link FakeDiscord.failNext}. */
export interface DiscordFailure {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Options of {@link startFakeDiscord}. */
export interface FakeDiscordOptions {
  /** Application id (also what interactions carry as `application_id`). Default `1100000000000000001`. */
  applicationId?: string;
  /** The bot user's id. Default `1100000000000000002`. */
  botUserId?: string;
  botUsername?: string;
  /** When set, REST calls and IDENTIFY must use this token (else 401 / close 4004). Default: any token. */
  token?: string;
  /** A guild the bot is in: announced in READY (unavailable) and then by GUILD_CREATE, with text channels. */
  guild?: { id: string; name?: string; channelIds?: string[] };
  /** `heartbeat_interval` sent in HELLO. Default 41250 (Discord's usual value). */
  heartbeatIntervalMs?: number;
  /**
   * How long after an interaction is sent its first callback is still accepted; a later one gets
   * 404 `10062 Unknown interaction`, as on Discord. Default 3000.
   */
  interactionResponseWindowMs?: number;
}

/** What the interaction builders return: enough to find the REST calls answering it. */
export interface InteractionRef {
  id: string;
  token: string;
}

/** State the fake keeps per interaction. */
export interface FakeInteractionState {
  id: string;
  token: string;
  /** 2 application command, 3 message component, 4 autocomplete, 5 modal submit. */
  type: number;
  /** The INTERACTION_CREATE payload as dispatched. */
  payload: Obj;
  /** When it was dispatched (ms since the epoch); the first callback must come within the response window. */
  sentAt: number;
  /** Set by the first callback. */
  responseType?: number;
  /** Id of the message `@original` refers to, once there is one. */
  originalMessageId?: string;
  /** Every message this interaction's answers created (its reply, then follow-ups), in order, deleted ones included. */
  messageIds: string[];
  /** Choices sent with callback type 8. */
  autocompleteChoices?: { name: string; value: string | number }[];
  /** Modal sent with callback type 9. */
  modal?: Obj;
}

/** Handle to a running fake Discord. */
export interface FakeDiscord {
  /** `http://127.0.0.1:PORT/api`; pass as `new Client({ rest: { api } })`. */
  readonly apiBase: string;
  /** `ws://127.0.0.1:PORT`, as returned by GET /gateway/bot. */
  readonly gatewayUrl: string;
  readonly applicationId: string;
  readonly botUser: APIUser;
  /** Every REST request, in order (including failed ones). */
  readonly calls: DiscordCall[];
  /** Commands currently registered (PUT/POST/PATCH/DELETE keep it up to date). */
  readonly registeredCommands: { global: APIApplicationCommand[]; guilds: Record<string, APIApplicationCommand[]> };
  /** Every message the fake knows (sent by the bot, interaction responses, button carriers), by id. */
  readonly messages: Map<string, APIMessage>;
  /** Known channels (configured guild channels, DMs, channels seen in interactions), by id. */
  readonly channels: Map<string, APIChannel>;
  /** Interactions sent so far, by id. */
  readonly interactions: Map<string, FakeInteractionState>;
  /** Every gateway payload received from clients (IDENTIFY, heartbeats, presence updates, ...). */
  readonly gatewayReceived: { op: number; d: unknown }[];

  /**
   * Dispatch INTERACTION_CREATE. Missing fields (id, token, application_id, version, locale,
   * entitlements, app_permissions, context, authorizing_integration_owners, ...) are filled in.
   * Throws when no client has identified.
   */
  sendInteraction(interaction: Obj): InteractionRef;
  /** A chat-input command (type 2 / data.type 1). `options` as name→value (types from the registered command, else inferred) or raw. Without `guildId` it is a DM unless `channelId` is a guild channel. */
  slashCommand(input: {
    name: string;
    options?: Record<string, string | number | boolean> | APIApplicationCommandInteractionDataOption[];
    subcommand?: string;
    userId: string;
    username?: string;
    channelId?: string;
    guildId?: string;
  }): InteractionRef;
  /** An autocomplete interaction (type 4) with `focusedOption` focused and holding `value`. */
  autocomplete(input: {
    name: string;
    focusedOption: string;
    value: string;
    options?: Record<string, string | number | boolean>;
    subcommand?: string;
    userId: string;
    username?: string;
    channelId?: string;
    guildId?: string;
  }): InteractionRef;
  /** A button press (type 3 / component_type 2) on message `messageId` (made up if the fake doesn't know it). */
  buttonPress(input: {
    customId: string;
    userId: string;
    username?: string;
    channelId: string;
    messageId: string;
    guildId?: string;
  }): InteractionRef;
  /**
   * What the person sees of an interaction's answers: each message its reply and follow-ups
   * created that still exists, as it is now, with its `flags` (64: ephemeral, only they see it;
   * 128: still "thinking…").
   */
  answersTo(ref: InteractionRef): APIMessage[];
  /** Send any gateway DISPATCH (op 0) event to the connected client, e.g. `dispatch('MESSAGE_CREATE', {...})`. */
  dispatch(event: string, data: unknown): void;
  /** Close the client's gateway connection with `code` (default 4000: discord.js then RESUMEs). */
  disconnectGateway(code?: number): void;

  /**
   * Resolve with the first REST call matching `predicate` in the WHOLE history (calls made before
   * this call count too). To wait for a later one, compare `call.seq` with a `fake.calls.length`
   * taken earlier, or use {@link FakeDiscord.nextCall}. Rejects after `timeoutMs` (default 5000).
   */
  waitForCall(predicate: (call: DiscordCall) => boolean, timeoutMs?: number): Promise<DiscordCall>;
  /** Like `waitForCall` but only considers calls recorded after this call. */
  nextCall(predicate: (call: DiscordCall) => boolean, timeoutMs?: number): Promise<DiscordCall>;
  /**
   * Make the next REST call matching `match` fail once with `response` (queued per call).
   * `path` is compared like `DiscordCall.path` (string: exact; RegExp: test).
   * @example fake.failNext({ method: 'POST', path: /^\/channels\/\d+\/messages$/ },
   *   { status: 429, body: { message: 'You are being rate limited.', retry_after: 0.2, global: false },
   *     headers: { 'retry-after': '0.2', 'x-ratelimit-scope': 'user' } });
   */
  failNext(match: { method?: string; path: string | RegExp }, response: DiscordFailure): void;
  /** Terminate gateway connections, stop the server and destroy every socket. */
  close(): Promise<void>;
}

const DISCORD_EPOCH = 1420070400000n;
/** Plenty of permissions, as a string bitfield (https://discord.com/developers/docs/topics/permissions). */
const ALL_TEXT_PERMISSIONS = '2248473465835073';

/** Discord's JSON error (https://discord.com/developers/docs/topics/opcodes-and-status-codes#json). */
class DiscordApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: { message: string; code: number; errors?: Obj },
  ) {
    super(body.message);
  }
}
const unknown = (what: string, code: number) => new DiscordApiError(404, { message: `Unknown ${what}`, code });
/** Form-body error, nested like Discord: `{ errors: { data: { content: { _errors: [...] } } } }`. */
function formError(path: string[], code: string, message: string): DiscordApiError {
  let errors: Obj = { _errors: [{ code, message }] };
  for (const key of [...path].reverse()) errors = { [key]: errors };
  return new DiscordApiError(400, { message: 'Invalid Form Body', code: 50035, errors });
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function iso(): string {
  return new Date().toISOString().replace('Z', '+00:00');
}

/** Minimal multipart/form-data reader (discord.js sends `payload_json` + `files[n]` when uploading). */
function parseMultipart(body: Buffer, boundary: string): { fields: Record<string, string>; files: DiscordCall['files'] } {
  const fields: Record<string, string> = {};
  const files: DiscordCall['files'] = [];
  for (const part of body.toString('latin1').split(`--${boundary}`)) {
    const sep = part.indexOf('\r\n\r\n');
    if (sep < 0) continue;
    const head = part.slice(0, sep);
    let value = part.slice(sep + 4);
    if (value.endsWith('\r\n')) value = value.slice(0, -2);
    const name = /name="([^"]*)"/i.exec(head)?.[1];
    if (!name) continue;
    const filename = /filename="([^"]*)"/i.exec(head)?.[1];
    if (filename !== undefined) {
      const contentType = /content-type:\s*([^\r\n]+)/i.exec(head)?.[1];
      files.push({ field: name, filename, size: Buffer.byteLength(value, 'latin1'), ...(contentType ? { contentType } : {}), text: Buffer.from(value, 'latin1').toString('utf8') });
    } else {
      fields[name] = Buffer.from(value, 'latin1').toString('utf8');
    }
  }
  return { fields, files };
}

/**
 * Start a fake Discord REST + Gateway server on 127.0.0.1 (random port).
 */
export async function startFakeDiscord(opts: FakeDiscordOptions = {}): Promise<FakeDiscord> {
  const applicationId = opts.applicationId ?? '1100000000000000001';
  const botUserId = opts.botUserId ?? '1100000000000000002';
  const heartbeatInterval = opts.heartbeatIntervalMs ?? 41_250;
  const responseWindowMs = opts.interactionResponseWindowMs ?? 3000;

  let increment = 0n;
  /** https://discord.com/developers/docs/reference#snowflakes */
  const snowflake = () =>
    (((BigInt(Date.now()) - DISCORD_EPOCH) << 22n) | (1n << 17n) | (increment++ & 0xfffn)).toString();
  const newToken = () => `aW50ZXJhY3Rpb246${randomBytes(60).toString('base64url')}`;

  const botUser: APIUser = {
    id: botUserId,
    username: opts.botUsername ?? 'FakeBot',
    discriminator: '0000',
    global_name: null,
    avatar: null,
    bot: true,
    flags: 0,
    public_flags: 0,
  } as unknown as APIUser;

  const calls: DiscordCall[] = [];
  const registeredCommands: FakeDiscord['registeredCommands'] = { global: [], guilds: {} };
  const messages = new Map<string, APIMessage>();
  const channels = new Map<string, APIChannel>();
  const interactions = new Map<string, FakeInteractionState>();
  const byToken = new Map<string, FakeInteractionState>();
  const users = new Map<string, APIUser>([[botUserId, botUser]]);
  const gatewayReceived: { op: number; d: unknown }[] = [];
  const failures: { method?: string; path: string | RegExp; response: DiscordFailure }[] = [];
  const waiters = new Set<() => void>();
  const sockets = new Set<Socket>();

  const guild = opts.guild
    ? { id: opts.guild.id, name: opts.guild.name ?? 'Fake Guild', channelIds: opts.guild.channelIds ?? [snowflake()] }
    : null;
  if (guild) {
    guild.channelIds.forEach((id, i) => channels.set(id, guildTextChannel(id, guild.id, i === 0 ? 'general' : `channel-${i}`, i)));
  }

  function guildTextChannel(id: string, guildId: string, name: string, position: number): APIChannel {
    return {
      id,
      type: 0,
      guild_id: guildId,
      name,
      position,
      flags: 0,
      parent_id: null,
      topic: null,
      nsfw: false,
      last_message_id: null,
      rate_limit_per_user: 0,
      permission_overwrites: [],
    } as unknown as APIChannel;
  }

  function userFor(id: string, username?: string): APIUser {
    const known = users.get(id);
    const user = {
      id,
      username: username ?? known?.username ?? `user${id.slice(-4)}`,
      discriminator: '0',
      global_name: null,
      avatar: null,
      avatar_decoration_data: null,
      public_flags: 0,
    } as unknown as APIUser;
    users.set(id, user);
    return user;
  }

  /** Guild member object for interactions (https://discord.com/developers/docs/resources/guild#guild-member-object). */
  function memberFor(user: APIUser): Obj {
    return {
      user,
      roles: [],
      premium_since: null,
      permissions: ALL_TEXT_PERMISSIONS,
      pending: false,
      nick: null,
      mute: false,
      deaf: false,
      joined_at: iso(),
      flags: 0,
      avatar: null,
    };
  }

  function dmChannelFor(user: APIUser, id?: string): APIChannel {
    for (const c of channels.values()) {
      const ch = c as Obj;
      if (ch.type === 1 && ch.recipients?.[0]?.id === user.id && (!id || ch.id === id)) return c;
    }
    const dm = { id: id ?? snowflake(), type: 1, last_message_id: null, flags: 0, recipients: [user] } as unknown as APIChannel;
    channels.set(dm.id, dm);
    return dm;
  }

  /** Resolve where an interaction happens: guild channel (given/known guild) or a DM with the user. */
  function placeFor(user: APIUser, channelId?: string, guildId?: string): { channel: Obj; guildId?: string } {
    const known = channelId ? (channels.get(channelId) as Obj | undefined) : undefined;
    const gid = guildId ?? (known?.guild_id as string | undefined);
    if (gid) {
      const id = channelId ?? (guild?.id === gid ? guild.channelIds[0] : undefined) ?? snowflake();
      let ch = channels.get(id) as Obj | undefined;
      if (!ch) {
        ch = guildTextChannel(id, gid, `channel-${id.slice(-4)}`, channels.size) as Obj;
        channels.set(id, ch as APIChannel);
      }
      return { channel: { ...ch, permissions: ALL_TEXT_PERMISSIONS }, guildId: gid };
    }
    return { channel: dmChannelFor(user, channelId) as Obj };
  }

  function notify(): void {
    for (const w of [...waiters]) w();
  }

  // ---------------------------------------------------------------------------------------------
  // Gateway (https://discord.com/developers/docs/events/gateway)
  // ---------------------------------------------------------------------------------------------

  interface Session {
    id: string;
    seq: number;
    ws: WebSocket | null;
    /** Dispatched events, replayed on RESUME (https://discord.com/developers/docs/events/gateway#resuming). */
    events: { op: 0; s: number; t: string; d: unknown }[];
  }
  const sessions = new Map<string, Session>();
  let active: Session | null = null;

  function sendDispatch(session: Session, t: string, d: unknown): void {
    const payload = { op: 0 as const, s: ++session.seq, t, d };
    session.events.push(payload);
    if (session.events.length > 1000) session.events.shift();
    if (session.ws && session.ws.readyState === session.ws.OPEN) session.ws.send(JSON.stringify(payload));
  }

  /** GUILD_CREATE payload (https://discord.com/developers/docs/events/gateway-events#guild-create). */
  function guildCreatePayload(): Obj {
    const g = guild!;
    const joinedAt = iso();
    return {
      id: g.id,
      name: g.name,
      icon: null,
      splash: null,
      discovery_splash: null,
      owner_id: '1100000000000000099',
      afk_channel_id: null,
      afk_timeout: 300,
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      roles: [
        {
          id: g.id,
          name: '@everyone',
          color: 0,
          hoist: false,
          icon: null,
          unicode_emoji: null,
          position: 0,
          permissions: ALL_TEXT_PERMISSIONS,
          managed: false,
          mentionable: false,
          flags: 0,
        },
      ],
      emojis: [],
      stickers: [],
      features: [],
      mfa_level: 0,
      application_id: null,
      system_channel_id: g.channelIds[0] ?? null,
      system_channel_flags: 0,
      rules_channel_id: null,
      max_members: 500000,
      vanity_url_code: null,
      description: null,
      banner: null,
      premium_tier: 0,
      premium_subscription_count: 0,
      preferred_locale: 'en-US',
      public_updates_channel_id: null,
      nsfw_level: 0,
      premium_progress_bar_enabled: false,
      safety_alerts_channel_id: null,
      // GUILD_CREATE extras
      joined_at: joinedAt,
      large: false,
      unavailable: false,
      member_count: 2,
      voice_states: [],
      members: [{ user: botUser, roles: [], joined_at: joinedAt, deaf: false, mute: false, flags: 0, nick: null, avatar: null }],
      channels: g.channelIds.map((id) => {
        const { guild_id: _omit, ...rest } = channels.get(id) as Obj;
        return rest;
      }),
      threads: [],
      presences: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
    };
  }

  function onIdentify(ws: WebSocket, d: Obj): void {
    if (opts.token !== undefined && d?.token !== opts.token) {
      ws.close(4004, 'Authentication failed.');
      return;
    }
    if (typeof d?.intents !== 'number') {
      ws.close(4013, 'Invalid intent(s).');
      return;
    }
    const session: Session = { id: randomBytes(16).toString('hex'), seq: 0, ws, events: [] };
    sessions.set(session.id, session);
    active = session;
    // READY (https://discord.com/developers/docs/events/gateway-events#ready)
    sendDispatch(session, 'READY', {
      v: 10,
      user: { ...botUser, verified: true, mfa_enabled: false, email: null },
      guilds: guild ? [{ id: guild.id, unavailable: true }] : [],
      session_id: session.id,
      resume_gateway_url: gatewayUrl,
      shard: Array.isArray(d.shard) ? d.shard : [0, 1],
      application: { id: applicationId, flags: 0 },
      private_channels: [],
      presences: [],
      relationships: [],
      guild_join_requests: [],
      user_settings: {},
      geo_ordered_rtc_regions: [],
      session_type: 'normal',
      auth: {},
      _trace: ['["fake-gateway",{"micros":0}]'],
    });
    if (guild) sendDispatch(session, 'GUILD_CREATE', guildCreatePayload());
  }

  function onResume(ws: WebSocket, d: Obj): void {
    const session = sessions.get(String(d?.session_id));
    if (!session || (opts.token !== undefined && d?.token !== opts.token)) {
      // op 9 INVALID_SESSION, d=false: not resumable, identify again.
      ws.send(JSON.stringify({ op: 9, d: false, s: null, t: null }));
      return;
    }
    if (session.ws && session.ws !== ws) session.ws.terminate();
    session.ws = ws;
    active = session;
    const from = typeof d.seq === 'number' ? d.seq : 0;
    for (const e of session.events) if (e.s > from) ws.send(JSON.stringify(e));
    sendDispatch(session, 'RESUMED', null);
  }

  function onConnection(ws: WebSocket, req: http.IncomingMessage): void {
    const q = new URL(req.url ?? '/', 'http://127.0.0.1').searchParams;
    if (q.get('v') !== '10') {
      ws.close(4012, 'Invalid API version.');
      return;
    }
    if ((q.get('encoding') ?? 'json') !== 'json') {
      ws.close(4002, 'Error while decoding payload.');
      return;
    }
    let session: Session | null = null;
    // HELLO (https://discord.com/developers/docs/events/gateway-events#hello)
    ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: heartbeatInterval, _trace: ['["fake-gateway",{"micros":0}]'] }, s: null, t: null }));
    ws.on('message', (raw) => {
      let msg: Obj;
      try {
        msg = JSON.parse(String(raw)) as Obj;
      } catch {
        ws.close(4002, 'Error while decoding payload.');
        return;
      }
      gatewayReceived.push({ op: msg.op, d: msg.d });
      switch (msg.op) {
        case 1: // HEARTBEAT -> HEARTBEAT_ACK
          ws.send(JSON.stringify({ op: 11, d: null, s: null, t: null }));
          return;
        case 2: // IDENTIFY
          if (session) {
            ws.close(4005, 'Already authenticated.');
            return;
          }
          onIdentify(ws, msg.d as Obj);
          session = active?.ws === ws ? active : null;
          return;
        case 6: // RESUME
          onResume(ws, msg.d as Obj);
          session = active?.ws === ws ? active : null;
          return;
        case 3: // PRESENCE_UPDATE
        case 4: // VOICE_STATE_UPDATE
        case 8: // REQUEST_GUILD_MEMBERS
          if (!session) ws.close(4003, 'Not authenticated.');
          return;
        default:
          ws.close(4001, 'Unknown opcode.');
      }
    });
    ws.on('close', (code) => {
      const s = [...sessions.values()].find((x) => x.ws === ws);
      if (!s) return;
      s.ws = null;
      // Closing with 1000/1001 invalidates the session; other codes keep it resumable.
      if (code === 1000 || code === 1001) {
        sessions.delete(s.id);
        if (active === s) active = null;
      }
    });
  }

  function requireSession(): Session {
    if (!active) throw new Error('fake Discord: no client has identified on the gateway yet');
    return active;
  }

  // ---------------------------------------------------------------------------------------------
  // Messages
  // ---------------------------------------------------------------------------------------------

  function attachmentsFrom(files: DiscordCall['files'], channelId: string): Obj[] {
    return files.map((f) => {
      const id = snowflake();
      const url = `https://cdn.discordapp.com/attachments/${channelId}/${id}/${f.filename}`;
      return { id, filename: f.filename, size: f.size, url, proxy_url: url, ...(f.contentType ? { content_type: f.contentType } : {}) };
    });
  }

  /** An embed's `url` must be a well-formed http(s) URL, or Discord refuses the whole message. */
  function validateEmbedUrl(url: unknown, at: string[]): void {
    if (url === undefined || url === null) return;
    let parsed: URL | null = null;
    try {
      parsed = new URL(String(url));
    } catch {
      // below
    }
    if (!parsed || /[\s\x00-\x1f\x7f]/.test(String(url))) throw formError(at, 'URL_TYPE_INVALID_URL', 'Not a well formed URL.');
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw formError(at, 'URL_TYPE_INVALID_SCHEME', `Scheme "${parsed.protocol.slice(0, -1)}" is not supported. Scheme must be one of ('http', 'https').`);
    }
  }

  /** Checks of https://discord.com/developers/docs/resources/message#create-message (limits). */
  function validateMessage(body: Obj | undefined, at: string[], creating: boolean, files: DiscordCall['files']): void {
    const b = body ?? {};
    if (typeof b.content === 'string' && b.content.length > 2000) {
      throw formError([...at, 'content'], 'BASE_TYPE_MAX_LENGTH', 'Must be 2000 or fewer in length.');
    }
    if (Array.isArray(b.embeds) && b.embeds.length > 10) {
      throw formError([...at, 'embeds'], 'BASE_TYPE_MAX_LENGTH', 'Must be 10 or fewer in length.');
    }
    if (Array.isArray(b.embeds)) b.embeds.forEach((e: Obj, i: number) => validateEmbedUrl(e?.url, [...at, 'embeds', String(i), 'url']));
    if (Array.isArray(b.components) && b.components.length > 5 && !((b.flags ?? 0) & (1 << 15))) {
      throw formError([...at, 'components'], 'BASE_TYPE_MAX_LENGTH', 'Must be 5 or fewer in length.');
    }
    const empty =
      !b.content &&
      !(Array.isArray(b.embeds) && b.embeds.length) &&
      !(Array.isArray(b.components) && b.components.length) &&
      !(Array.isArray(b.sticker_ids) && b.sticker_ids.length) &&
      !b.poll &&
      files.length === 0;
    if (creating && empty) throw new DiscordApiError(400, { message: 'Cannot send an empty message', code: 50006 });
  }

  /** A Message object (https://discord.com/developers/docs/resources/message#message-object). */
  function createMessage(channelId: string, body: Obj | undefined, files: DiscordCall['files'], extra: Obj = {}): APIMessage {
    const b = body ?? {};
    const msg: Obj = {
      type: 0,
      content: typeof b.content === 'string' ? b.content : '',
      mentions: [],
      mention_roles: [],
      attachments: attachmentsFrom(files, channelId),
      embeds: Array.isArray(b.embeds) ? b.embeds : [],
      timestamp: iso(),
      edited_timestamp: null,
      flags: typeof b.flags === 'number' ? b.flags : 0,
      components: Array.isArray(b.components) ? b.components : [],
      id: snowflake(),
      channel_id: channelId,
      author: botUser,
      pinned: false,
      mention_everyone: false,
      tts: b.tts === true,
      ...extra,
    };
    if (b.message_reference?.message_id) {
      msg.type = 19;
      msg.message_reference = { type: 0, channel_id: channelId, message_id: b.message_reference.message_id };
      const ref = messages.get(String(b.message_reference.message_id));
      if (ref) msg.referenced_message = ref;
    }
    messages.set(msg.id, msg as APIMessage);
    const ch = channels.get(channelId) as Obj | undefined;
    if (ch) ch.last_message_id = msg.id;
    return msg as APIMessage;
  }

  /** Apply an edit (https://discord.com/developers/docs/resources/message#edit-message). */
  function editMessage(msg: APIMessage, body: Obj | undefined, files: DiscordCall['files']): APIMessage {
    const b = body ?? {};
    const m = msg as Obj;
    const wasLoading = ((m.flags ?? 0) & 128) !== 0;
    if (b.content !== undefined) m.content = b.content ?? '';
    if (b.embeds !== undefined) m.embeds = b.embeds ?? [];
    if (b.components !== undefined) m.components = b.components ?? [];
    if (b.attachments !== undefined || files.length) m.attachments = attachmentsFrom(files, m.channel_id);
    m.flags = (m.flags ?? 0) & ~128; // an edit turns a "thinking…" message into the real one
    if (!wasLoading) m.edited_timestamp = iso();
    return msg;
  }

  // ---------------------------------------------------------------------------------------------
  // Interactions (https://discord.com/developers/docs/interactions/receiving-and-responding)
  // ---------------------------------------------------------------------------------------------

  function interactionMessageExtra(it: FakeInteractionState, followUp: boolean): Obj {
    const p = it.payload;
    const user = p.member?.user ?? p.user;
    const isCommand = it.type === 2;
    return {
      type: isCommand && !followUp ? 20 : 0,
      webhook_id: applicationId,
      application_id: applicationId,
      interaction_metadata: {
        id: it.id,
        type: it.type,
        user,
        authorizing_integration_owners: p.authorizing_integration_owners,
        ...(isCommand ? { name: p.data?.name, command_type: p.data?.type ?? 1 } : {}),
        ...(it.type === 3 ? { interacted_message_id: p.message?.id } : {}),
      },
      ...(isCommand ? { interaction: { id: it.id, type: it.type, name: p.data?.name, user } } : {}),
    };
  }

  /** Which callback types Discord accepts for which interaction type. */
  const ALLOWED_CALLBACKS: Record<number, number[]> = {
    2: [4, 5, 9],
    3: [4, 5, 6, 7, 9],
    4: [8],
    5: [4, 5, 6, 7],
  };

  /** https://discord.com/developers/docs/interactions/receiving-and-responding#create-interaction-response */
  function interactionCallback(id: string, token: string, body: Obj | undefined, query: Record<string, string>, files: DiscordCall['files']) {
    const it = interactions.get(id);
    if (!it || it.token !== token) throw unknown('interaction', 10062);
    // "Interaction tokens are valid for 15 minutes, [but] you must send an initial response within 3 seconds."
    if (it.responseType === undefined && Date.now() - it.sentAt > responseWindowMs) throw unknown('interaction', 10062);
    if (it.responseType !== undefined) {
      throw new DiscordApiError(400, { message: 'Interaction has already been acknowledged.', code: 40060 });
    }
    const type = body?.type;
    if (typeof type !== 'number' || !(ALLOWED_CALLBACKS[it.type] ?? []).includes(type)) {
      throw formError(['type'], 'BASE_TYPE_CHOICES', `Value must be one of the response types valid for interaction type ${it.type}.`);
    }
    const data: Obj = body?.data ?? {};
    let message: APIMessage | undefined;
    const channelId: string = it.payload.channel?.id ?? it.payload.channel_id;
    switch (type) {
      case 4: // CHANNEL_MESSAGE_WITH_SOURCE
        validateMessage(data, ['data'], true, files);
        message = createMessage(channelId, data, files, interactionMessageExtra(it, false));
        it.originalMessageId = message.id;
        it.messageIds.push(message.id);
        break;
      case 5: // DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE: a "Bot is thinking…" message (flag LOADING)
        message = createMessage(channelId, { flags: ((data.flags ?? 0) & 64) | 128 }, [], interactionMessageExtra(it, false));
        it.originalMessageId = message.id;
        it.messageIds.push(message.id);
        break;
      case 6: // DEFERRED_UPDATE_MESSAGE
        it.originalMessageId = it.payload.message?.id;
        break;
      case 7: {
        // UPDATE_MESSAGE: edits the message the component is attached to
        validateMessage(data, ['data'], false, files);
        const target = messages.get(String(it.payload.message?.id));
        if (target) message = editMessage(target, data, files);
        it.originalMessageId = it.payload.message?.id;
        break;
      }
      case 8: {
        // APPLICATION_COMMAND_AUTOCOMPLETE_RESULT
        const choices = Array.isArray(data.choices) ? data.choices : [];
        if (choices.length > 25) throw formError(['data', 'choices'], 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.');
        it.autocompleteChoices = choices;
        break;
      }
      case 9: // MODAL
        it.modal = data;
        break;
    }
    it.responseType = type;
    if (query.with_response !== 'true') return { status: 204 };
    const m = message as Obj | undefined;
    return {
      status: 200,
      body: {
        interaction: {
          id: it.id,
          type: it.type,
          ...(m
            ? {
                response_message_id: m.id,
                response_message_loading: ((m.flags ?? 0) & 128) !== 0,
                response_message_ephemeral: ((m.flags ?? 0) & 64) !== 0,
              }
            : {}),
        },
        ...(m ? { resource: { type, message: m } } : { resource: { type } }),
      },
    };
  }

  function webhookInteraction(appId: string, token: string): FakeInteractionState {
    const it = byToken.get(token);
    if (!it || appId !== applicationId) throw unknown('Webhook', 10015);
    return it;
  }

  function webhookMessage(it: FakeInteractionState, messageId: string): APIMessage {
    const id = messageId === '@original' ? it.originalMessageId : messageId;
    const msg = id ? messages.get(id) : undefined;
    if (!msg) throw unknown('Message', 10008);
    return msg;
  }

  function inferType(value: string | number | boolean): number {
    if (typeof value === 'boolean') return 5;
    if (typeof value === 'number') return Number.isInteger(value) ? 4 : 10;
    return 3;
  }

  function findCommand(name: string, guildId?: string): Obj | undefined {
    const pool = [...(guildId ? registeredCommands.guilds[guildId] ?? [] : []), ...registeredCommands.global];
    return pool.find((c) => c.name === name && (c.type ?? 1) === 1) as Obj | undefined;
  }

  /** Turn `{ name: value }` into interaction option objects, plus `resolved` for user/channel/role options. */
  function buildOptions(
    input: Record<string, string | number | boolean> | APIApplicationCommandInteractionDataOption[] | undefined,
    defs: Obj[] | undefined,
    guildId: string | undefined,
    resolved: Obj,
  ): Obj[] {
    if (!input) return [];
    if (Array.isArray(input)) return input as Obj[];
    return Object.entries(input).map(([name, value]) => {
      const type: number = defs?.find((o) => o.name === name)?.type ?? inferType(value);
      const id = String(value);
      if (type === 6) {
        const u = userFor(id);
        (resolved.users ??= {})[id] = u;
        if (guildId) (resolved.members ??= {})[id] = { roles: [], joined_at: iso(), permissions: ALL_TEXT_PERMISSIONS, flags: 0 };
      } else if (type === 7) {
        (resolved.channels ??= {})[id] = { id, type: 0, name: `channel-${id.slice(-4)}`, permissions: ALL_TEXT_PERMISSIONS };
      } else if (type === 8) {
        (resolved.roles ??= {})[id] = { id, name: `role-${id.slice(-4)}`, color: 0, hoist: false, position: 1, permissions: '0', managed: false, mentionable: false, flags: 0 };
      }
      return { name, type, value };
    });
  }

  function commandData(name: string, guildId: string | undefined, subcommand: string | undefined, options: Obj[], resolved: Obj): Obj {
    const cmd = findCommand(name, guildId);
    const opts2 = subcommand ? [{ name: subcommand, type: 1, options }] : options;
    return {
      id: cmd?.id ?? snowflake(),
      name,
      type: 1,
      ...(opts2.length ? { options: opts2 } : {}),
      ...(Object.keys(resolved).length ? { resolved } : {}),
      ...(cmd?.guild_id ? { guild_id: cmd.guild_id } : {}),
    };
  }

  function optionDefs(name: string, guildId: string | undefined, subcommand: string | undefined): Obj[] | undefined {
    const cmd = findCommand(name, guildId);
    const defs = cmd?.options as Obj[] | undefined;
    return subcommand ? (defs?.find((o) => o.name === subcommand)?.options as Obj[] | undefined) : defs;
  }

  function sendInteraction(partial: Obj): InteractionRef {
    const session = requireSession();
    const user: APIUser = partial.member?.user ?? partial.user ?? userFor('1100000000000000010');
    const gid: string | undefined = partial.guild_id;
    // Every real interaction has a channel; default to the guild's first channel or a DM with the user.
    const channel: Obj = partial.channel ?? placeFor(user, partial.channel_id, gid).channel;
    const payload: Obj = {
      id: snowflake(),
      application_id: applicationId,
      token: newToken(),
      version: 1,
      locale: 'en-US',
      entitlements: [],
      app_permissions: ALL_TEXT_PERMISSIONS,
      attachment_size_limit: 10485760,
      authorizing_integration_owners: gid ? { '0': gid } : { '0': '0' },
      context: gid ? 0 : 1,
      ...(gid ? { guild_locale: 'en-US', guild: { id: gid, locale: 'en-US', features: [] } } : {}),
      channel,
      channel_id: channel.id,
      ...partial,
    };
    if (gid && !payload.member) {
      payload.member = memberFor(user);
      delete payload.user;
    } else if (!gid && !payload.user) {
      payload.user = user;
    }
    const state: FakeInteractionState = { id: payload.id, token: payload.token, type: payload.type, payload, sentAt: Date.now(), messageIds: [] };
    interactions.set(state.id, state);
    byToken.set(state.token, state);
    sendDispatch(session, 'INTERACTION_CREATE', payload);
    return { id: state.id, token: state.token };
  }

  // ---------------------------------------------------------------------------------------------
  // Application commands (https://discord.com/developers/docs/interactions/application-commands)
  // ---------------------------------------------------------------------------------------------

  function validateCommands(list: unknown): Obj[] {
    if (!Array.isArray(list)) throw formError([], 'BASE_TYPE_ARRAY', 'Must be an array.');
    const seen = new Set<string>();
    list.forEach((c: Obj, i: number) => {
      const type = c?.type ?? 1;
      if (typeof c?.name !== 'string' || !/^[-_\p{L}\p{N}]{1,32}$/u.test(c.name) || (type === 1 && c.name !== c.name.toLowerCase())) {
        throw formError([String(i), 'name'], 'APPLICATION_COMMAND_INVALID_NAME', 'Command name is invalid');
      }
      if (type === 1 && (typeof c.description !== 'string' || c.description.length < 1 || c.description.length > 100)) {
        throw formError([String(i), 'description'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.');
      }
      const k = `${type}:${c.name}`;
      if (seen.has(k)) throw formError([String(i), 'name'], 'APPLICATION_COMMANDS_DUPLICATE_NAME', `Application command names must be unique`);
      seen.add(k);
    });
    return list as Obj[];
  }

  function storedCommand(c: Obj, previous: APIApplicationCommand[], guildId?: string): APIApplicationCommand {
    const type = c.type ?? 1;
    const old = previous.find((p) => p.name === c.name && (p.type ?? 1) === type);
    return {
      id: old?.id ?? snowflake(),
      application_id: applicationId,
      version: snowflake(),
      default_member_permissions: c.default_member_permissions ?? null,
      type,
      name: c.name,
      ...(c.name_localizations ? { name_localizations: c.name_localizations } : {}),
      description: c.description ?? '',
      ...(c.description_localizations ? { description_localizations: c.description_localizations } : {}),
      ...(guildId ? { guild_id: guildId } : { dm_permission: c.dm_permission ?? true }),
      contexts: c.contexts ?? null,
      integration_types: c.integration_types ?? [0],
      ...(Array.isArray(c.options) && c.options.length ? { options: c.options } : {}),
      nsfw: c.nsfw ?? false,
    } as APIApplicationCommand;
  }

  function commandList(guildId?: string): APIApplicationCommand[] {
    if (!guildId) return registeredCommands.global;
    return (registeredCommands.guilds[guildId] ??= []);
  }

  function setCommandList(list: APIApplicationCommand[], guildId?: string): void {
    if (guildId) registeredCommands.guilds[guildId] = list;
    else registeredCommands.global = list;
  }

  // ---------------------------------------------------------------------------------------------
  // REST routing
  // ---------------------------------------------------------------------------------------------

  interface Ctx {
    body: Obj | undefined;
    query: Record<string, string>;
    files: DiscordCall['files'];
  }
  type Result = { status: number; body?: unknown };
  interface Route {
    method: string;
    pattern: RegExp;
    /** Needs `Authorization: Bot <token>` (interaction callbacks and webhooks don't). */
    auth: boolean;
    handle: (params: string[], ctx: Ctx) => Result;
  }
  const ok = (body: unknown): Result => ({ status: 200, body });
  const app = (id: string | undefined) => {
    if (id !== applicationId) throw unknown('Application', 10002);
  };
  const S = '([^/]+)';

  const routes: Route[] = [
    // https://discord.com/developers/docs/events/gateway#get-gateway-bot
    {
      method: 'GET',
      pattern: /^\/gateway\/bot$/,
      auth: true,
      handle: () =>
        ok({
          url: gatewayUrl,
          shards: 1,
          session_start_limit: { total: 1000, remaining: 999, reset_after: 14_400_000, max_concurrency: 1 },
        }),
    },
    // https://discord.com/developers/docs/events/gateway#get-gateway
    { method: 'GET', pattern: /^\/gateway$/, auth: false, handle: () => ok({ url: gatewayUrl }) },
    // https://discord.com/developers/docs/resources/user#get-current-user
    { method: 'GET', pattern: /^\/users\/@me$/, auth: true, handle: () => ok(botUser) },
    // https://discord.com/developers/docs/resources/user#create-dm
    {
      method: 'POST',
      pattern: /^\/users\/@me\/channels$/,
      auth: true,
      handle: (_, { body }) => {
        const rid = String(body?.recipient_id ?? '');
        if (!rid) throw formError(['recipient_id'], 'BASE_TYPE_REQUIRED', 'This field is required');
        return ok(dmChannelFor(users.get(rid) ?? userFor(rid)));
      },
    },
    // https://discord.com/developers/docs/resources/user#get-user
    {
      method: 'GET',
      pattern: new RegExp(`^/users/${S}$`),
      auth: true,
      handle: ([id]) => {
        const u = users.get(id!);
        if (!u) throw unknown('User', 10013);
        return ok(u);
      },
    },
    // https://discord.com/developers/docs/resources/application#get-current-application
    {
      method: 'GET',
      pattern: /^\/applications\/@me$/,
      auth: true,
      handle: () =>
        ok({
          id: applicationId,
          name: botUser.username,
          icon: null,
          description: '',
          summary: '',
          type: null,
          bot_public: true,
          bot_require_code_grant: false,
          verify_key: '0'.repeat(64),
          flags: 0,
          team: null,
          owner: { id: '1100000000000000099', username: 'owner', discriminator: '0', global_name: null, avatar: null, public_flags: 0 },
          bot: botUser,
          approximate_guild_count: guild ? 1 : 0,
          tags: [],
          integration_types_config: { '0': {} },
        }),
    },
    // https://discord.com/developers/docs/interactions/application-commands#get-global-application-commands (+ guild variant)
    {
      method: 'GET',
      pattern: new RegExp(`^/applications/${S}(?:/guilds/${S})?/commands$`),
      auth: true,
      handle: ([a, g]) => {
        app(a);
        return ok(commandList(g));
      },
    },
    // https://discord.com/developers/docs/interactions/application-commands#bulk-overwrite-global-application-commands (+ guild variant)
    {
      method: 'PUT',
      pattern: new RegExp(`^/applications/${S}(?:/guilds/${S})?/commands$`),
      auth: true,
      handle: ([a, g], { body }) => {
        app(a);
        const list = validateCommands(body);
        const previous = commandList(g);
        const stored = list.map((c) => storedCommand(c, previous, g));
        setCommandList(stored, g);
        return ok(stored);
      },
    },
    // https://discord.com/developers/docs/interactions/application-commands#create-global-application-command (+ guild variant)
    {
      method: 'POST',
      pattern: new RegExp(`^/applications/${S}(?:/guilds/${S})?/commands$`),
      auth: true,
      handle: ([a, g], { body }) => {
        app(a);
        const [c] = validateCommands([body]);
        const previous = commandList(g);
        const stored = storedCommand(c!, previous, g);
        setCommandList([...previous.filter((p) => p.id !== stored.id), stored], g);
        return { status: previous.some((p) => p.id === stored.id) ? 200 : 201, body: stored };
      },
    },
    // https://discord.com/developers/docs/interactions/application-commands#get-global-application-command (+ guild variant)
    {
      method: 'GET',
      pattern: new RegExp(`^/applications/${S}(?:/guilds/${S})?/commands/${S}$`),
      auth: true,
      handle: ([a, g, id]) => {
        app(a);
        const c = commandList(g).find((x) => x.id === id);
        if (!c) throw unknown('application command', 10063);
        return ok(c);
      },
    },
    // https://discord.com/developers/docs/interactions/application-commands#edit-global-application-command (+ guild variant)
    {
      method: 'PATCH',
      pattern: new RegExp(`^/applications/${S}(?:/guilds/${S})?/commands/${S}$`),
      auth: true,
      handle: ([a, g, id], { body }) => {
        app(a);
        const list = commandList(g);
        const i = list.findIndex((x) => x.id === id);
        if (i < 0) throw unknown('application command', 10063);
        const stored = storedCommand({ ...list[i], ...body }, list, g);
        setCommandList(list.map((x, j) => (j === i ? stored : x)), g);
        return ok(stored);
      },
    },
    // https://discord.com/developers/docs/interactions/application-commands#delete-global-application-command (+ guild variant)
    {
      method: 'DELETE',
      pattern: new RegExp(`^/applications/${S}(?:/guilds/${S})?/commands/${S}$`),
      auth: true,
      handle: ([a, g, id]) => {
        app(a);
        const list = commandList(g);
        if (!list.some((x) => x.id === id)) throw unknown('application command', 10063);
        setCommandList(list.filter((x) => x.id !== id), g);
        return { status: 204 };
      },
    },
    // https://discord.com/developers/docs/interactions/receiving-and-responding#create-interaction-response
    {
      method: 'POST',
      pattern: new RegExp(`^/interactions/${S}/${S}/callback$`),
      auth: false,
      handle: ([id, token], { body, query, files }) => interactionCallback(id!, token!, body, query, files),
    },
    // https://discord.com/developers/docs/interactions/receiving-and-responding#get-original-interaction-response (and followup)
    {
      method: 'GET',
      pattern: new RegExp(`^/webhooks/${S}/${S}/messages/${S}$`),
      auth: false,
      handle: ([a, token, mid]) => ok(webhookMessage(webhookInteraction(a!, token!), mid!)),
    },
    // https://discord.com/developers/docs/interactions/receiving-and-responding#edit-original-interaction-response (and followup)
    {
      method: 'PATCH',
      pattern: new RegExp(`^/webhooks/${S}/${S}/messages/${S}$`),
      auth: false,
      handle: ([a, token, mid], { body, files }) => {
        const msg = webhookMessage(webhookInteraction(a!, token!), mid!);
        validateMessage(body, [], false, files);
        return ok(editMessage(msg, body, files));
      },
    },
    // https://discord.com/developers/docs/interactions/receiving-and-responding#delete-original-interaction-response (and followup)
    {
      method: 'DELETE',
      pattern: new RegExp(`^/webhooks/${S}/${S}/messages/${S}$`),
      auth: false,
      handle: ([a, token, mid]) => {
        const msg = webhookMessage(webhookInteraction(a!, token!), mid!);
        messages.delete(msg.id);
        return { status: 204 };
      },
    },
    // https://discord.com/developers/docs/interactions/receiving-and-responding#create-followup-message
    {
      method: 'POST',
      pattern: new RegExp(`^/webhooks/${S}/${S}$`),
      auth: false,
      handle: ([a, token], { body, query, files }) => {
        const it = webhookInteraction(a!, token!);
        if (it.responseType === undefined) throw unknown('Webhook', 10015);
        validateMessage(body, [], true, files);
        const original = it.originalMessageId ? (messages.get(it.originalMessageId) as Obj | undefined) : undefined;
        let msg: APIMessage;
        if (original && ((original.flags ?? 0) & 128) !== 0) {
          // Discord quirk: the first follow-up after a deferred reply replaces the "thinking…" message.
          msg = editMessage(original as APIMessage, body, files);
        } else {
          const channelId: string = it.payload.channel?.id ?? it.payload.channel_id;
          msg = createMessage(channelId, body, files, interactionMessageExtra(it, true));
          it.messageIds.push(msg.id);
        }
        return query.wait === 'true' ? ok(msg) : { status: 204 };
      },
    },
    // https://discord.com/developers/docs/resources/channel#get-channel
    {
      method: 'GET',
      pattern: new RegExp(`^/channels/${S}$`),
      auth: true,
      handle: ([id]) => {
        const c = channels.get(id!);
        if (!c) throw unknown('Channel', 10003);
        return ok(c);
      },
    },
    // https://discord.com/developers/docs/resources/message#create-message
    {
      method: 'POST',
      pattern: new RegExp(`^/channels/${S}/messages$`),
      auth: true,
      handle: ([id], { body, files }) => {
        if (!channels.has(id!)) throw unknown('Channel', 10003);
        validateMessage(body, [], true, files);
        return ok(createMessage(id!, body, files));
      },
    },
    // https://discord.com/developers/docs/resources/message#get-channel-message
    {
      method: 'GET',
      pattern: new RegExp(`^/channels/${S}/messages/${S}$`),
      auth: true,
      handle: ([cid, mid]) => {
        const m = messages.get(mid!);
        if (!m || m.channel_id !== cid) throw unknown('Message', 10008);
        return ok(m);
      },
    },
    // https://discord.com/developers/docs/resources/message#edit-message
    {
      method: 'PATCH',
      pattern: new RegExp(`^/channels/${S}/messages/${S}$`),
      auth: true,
      handle: ([cid, mid], { body, files }) => {
        const m = messages.get(mid!);
        if (!m || m.channel_id !== cid) throw unknown('Message', 10008);
        if (m.author.id !== botUserId) throw new DiscordApiError(403, { message: 'Cannot edit a message authored by another user', code: 50005 });
        validateMessage(body, [], false, files);
        return ok(editMessage(m, body, files));
      },
    },
    // https://discord.com/developers/docs/resources/message#delete-message
    {
      method: 'DELETE',
      pattern: new RegExp(`^/channels/${S}/messages/${S}$`),
      auth: true,
      handle: ([cid, mid]) => {
        const m = messages.get(mid!);
        if (!m || m.channel_id !== cid) throw unknown('Message', 10008);
        messages.delete(mid!);
        return { status: 204 };
      },
    },
    // https://discord.com/developers/docs/resources/channel#trigger-typing-indicator
    {
      method: 'POST',
      pattern: new RegExp(`^/channels/${S}/typing$`),
      auth: true,
      handle: ([id]) => {
        if (!channels.has(id!)) throw unknown('Channel', 10003);
        return { status: 204 };
      },
    },
  ];

  function parseRequestBody(req: http.IncomingMessage, raw: Buffer): { body: Obj | undefined; files: DiscordCall['files'] } {
    if (raw.length === 0) return { body: undefined, files: [] };
    const type = req.headers['content-type'] ?? '';
    if (/^multipart\/form-data/i.test(type)) {
      const boundary = /boundary=("?)([^";]+)\1/i.exec(type)?.[2] ?? '';
      const { fields, files } = parseMultipart(raw, boundary);
      const body: Obj | undefined = fields.payload_json ? (JSON.parse(fields.payload_json) as Obj) : undefined;
      return { body, files };
    }
    return { body: JSON.parse(raw.toString('utf8')) as Obj, files: [] };
  }

  function handleRest(req: http.IncomingMessage, raw: Buffer, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    const m = /^\/api(?:\/v(\d+))?(\/.*)$/.exec(url.pathname);
    // Recorded and matched decoded: discord.js sends `@original` as `%40original`.
    const path = (m?.[2] ?? url.pathname).split('/').map(safeDecode).join('/');
    const query = Object.fromEntries(url.searchParams);
    const authorization = req.headers.authorization;
    const call: DiscordCall = { seq: calls.length, method, path, query, body: undefined, files: [], status: 0 };
    if (authorization !== undefined) call.authorization = authorization;
    let result: { status: number; body?: unknown; headers?: Record<string, string> };
    try {
      const parsed = parseRequestBody(req, raw);
      call.body = parsed.body;
      call.files = parsed.files;
      const failIdx = failures.findIndex(
        (f) => (!f.method || f.method.toUpperCase() === method) && (typeof f.path === 'string' ? f.path === path : f.path.test(path)),
      );
      const route = m && (m[1] === undefined || m[1] === '10') ? routes.find((r) => r.method === method && r.pattern.test(path)) : undefined;
      if (failIdx >= 0) {
        result = failures.splice(failIdx, 1)[0]!.response;
      } else if (!route) {
        result = { status: 404, body: { message: '404: Not Found', code: 0 } };
      } else if (route.auth && !authorization?.startsWith('Bot ')) {
        result = { status: 401, body: { message: '401: Unauthorized', code: 0 } };
      } else if (route.auth && opts.token !== undefined && authorization !== `Bot ${opts.token}`) {
        result = { status: 401, body: { message: '401: Unauthorized', code: 0 } };
      } else {
        const params = route.pattern.exec(path)!.slice(1) as string[];
        result = route.handle(params, { body: parsed.body, query, files: parsed.files });
      }
    } catch (err) {
      if (err instanceof DiscordApiError) result = { status: err.status, body: err.body };
      else if (err instanceof SyntaxError) result = { status: 400, body: { message: 'The request body contains invalid JSON.', code: 50109 } };
      else result = { status: 500, body: { message: `fake Discord error: ${(err as Error).message}`, code: 0 } };
    }
    call.status = result.status;
    if (result.body !== undefined) call.response = result.body;
    calls.push(call);
    const headers: Record<string, string> = { ...(result.headers ?? {}) };
    if (result.body !== undefined && result.status !== 204) {
      headers['content-type'] = 'application/json';
      res.writeHead(result.status, headers);
      res.end(JSON.stringify(result.body));
    } else {
      res.writeHead(result.status, headers);
      res.end();
    }
    notify();
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handleRest(req, Buffer.concat(chunks), res));
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const gatewayUrl = `ws://127.0.0.1:${port}`;

  function wait(predicate: (call: DiscordCall) => boolean, timeoutMs: number, from: number): Promise<DiscordCall> {
    return new Promise((resolve, reject) => {
      let cursor = from;
      const check = () => {
        for (; cursor < calls.length; cursor++) {
          const c = calls[cursor]!;
          if (predicate(c)) {
            cleanup();
            resolve(c);
            return;
          }
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`fake Discord: no matching call within ${timeoutMs} ms; saw [${calls.map((c) => `${c.method} ${c.path}`).join(', ')}]`));
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
    apiBase: `http://127.0.0.1:${port}/api`,
    gatewayUrl,
    applicationId,
    botUser,
    calls,
    registeredCommands,
    messages,
    channels,
    interactions,
    gatewayReceived,

    sendInteraction,

    slashCommand({ name, options, subcommand, userId, username, channelId, guildId }) {
      const user = userFor(userId, username);
      const place = placeFor(user, channelId, guildId);
      const resolved: Obj = {};
      const built = buildOptions(options, optionDefs(name, place.guildId, subcommand), place.guildId, resolved);
      return sendInteraction({
        type: 2,
        data: commandData(name, place.guildId, subcommand, built, resolved),
        channel: place.channel,
        ...(place.guildId ? { guild_id: place.guildId, member: memberFor(user) } : { user }),
      });
    },

    autocomplete({ name, focusedOption, value, options, subcommand, userId, username, channelId, guildId }) {
      const user = userFor(userId, username);
      const place = placeFor(user, channelId, guildId);
      const defs = optionDefs(name, place.guildId, subcommand);
      const resolved: Obj = {};
      const others = buildOptions(options, defs, place.guildId, resolved).filter((o) => o.name !== focusedOption);
      const focused = { name: focusedOption, type: defs?.find((o) => o.name === focusedOption)?.type ?? 3, value, focused: true };
      const data = commandData(name, place.guildId, subcommand, [...others, focused], {});
      return sendInteraction({
        type: 4,
        data,
        channel: place.channel,
        ...(place.guildId ? { guild_id: place.guildId, member: memberFor(user) } : { user }),
      });
    },

    buttonPress({ customId, userId, username, channelId, messageId, guildId }) {
      const user = userFor(userId, username);
      const place = placeFor(user, channelId, guildId);
      let message = messages.get(messageId);
      if (!message) {
        message = {
          type: 0,
          content: '',
          mentions: [],
          mention_roles: [],
          attachments: [],
          embeds: [],
          timestamp: iso(),
          edited_timestamp: null,
          flags: 0,
          components: [{ type: 1, components: [{ type: 2, style: 1, label: customId, custom_id: customId }] }],
          id: messageId,
          channel_id: place.channel.id,
          author: botUser,
          pinned: false,
          mention_everyone: false,
          tts: false,
        } as unknown as APIMessage;
        messages.set(messageId, message);
      }
      return sendInteraction({
        type: 3,
        data: { custom_id: customId, component_type: 2 },
        message,
        channel: place.channel,
        ...(place.guildId ? { guild_id: place.guildId, member: memberFor(user) } : { user }),
      });
    },

    answersTo(ref) {
      const it = interactions.get(ref.id);
      return (it?.messageIds ?? []).flatMap((id) => {
        const m = messages.get(id);
        return m ? [m] : [];
      });
    },

    dispatch(event, data) {
      sendDispatch(requireSession(), event, data);
    },

    disconnectGateway(code = 4000) {
      active?.ws?.close(code, 'fake Discord: disconnect requested by the test');
    },

    waitForCall(predicate, timeoutMs = 5000) {
      return wait(predicate, timeoutMs, 0);
    },

    nextCall(predicate, timeoutMs = 5000) {
      return wait(predicate, timeoutMs, calls.length);
    },

    failNext(match, response) {
      failures.push({ ...(match.method ? { method: match.method } : {}), path: match.path, response });
    },

    async close() {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
      await done;
    },
  };
}
