/**
 * A fake OpenAI Chat Completions server speaking the real wire protocol on 127.0.0.1,
 * so tests can drive the real `openai` SDK against it without any network.
 *
 * @example
 * const fake = await startFakeOpenAI();
 * fake.enqueue({ kind: 'text', text: 'Hi!\nBye.' });
 * const client = new OpenAI({ apiKey: 'sk-test', baseURL: fake.baseURL });
 * // ... use client ...
 * await fake.close();
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Token counts reported by the fake (`total_tokens` is derived). */
export interface FakeOpenAIUsage {
  prompt_tokens: number;
  completion_tokens: number;
}

/** One scripted reply; each request to `/v1/chat/completions` consumes one. */
export type FakeOpenAIReply =
  /**
   * Assistant text. Streamed in several chunks (split at least at every newline and space).
   * `cut`: after the text the body stops in the middle of an event, before `finish_reason` and
   * `[DONE]` — `'end'` ends the HTTP response cleanly there (as a proxy that gives up may),
   * `'reset'` destroys the connection.
   */
  | { kind: 'text'; text: string; usage?: FakeOpenAIUsage; chunkDelayMs?: number; cut?: 'end' | 'reset' }
  /** Function tool calls; streamed arguments are split across several chunks. `id` defaults to `call_fake_N`. */
  | { kind: 'tool_calls'; calls: { id?: string; name: string; arguments: string }[]; usage?: FakeOpenAIUsage }
  /** An HTTP error with OpenAI's error body. 429/5xx carry `retry-after-ms: 1` so SDK retries are fast. */
  | { kind: 'error'; status: number; message?: string; type?: string; code?: string }
  /** Accept the request (streamed: send SSE headers) and never finish until the client disconnects. */
  | { kind: 'hang' }
  /** Exactly this response, whatever was asked: e.g. a 200 HTML login page, or events that are not OpenAI's JSON. */
  | { kind: 'raw'; status?: number; contentType: string; body: string };

/** A request as received by a fake server. */
export interface FakeRequest {
  method: string;
  /** URL path including query string, e.g. `/v1/chat/completions`. */
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON body (`undefined` when empty or not JSON). */
  body: any;
}

/** Handle to a running fake OpenAI server. */
export interface FakeOpenAI {
  /** E.g. `http://127.0.0.1:PORT/v1`; pass as `baseURL` to `new OpenAI(...)`. */
  readonly baseURL: string;
  /** Every request received, in order (including rejected ones). */
  readonly requests: FakeRequest[];
  /** Queue replies, consumed one per request in order. Empty queue → default text reply. */
  enqueue(...replies: FakeOpenAIReply[]): void;
  /** Require `Authorization: Bearer <key>`; `undefined` accepts any key (the default). */
  setApiKey(key: string | undefined): void;
  /** Stop the server and destroy all open sockets (including hanging ones). */
  close(): Promise<void>;
}

/** The reply used when the queue is empty. */
export const DEFAULT_OPENAI_REPLY: FakeOpenAIReply = {
  kind: 'text',
  text: 'Hello from fake OpenAI.\nSecond line.',
  usage: { prompt_tokens: 12, completion_tokens: 7 },
};

const DEFAULT_USAGE: FakeOpenAIUsage = { prompt_tokens: 12, completion_tokens: 7 };

/** Split text into stream pieces: at every newline, then after each run of whitespace. */
export function splitForStream(text: string): string[] {
  return text
    .split(/(?<=\n)/)
    .flatMap((line) => line.split(/(?<=\s)(?=\S)/))
    .filter((p) => p.length > 0);
}

