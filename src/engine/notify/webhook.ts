import { createHmac, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

/** The header carrying the body's signature: `sha256=<hex HMAC-SHA256 of the raw body>`. */
export const SIGNATURE_HEADER = 'x-openorchestrator-signature';

/** Pauses before the 2nd, 3rd and 4th attempt, in ms (so at most 4 attempts). */
export const DEFAULT_RETRY_DELAYS_MS = [500, 1000, 2000] as const;

/** How long one attempt may take, in ms. */
const ATTEMPT_TIMEOUT_MS = 10_000;

/**
 * The value of {@link SIGNATURE_HEADER} for `body` (the exact bytes sent): `sha256=` and the
 * lower-case hex HMAC-SHA256 keyed with `secret`. A receiver recomputes it over the raw body and
 * compares in constant time.
 */
export function signBody(body: string, secret: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(body, 'utf8').digest('hex');
}

/** One webhook POST to make. */
export interface WebhookRequest {
  url: string;
  /** JSON text, sent as is (the signature covers exactly these bytes). */
  body: string;
  /** Signs the body when set. */
  secret?: string;
  /** Sent as `X-OpenOrchestrator-Event`, e.g. `run.finished`. */
  event: string;
}

/** How a delivery went. `status` is the last HTTP status seen, if any. */
export interface WebhookOutcome {
  ok: boolean;
  attempts: number;
  status?: number;
  error?: string;
  deliveryId: string;
}

/** Knobs for {@link deliverWebhook}; tests shorten the delays. */
export interface WebhookOptions {
  retryDelaysMs?: readonly number[];
  attemptTimeoutMs?: number;
  /** Aborts waiting and the attempt in flight (the process is stopping). */
  signal?: AbortSignal;
  /** Called after each failed attempt (for logging). */
  onAttemptFailed?: (attempt: number, error: string) => void;
}

/**
 * POSTs a JSON body, signed, retrying with backoff on network errors, timeouts, 408, 429 and 5xx
 * (other 4xx are final). Never throws: the outcome says how it went. Every attempt carries the same
 * `X-OpenOrchestrator-Delivery` id, so a receiver can drop repeats.
 */
export async function deliverWebhook(req: WebhookRequest, opts: WebhookOptions = {}): Promise<WebhookOutcome> {
  const delays = opts.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  const deliveryId = randomUUID();
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'openOrchestrator-webhook/1',
    'x-openorchestrator-event': req.event,
    'x-openorchestrator-delivery': deliveryId,
  };
  if (req.secret) headers[SIGNATURE_HEADER] = signBody(req.body, req.secret);
  let last: { status?: number; error: string } = { error: 'not attempted' };
  let attempts = 0;
  while (attempts <= delays.length) {
    if (attempts > 0) {
      try {
        await sleep(delays[attempts - 1]!, undefined, { signal: opts.signal });
      } catch {
        return { ok: false, attempts, status: last.status, error: `${last.error} (gave up: shutting down)`, deliveryId };
      }
    }
    attempts++;
    try {
      const signals = [AbortSignal.timeout(opts.attemptTimeoutMs ?? ATTEMPT_TIMEOUT_MS), ...(opts.signal ? [opts.signal] : [])];
      const res = await fetch(req.url, { method: 'POST', headers, body: req.body, signal: AbortSignal.any(signals), redirect: 'error' });
      await res.body?.cancel().catch(() => {});
      if (res.ok) return { ok: true, attempts, status: res.status, deliveryId };
      last = { status: res.status, error: `HTTP ${res.status}` };
      opts.onAttemptFailed?.(attempts, last.error);
      if (!isRetryableStatus(res.status)) break;
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      last = { error: e.name === 'TimeoutError' ? 'timed out' : (e.cause?.code ?? e.cause?.message ?? e.message) };
      opts.onAttemptFailed?.(attempts, last.error);
      if (opts.signal?.aborted) break;
    }
  }
  return { ok: false, attempts, status: last.status, error: last.error, deliveryId };
}

function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}
