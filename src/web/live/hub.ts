import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { readScope, type Caller } from '../../engine/access.ts';
import { dataLines, openEventStream } from '../sse.ts';

/** Limits of a {@link StreamHub}. */
export interface StreamHubOptions {
  /** Most events kept for replay (default 5,000). */
  maxEvents?: number;
  /** Most bytes of events kept for replay (default 8 MiB). */
  maxBytes?: number;
  /** A comment line every this many ms keeps proxies from closing an idle stream (default 15 s). */
  heartbeatMs?: number;
  /** How long a rendered page keeps its scope "wanted" before its stream connects, ms (default 60 s). */
  interestMs?: number;
}

/** One published event, encoded once and written as-is to every client that wants it. */
interface HubEvent {
  seq: number;
  scopes: readonly string[];
  bytes: Buffer;
}

interface Client {
  /** The scope it asked for (`dash`, `bot:7`) and its audience scopes (see {@link audienceScopes}). */
  scopes: readonly string[];
  res: ServerResponse;
  /** Sequence number of the last event this client was sent (or skipped). */
  cursor: number;
  /** Waiting for 'drain': nothing more is written until then. */
  blocked: boolean;
}

const EMPTY = Buffer.alloc(0);

/**
 * Who reads a part that differs between users: `all` (admins and viewers see every owner's bots)
 * or the `users.id` of an operator (who sees their own). See `readScope` in access.ts.
 */
export type Audience = 'all' | number;

/** The {@link Audience} of `caller`. */
export function audienceOf(caller: Caller): Audience {
  return readScope(caller) ?? 'all';
}

/**
 * The scope of `scope`'s readers of one audience: `dash@all`, `dash@u7`; for `''`, every page's
 * readers (`@all`, `@u7`). A part about one owner's bot is published to `<scope>@all` and
 * `<scope>@u<owner>`, so it is rendered once and reaches only those who may read it.
 */
export function audienceScope(scope: string, audience: Audience): string {
  return `${scope}@${audience === 'all' ? 'all' : `u${audience}`}`;
}

/** The scopes a client of `scope` acting as `caller` hears: `scope` itself, its audience in `scope`, and its audience on every page. */
export function audienceScopes(scope: string, caller: Caller): string[] {
  const a = audienceOf(caller);
  return [scope, audienceScope(scope, a), audienceScope('', a)];
}

/** The event a client gets when it missed more than the hub keeps: the page re-fetches its parts. */
export const RESYNC_EVENT = 'resync';

/**
 * Server-Sent Events (https://html.spec.whatwg.org/multipage/server-sent-events.html) for many
 * pages at once. Each event is rendered and encoded once by its publisher and written to every
 * connected client whose scope it names (`dash` for dashboards, `bot:<id>` for a bot's page).
 *
 * The hub keeps a ring of the last events (bounded by count and bytes). Every event has an id
 * `<epoch>-<seq>`; a client that reconnects with `Last-Event-ID` (or opens with `?after=<id>`,
 * the id its page was rendered at) is sent what it missed. A client older than the ring, or from
 * another process (`epoch`), is sent one {@link RESYNC_EVENT} instead, and the page re-fetches
 * its parts once.
 *
 * A slow client costs no memory of its own: when its socket is full (`write` returns false) the
 * hub stops writing to it and waits for 'drain'; the events it has not been sent stay in the
 * shared ring only, and past the ring it gets a resync.
 */
export class StreamHub {
  /** Tells this process's ids from a previous one's. */
  readonly epoch = Date.now().toString(36);
  private readonly maxEvents: number;
  private readonly maxBytes: number;
  private readonly interestMs: number;
  private ring: HubEvent[] = [];
  private ringBytes = 0;
  private seq = 0;
  private readonly clients = new Set<Client>();
  private readonly interest = new Map<string, number>();
  /**
   * Scope → the seq of the newest hole, the (empty) event that marks where a publisher skipped it
   * because nobody wanted it: a client whose id is older resyncs.
   */
  private readonly gaps = new Map<string, number>();
  private lastHole = -1;
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;
  /** Totals since start, for benchmarks and tests. */
  readonly stats = { published: 0, bytesPublished: 0, writes: 0, bytesWritten: 0, resyncs: 0 };

  constructor(opts: StreamHubOptions = {}) {
    this.maxEvents = opts.maxEvents ?? 5000;
    this.maxBytes = opts.maxBytes ?? 8 * 1024 * 1024;
    this.interestMs = opts.interestMs ?? 60_000;
    const beat = Buffer.from(': keep-alive\n\n');
    this.heartbeat = setInterval(() => {
      for (const c of this.clients) if (!c.blocked) c.res.write(beat);
    }, opts.heartbeatMs ?? 15_000);
    this.heartbeat.unref();
  }

  /** The id of the newest event; a page rendered now passes it as `?after=` to its stream. */
  get lastEventId(): string {
    return `${this.epoch}-${this.seq}`;
  }

  /** Connected clients (all scopes). */
  get clientCount(): number {
    return this.clients.size;
  }

  /**
   * Marks `scope` as wanted for a while (a page for it was just rendered; its stream follows);
   * with `caller`, its audience scopes too (parts rendered per audience are then rendered for it).
   */
  noteInterest(scope: string, caller?: Caller): void {
    const until = Date.now() + this.interestMs;
    for (const s of caller ? audienceScopes(scope, caller) : [scope]) this.interest.set(s, until);
  }

