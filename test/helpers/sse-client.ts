import http from 'node:http';

/** One Server-Sent Event as a client reads it. */
export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
}

/** A raw SSE client over node:http (a browser's EventSource, minus reconnecting). */
export interface SseClient {
  events: SseEvent[];
  /** Bytes received so far. */
  bytes: number;
  /** Resolves with the first event (from `from` on) that `match` accepts. */
  waitFor(match: (e: SseEvent) => boolean, opts?: { from?: number; timeoutMs?: number }): Promise<SseEvent>;
  close(): void;
}

/**
 * Opens `url` as an event stream and parses what arrives (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
 * Resolves once the response headers are in.
 */
export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`HTTP ${res.statusCode} from ${url}`));
        res.resume();
        return;
      }
      res.setEncoding('utf8');
      const client: SseClient = {
        events: [],
        bytes: 0,
        waitFor(match, opts = {}) {
          const from = opts.from ?? 0;
          return new Promise((ok, fail) => {
            const check = () => {
              const hit = client.events.slice(from).find(match);
              if (hit) {
                clearInterval(timer);
                clearTimeout(limit);
                ok(hit);
              }
            };
            const timer = setInterval(check, 10);
            const limit = setTimeout(() => {
              clearInterval(timer);
              fail(new Error(`no matching event after ${opts.timeoutMs ?? 10_000} ms; got ${client.events.map((e) => e.event).join(', ')}`));
            }, opts.timeoutMs ?? 10_000);
            check();
          });
        },
        close: () => req.destroy(),
      };
      let buf = '';
      let cur: { id: string | null; event: string; data: string[] } = { id: null, event: 'message', data: [] };
      res.on('data', (chunk: string) => {
        client.bytes += Buffer.byteLength(chunk);
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).replace(/\r$/, '');
          buf = buf.slice(nl + 1);
          if (line === '') {
            if (cur.data.length > 0) client.events.push({ id: cur.id, event: cur.event, data: cur.data.join('\n') });
            cur = { id: null, event: 'message', data: [] };
          } else if (!line.startsWith(':')) {
            const i = line.indexOf(':');
            const field = i < 0 ? line : line.slice(0, i);
            const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
            if (field === 'data') cur.data.push(value);
            else if (field === 'event') cur.event = value;
            else if (field === 'id') cur.id = value;
          }
        }
      });
      resolve(client);
    });
    req.on('error', reject);
  });
}
