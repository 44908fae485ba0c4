import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';

const COOKIE = 'oo_token';

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Checks the dashboard token: `Authorization: Bearer <token>`, the `oo_token` cookie, or a
 * `?token=` query parameter (which then sets the cookie, so a person opens the link once).
 */
export function checkToken(req: FastifyRequest, token: string): { ok: boolean; setCookie?: string } {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ') && same(auth.slice(7).trim(), token)) return { ok: true };
  const cookie = (req.headers.cookie ?? '').split(';').map((c) => c.trim()).find((c) => c.startsWith(`${COOKIE}=`));
  if (cookie && same(decodeCookie(cookie.slice(COOKIE.length + 1)), token)) return { ok: true };
  const q = (req.query as Record<string, string> | undefined)?.token;
  if (typeof q === 'string' && same(q, token)) {
    return { ok: true, setCookie: `${COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict` };
  }
  return { ok: false };
}

/** A cookie value percent-decoded; a malformed escape (`%`, `%zz`) decodes to '' (no token), not a URIError. */
function decodeCookie(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return '';
  }
}

/**
 * `url` (path and query) without its `token` query parameter, for the redirect that follows a
 * `?token=` link (so the token leaves the address bar and history) and for request logs.
 */
export function withoutToken(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const params = new URLSearchParams(url.slice(q + 1));
  if (!params.has('token')) return url;
  params.delete('token');
  const rest = params.toString();
  // One leading slash only: `//evil.example/` would be a redirect to another site.
  const pathPart = '/' + url.slice(0, q).replace(/^[/\\]+/, '');
  return pathPart + (rest ? `?${rest}` : '');
}

/** `url` with the value of every `token` query parameter replaced by `[redacted]`, for logs. */
export function redactToken(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/gi, '$1[redacted]');
}