  /**
   * The audiences of `scope` anyone may be reading (connected clients, pages just rendered): a
   * part rendered per audience is rendered for each of these (see {@link audienceScope}).
   */
  audiences(scope: string): Audience[] {
    const prefix = `${scope}@`;
    const found = new Set<string>();
    for (const c of this.clients) for (const s of c.scopes) if (s.startsWith(prefix)) found.add(s);
    const now = Date.now();
    for (const [s, until] of this.interest) if (until >= now && s.startsWith(prefix)) found.add(s);
    return [...found].map((s) => s.slice(prefix.length)).map((a) => (a === 'all' ? 'all' : Number(a.slice(1))));
  }

  /**
   * Whether anyone may read events of `scope`: a client is connected, a page of it was just
   * rendered, or a client just left (and may reconnect). A publisher asks before it renders; when
   * the answer is no it skips the event, and the hub remembers: a client that comes back with an
   * id from before the skip is sent a resync, never a stream with a hole in it.
   */
  wants(scope: string): boolean {
    for (const c of this.clients) if (c.scopes.includes(scope)) return true;
    const until = this.interest.get(scope);
    if (until !== undefined && until >= Date.now()) return true;
    if (until !== undefined) this.interest.delete(scope);
    if (this.lastHole !== this.seq) this.lastHole = this.append([], EMPTY);
    this.gaps.set(scope, this.lastHole);
    return false;
  }

  /**
   * Publishes one event to the clients of `scopes`. `data` is the payload as it is (HTML for
   * htmx's `sse-swap`); line breaks become several `data:` lines.
   */
  publish(scopes: readonly string[], event: string, data: string): void {
    if (this.closed) return;
    const bytes = Buffer.from(`id: ${this.epoch}-${this.seq + 1}\nevent: ${event}\ndata: ${dataLines(data)}\n\n`);
    this.append(scopes, bytes);
    this.stats.published++;
    this.stats.bytesPublished += bytes.length;
    for (const c of this.clients) if (c.scopes.some((s) => scopes.includes(s))) this.pump(c);
  }

  /** Adds an event to the ring (evicting the oldest past the limits); returns its seq. */
  private append(scopes: readonly string[], bytes: Buffer): number {
    const seq = ++this.seq;
    this.ring.push({ seq, scopes, bytes });
    this.ringBytes += bytes.length;
    while (this.ring.length > this.maxEvents || (this.ringBytes > this.maxBytes && this.ring.length > 1)) {
      this.ringBytes -= this.ring.shift()!.bytes.length;
    }
    return seq;
  }

  /**
   * Answers `request` with the event stream of `scope`: first what the client missed (after its
   * `Last-Event-ID` header, else after the `?after=` query), then each new event of its scope and
   * of its audience scopes (`request.caller`'s, see {@link audienceScopes}): a caller hears only
   * parts about bots they may read. The route checks that the caller may read `scope` at all.
   */
  serve(request: FastifyRequest, reply: FastifyReply, scope: string): void {
    const scopes = audienceScopes(scope, request.caller);
    const header = request.headers['last-event-id'];
    const after = (request.query as { after?: string } | undefined)?.after;
    const from = typeof header === 'string' && header ? header : after;
    const res = openEventStream(reply);
    let cursor = this.cursorOf(from);
    if (cursor >= 0 && scopes.some((s) => cursor < (this.gaps.get(s) ?? -1))) cursor = -1;
    const client: Client = { scopes, res, cursor, blocked: false };
    this.clients.add(client);
    res.on('close', () => {
      this.clients.delete(client);
      // EventSource reconnects within seconds: keep rendering for it meanwhile.
      for (const s of scopes) this.noteInterest(s);
    });
    this.pump(client);
  }

  /** Ends every stream; later publishes are dropped. */
  close(): void {
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }

  /** The sequence number a client's id stands for: -1 when it cannot be replayed (resync). */
  private cursorOf(id: string | undefined): number {
    if (!id) return this.seq;
    const m = /^([0-9a-z]+)-(\d+)$/.exec(id);
    if (!m || m[1] !== this.epoch) return -1;
    const n = Number(m[2]);
    return n > this.seq ? -1 : n;
  }

  /** Writes what `c` has not been sent, until its socket is full (then waits for 'drain'). */
  private pump(c: Client): void {
    if (c.blocked || !this.clients.has(c)) return;
    const first = this.ring[0]?.seq ?? this.seq + 1;
    if (c.cursor < 0 || (c.cursor < first - 1 && c.cursor < this.seq)) {
      // Missed more than the ring keeps: one resync, then carry on from now.
      c.cursor = this.seq;
      this.stats.resyncs++;
      if (!this.write(c, Buffer.from(`id: ${this.epoch}-${this.seq}\nevent: ${RESYNC_EVENT}\ndata: \n\n`))) return;
    }
    for (let i = Math.max(0, c.cursor - first + 1); i < this.ring.length; i++) {
      const e = this.ring[i]!;
      c.cursor = e.seq;
      if (!e.scopes.some((s) => c.scopes.includes(s))) continue;
      if (!this.write(c, e.bytes)) return;
    }
  }

  /** Writes one chunk; false when the socket is full (the client is then blocked until 'drain'). */
  private write(c: Client, bytes: Buffer): boolean {
    this.stats.writes++;
    this.stats.bytesWritten += bytes.length;
    if (c.res.write(bytes)) return true;
    c.blocked = true;
    c.res.once('drain', () => {
      c.blocked = false;
      this.pump(c);
    });
    return false;
  }
}
