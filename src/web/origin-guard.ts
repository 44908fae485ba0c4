import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../engine/errors.ts';

/** Methods that must not change anything, so another site may cause them (links, images). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Host names a browser only reaches on this machine. */
function isLoopbackHostname(hostname: string): boolean {
  const h = hostname.toLowerCase();
  return h === 'localhost' || h === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** The host name of a `Host` header value (`name[:port]`, `[v6][:port]`), lowercased; null when unreadable. */
export function hostnameOf(hostHeader: string): string | null {
  try {
    return new URL(`http://${hostHeader}`).hostname.toLowerCase();
  } catch {
    return null;
  }
}

/**
 * `true` when the `Origin` header names the same host and port as the `Host` header. The origin's
 * default port (80, 443) matches a Host header that spells it out or leaves it away.
 */
export function sameOrigin(origin: string, hostHeader: string): boolean {
  let o: URL;
  try {
    o = new URL(origin); // "null" (sandboxed frames, some redirects) throws: never the same origin
  } catch {
    return false;
  }
  if (o.protocol !== 'http:' && o.protocol !== 'https:') return false;
  const host = hostHeader.toLowerCase();
  const defaultPort = o.protocol === 'https:' ? '443' : '80';
  return host === o.host || (o.port === '' && host === `${o.host}:${defaultPort}`);
}

/**
 * Why a request is refused as cross-site or misdirected, or null when it may go on.
 *
 * - DNS rebinding: when the server listens on a loopback address (`loopbackOnly`), a page of
 *   `evil.example` whose name was re-pointed at 127.0.0.1 reaches us with `Host: evil.example`;
 *   only `localhost`, `127.x.x.x` and `[::1]` are answered (any method).
 * - CSRF: an unsafe method (not GET/HEAD/OPTIONS) is refused when the browser says it comes from
 *   another site (`Sec-Fetch-Site: cross-site | same-site`) or sends an `Origin` whose host is not
 *   the `Host` it asked. Requests with neither header (curl, scripts, server-to-server) pass:
 *   only browsers send them, and browsers always do on cross-origin POSTs.
 */
export function refusal(req: Pick<FastifyRequest, 'method' | 'headers'>, loopbackOnly: boolean): AppError | null {
  const host = req.headers.host;
  if (loopbackOnly && host !== undefined) {
    const hostname = hostnameOf(host);
    if (!hostname || !isLoopbackHostname(hostname)) {
      return new AppError(
        'FORBIDDEN_HOST',
        `This server listens on a loopback address and only answers requests for localhost, 127.0.0.1 or [::1], not for "${host}". Open it as http://localhost:<port>/ (or set HOST and DASHBOARD_TOKEN to serve it under another name).`,
      );
    }
  }
  if (SAFE_METHODS.has(req.method)) return null;
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') {
    return new AppError('FORBIDDEN_ORIGIN', `Refused a ${req.method} request sent from another site (Sec-Fetch-Site: ${site}). Changes can only be made from this dashboard or by a client that is not a browser.`);
  }
  const origin = req.headers.origin;
  if (origin !== undefined && !sameOrigin(origin, host ?? '')) {
    return new AppError('FORBIDDEN_ORIGIN', `Refused a ${req.method} request from ${origin}: its origin is not this server (${host ?? 'no Host header'}).`);
  }
  return null;
}

/**
 * A fastify `onRequest` hook that throws the {@link refusal} of a request, so the app's error
 * handler answers it (JSON under /api, an error page for browsers elsewhere).
 * @param opts.loopbackOnly the configured HOST is a loopback address (then the Host header is checked too)
 */
export function originGuard(opts: { loopbackOnly: boolean }) {
  return async function guard(req: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const refused = refusal(req, opts.loopbackOnly);
    if (refused) throw refused;
  };
}