function chunkString(s: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

function maskKey(key: string): string {
  return key.length <= 8 ? key : `${key.slice(0, 3)}${'*'.repeat(key.length - 7)}${key.slice(-4)}`;
}

/**
 * Start a fake OpenAI server on 127.0.0.1 with an ephemeral port.
 * @param opts.apiKey expected API key (same as calling `setApiKey` later).
 */
export async function startFakeOpenAI(opts: { apiKey?: string } = {}): Promise<FakeOpenAI> {
  const queue: FakeOpenAIReply[] = [];
  const requests: FakeRequest[] = [];
  const sockets = new Set<Socket>();
  let apiKey = opts.apiKey;
  let seq = 0;

  const sendError = (res: http.ServerResponse, status: number, message: string, type: string, code: string | null) => {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-request-id': `req_fake_${seq}` };
    if (status === 429 || status >= 500) headers['retry-after-ms'] = '1';
    res.writeHead(status, headers);
    res.end(JSON.stringify({ error: { message, type, param: null, code } }));
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
      const auth = req.headers['authorization'];
      const given = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7) : undefined;
      if (given === undefined) {
        return sendError(res, 401, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", 'invalid_request_error', null);
      }
      if (given !== apiKey) {
        return sendError(res, 401, `Incorrect API key provided: ${maskKey(given)}. You can find your API key at https://platform.openai.com/account/api-keys.`, 'invalid_request_error', 'invalid_api_key');
      }
    }
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'POST' || path !== '/v1/chat/completions') {
      return sendError(res, 404, `Invalid URL (${req.method} ${path})`, 'invalid_request_error', null);
    }
    if (!body || typeof body !== 'object') {
      return sendError(res, 400, 'We could not parse the JSON body of your request.', 'invalid_request_error', null);
    }

    const reply = queue.shift() ?? DEFAULT_OPENAI_REPLY;
    const stream = body.stream === true;
    const includeUsage = stream && body.stream_options?.include_usage === true;
    const id = `chatcmpl-fake${n}`;
    const created = Math.floor(Date.now() / 1000);
    const model = typeof body.model === 'string' ? body.model : 'gpt-fake';
    const base = { id, created, model, system_fingerprint: 'fp_fake' };

    if (reply.kind === 'error') {
      const defaults: Record<number, [string, string, string | null]> = {
        400: ['Invalid request.', 'invalid_request_error', null],
        401: ['Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key'],
        404: ['The model does not exist or you do not have access to it.', 'invalid_request_error', 'model_not_found'],
        429: ['Rate limit reached. Please try again later.', 'requests', 'rate_limit_exceeded'],
      };
      const [m, t, c] = defaults[reply.status] ?? ['The server had an error while processing your request. Sorry about that!', 'server_error', null];
      return sendError(res, reply.status, reply.message ?? m, reply.type ?? t, reply.code ?? c);
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
    const usage = { ...u, total_tokens: u.prompt_tokens + u.completion_tokens };
    const calls = reply.kind === 'tool_calls'
      ? reply.calls.map((c, i) => ({ id: c.id ?? `call_fake_${n}_${i}`, name: c.name, arguments: c.arguments }))
      : [];
    const finish_reason = reply.kind === 'tool_calls' ? 'tool_calls' : 'stop';

    if (!stream) {
      const message = reply.kind === 'text'
        ? { role: 'assistant', content: reply.text, refusal: null, annotations: [] }
        : {
            role: 'assistant', content: null, refusal: null, annotations: [],
            tool_calls: calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })),
          };
      res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': `req_fake_${n}` });
      res.end(JSON.stringify({
        ...base, object: 'chat.completion', service_tier: 'default',
        choices: [{ index: 0, message, logprobs: null, finish_reason }], usage,
      }));
      return;
    }

    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-request-id': `req_fake_${n}` });
    const send = (data: unknown) => {
      if (!res.destroyed) res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
    };
    const chunk = (delta: object, fr: string | null = null) => ({
      ...base, object: 'chat.completion.chunk',
      choices: [{ index: 0, delta, logprobs: null, finish_reason: fr }],
      ...(includeUsage ? { usage: null } : {}),
    });

    if (reply.kind === 'text') {
      send(chunk({ role: 'assistant', content: '', refusal: null }));
      for (const piece of splitForStream(reply.text)) {
        if (reply.chunkDelayMs) await sleep(reply.chunkDelayMs);
        if (res.destroyed) return;
        send(chunk({ content: piece }));
      }
      if (reply.cut) {
        const half = `data: ${JSON.stringify(chunk({}, finish_reason))}`.slice(0, 40);
        if (reply.cut === 'reset') res.write(half, () => res.destroy());
        else res.end(half);
        return;
      }
    } else {
      send(chunk({ role: 'assistant', content: null, refusal: null }));
      calls.forEach((c, index) => {
        send(chunk({ tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } }] }));
        for (const part of chunkString(c.arguments, 8)) send(chunk({ tool_calls: [{ index, function: { arguments: part } }] }));
      });
    }
    send(chunk({}, finish_reason));
    if (includeUsage) send({ ...base, object: 'chat.completion.chunk', choices: [], usage });
    send('[DONE]');
    res.end();
  };

  const server = http.createServer((req, res) => {
    res.on('error', () => {});
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, 500, String(err), 'server_error', null);
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
    baseURL: `http://127.0.0.1:${port}/v1`,
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
