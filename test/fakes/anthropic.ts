/**
 * A fake Anthropic Messages API server speaking the real wire protocol on 127.0.0.1,
 * so tests can drive the real `@anthropic-ai/sdk` against it without any network.
 *
 * @example
 * const fake = await startFakeAnthropic();
 * fake.enqueue({ kind: 'text', text: 'Hi!\nBye.' });
 * const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: fake.baseURL });
 * // ... use client ...
 * await fake.close();
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Token counts reported by the fake. */
export interface FakeAnthropicUsage {
  input_tokens: number;
  output_tokens: number;
}

/** One scripted reply; each request to `/v1/messages` consumes one. */
export type FakeAnthropicReply =
  /**
   * Assistant text. Streamed in several `text_delta`s (split at least at every newline and space).
   * `cut`: after the text the body stops in the middle of an event, before `content_block_stop`,
   * `message_delta` and `message_stop` — `'end'` ends the HTTP response cleanly there, `'reset'`
   * destroys the connection.
   */
  | { kind: 'text'; text: string; usage?: FakeAnthropicUsage; chunkDelayMs?: number; cut?: 'end' | 'reset' }
  /**
   * `tool_use` content blocks (optionally preceded by a text block), `stop_reason: "tool_use"`.
   * Streamed input is sent as several `input_json_delta`s. `id` defaults to `toolu_fake_N_I`.
   * `input` as a string is sent as is (e.g. malformed JSON, as some models and proxies produce).
   */
  | { kind: 'tool_use'; calls: { id?: string; name: string; input: object | string }[]; text?: string; usage?: FakeAnthropicUsage }
  /** An HTTP error with Anthropic's error body. 429/5xx carry `retry-after-ms: 1` so SDK retries are fast. */
  | { kind: 'error'; status: number; message?: string; type?: string }
  /** Accept the request (streamed: send SSE headers) and never finish until the client disconnects. */
  | { kind: 'hang' }
  /** Exactly this response, whatever was asked: e.g. a 200 HTML login page, or events that are not Anthropic's JSON. */
  | { kind: 'raw'; status?: number; contentType: string; body: string };

/** A request as received by a fake server. */
export interface FakeRequest {
  method: string;
  /** URL path including query string, e.g. `/v1/messages`. */
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON body (`undefined` when empty or not JSON). */
  body: any;
}

/** Handle to a running fake Anthropic server. */
export interface FakeAnthropic {
  /** E.g. `http://127.0.0.1:PORT` (the SDK appends `/v1/messages`); pass as `baseURL` to `new Anthropic(...)`. */
  readonly baseURL: string;
  /** Every request received, in order (including rejected ones). */
  readonly requests: FakeRequest[];
  /** Queue replies, consumed one per request in order. Empty queue → default text reply. */
  enqueue(...replies: FakeAnthropicReply[]): void;
  /**
   * Require this key, sent as `x-api-key: <key>` or `Authorization: Bearer <key>` (the installed
   * SDK sends the latter); `undefined` accepts any key (the default).
   */
  setApiKey(key: string | undefined): void;
  /** Stop the server and destroy all open sockets (including hanging ones). */
  close(): Promise<void>;
}

/** The reply used when the queue is empty. */
export const DEFAULT_ANTHROPIC_REPLY: FakeAnthropicReply = {
  kind: 'text',
  text: 'Hello from fake Anthropic.\nSecond line.',
  usage: { input_tokens: 10, output_tokens: 6 },
};

const DEFAULT_USAGE: FakeAnthropicUsage = { input_tokens: 10, output_tokens: 6 };

const ERROR_TYPES: Record<number, [string, string]> = {
  400: ['invalid_request_error', 'Invalid request.'],
  401: ['authentication_error', 'invalid x-api-key'],
  403: ['permission_error', 'Your API key does not have permission to use the specified resource.'],
  404: ['not_found_error', 'The requested resource could not be found.'],
  413: ['request_too_large', 'Request exceeds the maximum allowed number of bytes.'],
  429: ['rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit.'],
  529: ['overloaded_error', 'Overloaded'],
};

