import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RunLogRow } from '../engine/db/schema.ts';
import type { Engine } from '../engine/engine.ts';
import { isFinalRunStatus } from '../engine/run-status.ts';

/** Log rows read from the database at a time. */
const PAGE = 200;
/** Rendered events are written in chunks of about this many characters. */
const CHUNK = 32 * 1024;
/** A comment line keeps proxies from closing an idle stream, every this many ms. */
const HEARTBEAT_MS = 15_000;

/** How a stream renders a log line and the closing event. */
export interface LogStreamFormat {
  line(row: RunLogRow): string;
  end(run: { status: string; error: string | null; durationMs: number | null }): string;
}

/** JSON events for API clients: `event: log` with `{seq, ts, stream, text}`, then `event: end`. */
export const jsonFormat: LogStreamFormat = {
  line: (r) => JSON.stringify({ seq: r.seq, ts: r.ts, stream: r.stream, text: r.text }),
  end: (run) => JSON.stringify(run),
};

/**
 * Streams a run's log as Server-Sent Events (https://html.spec.whatwg.org/multipage/server-sent-events.html):
 * the lines so far, then new ones as they are appended, each with `id:` = its sequence number so
 * a client reconnecting with `Last-Event-ID` gets exactly the lines after it; then one `end`
 * event when the run has ended, and the stream closes.
 *
 * The database is the buffer: the stream holds no queue of its own. It renders the lines into
 * chunks of about {@link CHUNK} characters; when the socket is full (`write` returns false) it
 * drops the rows it has not rendered, waits for `drain`, and reads on from the last sequence
 * number it sent. So an idle reader costs one chunk, whatever the log's size (and lines' length).
 */
export async function streamRunLog(engine: Engine, request: FastifyRequest, reply: FastifyReply, runId: number, format: LogStreamFormat): Promise<void> {
  await engine.runner.get(runId); // throws RUN_NOT_FOUND before any header is sent
  const header = request.headers['last-event-id'];
  const fromQuery = (request.query as { lastEventId?: string } | undefined)?.lastEventId;
  let lastSeq = Math.max(0, Number.parseInt(String(header ?? fromQuery ?? '0'), 10) || 0);

  const res = openEventStream(reply);

  let closed = false;
  let wake: (() => void) | null = null;
  // Set by every bus event; a wake-up between our read and our wait is therefore never lost.
  let dirty = false;
  const signal = () => {
    dirty = true;
    const w = wake;
    wake = null;
    w?.();
  };
  const offLog = engine.bus.on('run.log', (e) => e.runId === runId && signal(), { remote: true });
  const offEnd = engine.bus.on('run.finished', (e) => e.runId === runId && signal(), { remote: true });
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  const cleanup = () => {
    if (closed) return;
    closed = true;
    offLog();
    offEnd();
    clearInterval(heartbeat);
    signal();
  };
  res.on('close', cleanup);

  const drained = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      res.on('drain', done);
      res.on('close', done);
    });
  const write = async (chunk: string) => {
    if (!res.write(chunk)) await drained();
  };


  /**
   * Reads the next page of lines, then renders and writes it (synchronously once read: the rows
   * are gone once it returns).
   * 'full': the socket is full, wait for 'drain'; 'more': a whole page went out, more may follow;
   * 'caught-up': every stored line was sent.
   */
  const sendPage = async (): Promise<'full' | 'more' | 'caught-up'> => {
    const rows = await engine.runner.logs(runId, lastSeq, PAGE);
    let chunk = '';
    for (const row of rows) {
      chunk += `id: ${row.seq}\nevent: log\ndata: ${dataLines(format.line(row))}\n\n`;
      lastSeq = row.seq;
      if (chunk.length < CHUNK) continue;
      // Full: the rows not rendered yet are dropped, and read again from lastSeq after 'drain'.
      if (!res.write(chunk)) return 'full';
      chunk = '';
    }
    if (chunk && !res.write(chunk)) return 'full';
    return rows.length === PAGE ? 'more' : 'caught-up';
  };

  void (async () => {
    try {
      while (!closed) {
        dirty = false;
        // Read the status before the rows: if it is final now, no row can follow those we read.
        const run = await engine.runner.get(runId);
        const step = await sendPage();
        if (step === 'full') await drained();
        if (closed) return;
        if (step !== 'caught-up') {
          // Let other streams and requests in between pages: a socket that takes everything (a
          // fast reader, or the kernel's buffers) must not hold the event loop for a whole log.
          await new Promise((resolve) => setImmediate(resolve));
          continue;
        }
        if (isFinalRunStatus(run.status)) {
          await write(`event: end\ndata: ${dataLines(format.end({ status: run.status, error: run.error, durationMs: run.durationMs }))}\n\n`);
          break;
        }
        if (!dirty && !closed) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
        }
      }
    } catch {
      // The run was deleted mid-stream: nothing more to send.
    } finally {
      cleanup();
      res.end();
    }
  })();
}

/**
 * Takes the response over from fastify and starts an event stream on it: status 200, the SSE
 * content type, no caching or proxy buffering, and a reconnect delay of 2 s (`retry:`).
 * @returns the raw response to write events to.
 */
export function openEventStream(reply: FastifyReply): ServerResponse {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    'x-accel-buffering': 'no',
  });
  res.write('retry: 2000\n\n');
  return res;
}

/** Multi-line data is sent as several `data:` lines; CR, LF and CRLF all end a line (SSE spec). */
export function dataLines(s: string): string {
  return s.replace(/\r\n|\r|\n/g, '\ndata: ');
}