function splitForStream(text: string): string[] {
  return text
    .split(/(?<=\n)/)
    .flatMap((line) => line.split(/(?<=\s)(?=\S)/))
    .filter((p) => p.length > 0);
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * Start a fake Anthropic server on 127.0.0.1 with an ephemeral port.
 * @param opts.apiKey expected API key (same as calling `setApiKey` later).
 */
export async function startFakeAnthropic(opts: { apiKey?: string } = {}): Promise<FakeAnthropic> {
  const queue: FakeAnthropicReply[] = [];
  const requests: FakeRequest[] = [];
  const sockets = new Set<Socket>();
  let apiKey = opts.apiKey;
  let seq = 0;

  const sendError = (res: http.ServerResponse, status: number, type: string, message: string) => {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'request-id': `req_fake_${seq}` };
    if (status === 429 || status >= 500) headers['retry-after-ms'] = '1';
    res.writeHead(status, headers);
    res.end(JSON.stringify({ type: 'error', error: { type, message } }));
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const raw = await readBody(req);
    let body: any;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = undefined;
    }
    requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
    const n = ++seq;

    if (apiKey !== undefined) {
      // Real API clients send `x-api-key`; @anthropic-ai/sdk 1.x sends `apiKey` as `Authorization: Bearer`.
      const auth = req.headers['authorization'];
      const bearer = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7) : undefined;
      const given = req.headers['x-api-key'] ?? bearer;
      if (given === undefined) return sendError(res, 401, 'authentication_error', 'x-api-key header is required');
      if (given !== apiKey) return sendError(res, 401, 'authentication_error', 'invalid x-api-key');
    }
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'POST' || path !== '/v1/messages') {
      return sendError(res, 404, 'not_found_error', `Not Found: ${req.method} ${path}`);
    }
    if (!body || typeof body !== 'object') {
      return sendError(res, 400, 'invalid_request_error', 'There was an issue with your request body: invalid JSON');
    }

    const reply = queue.shift() ?? DEFAULT_ANTHROPIC_REPLY;
    const stream = body.stream === true;

    if (reply.kind === 'error') {
      const [t, m] = ERROR_TYPES[reply.status] ?? ['api_error', 'Internal server error'];
      return sendError(res, reply.status, reply.type ?? t, reply.message ?? m);
    }
    if (reply.kind === 'raw') {
      res.writeHead(reply.status ?? 200, { 'content-type': reply.contentType });
      res.end(reply.body);
      return;
    }
    if (reply.kind === 'hang') {
      if (stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
        res.flushHeaders();
      }
      return; // never finishes; the socket is destroyed by the client or by close()
    }

    const u = reply.usage ?? DEFAULT_USAGE;
    const usage = {
      input_tokens: u.input_tokens, output_tokens: u.output_tokens,
      cache_creation_input_tokens: 0, cache_read_input_tokens: 0, service_tier: 'standard',
    };
    const text: string | undefined = reply.text;
    const tools = reply.kind === 'tool_use'
      ? reply.calls.map((c, i) => ({ type: 'tool_use', id: c.id ?? `toolu_fake_${n}_${i}`, name: c.name, input: c.input }))
      : [];
    const stop_reason = reply.kind === 'tool_use' ? 'tool_use' : 'end_turn';
    const message = {
      id: `msg_fake${n}`, type: 'message', role: 'assistant',
      model: typeof body.model === 'string' ? body.model : 'claude-fake',
      content: [] as object[], stop_reason: null as string | null, stop_sequence: null,
    };

    if (!stream) {
      if (text !== undefined) message.content.push({ type: 'text', text });
      message.content.push(...tools);
      res.writeHead(200, { 'content-type': 'application/json', 'request-id': `req_fake_${n}` });
      res.end(JSON.stringify({ ...message, stop_reason, usage }));
      return;
    }

    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': `req_fake_${n}` });
    const send = (event: string, data: object) => {
      if (!res.destroyed) res.write(`event: ${event}\ndata: ${JSON.stringify({ type: event, ...data })}\n\n`);
    };
    send('message_start', { message: { ...message, usage: { ...usage, output_tokens: 1 } } });
    let index = 0;
    if (text !== undefined) {
      send('content_block_start', { index, content_block: { type: 'text', text: '' } });
      send('ping', {});
      for (const piece of splitForStream(text)) {
        if (reply.kind === 'text' && reply.chunkDelayMs) await sleep(reply.chunkDelayMs);
        if (res.destroyed) return;
        send('content_block_delta', { index, delta: { type: 'text_delta', text: piece } });
      }
      if (reply.kind === 'text' && reply.cut) {
        const half = `event: content_block_stop\ndata: ${JSON.stringify({ type: 'content_block_stop', index })}`.slice(0, 40);
        if (reply.cut === 'reset') res.write(half, () => res.destroy());
        else res.end(half);
        return;
      }
      send('content_block_stop', { index });
      index++;
    } else {
      send('ping', {});
    }
    for (const { input, ...block } of tools) {
      send('content_block_start', { index, content_block: { ...block, input: {} } });
      const json = typeof input === 'string' ? input : JSON.stringify(input);
      send('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: '' } });
      for (let i = 0; i < json.length; i += 8) {
        send('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: json.slice(i, i + 8) } });
      }
      send('content_block_stop', { index });
      index++;
    }
    send('message_delta', { delta: { stop_reason, stop_sequence: null }, usage: { output_tokens: u.output_tokens } });
    send('message_stop', {});
    res.end();
  };

  const server = http.createServer((req, res) => {
    res.on('error', () => {});
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, 500, 'api_error', String(err));
      else res.destroy();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseURL: `http://127.0.0.1:${port}`,
    requests,
    enqueue: (...replies) => void queue.push(...replies),
    setApiKey: (key) => void (apiKey = key),
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const s of sockets) s.destroy();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
