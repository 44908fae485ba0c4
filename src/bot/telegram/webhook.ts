import { createHash } from 'node:crypto';
import { webhookCallback, type Bot } from 'grammy';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../engine/errors.ts';

/**
 * Telegram's webhook mode (https://core.telegram.org/bots/api#setwebhook): Telegram POSTs each
 * update to `TELEGRAM_WEBHOOK_URL`, whose path this process serves, with the header
 * `X-Telegram-Bot-Api-Secret-Token` carrying the secret given to `setWebhook`. grammY's
 * `webhookCallback` (fastify adapter) checks it in constant time and answers 401 otherwise.
 *
 * The route exists from the start (routes cannot be added once the server listens); until the
 * Telegram adapter has attached its bot it answers 503, and Telegram tries again later.
 */
export class TelegramWebhook {
  /** The URL given to `setWebhook`. */
  readonly url: string;
  /** The path of {@link url}, served by {@link routes}. */
  readonly path: string;
  /** The `secret_token`: 1–256 of A–Z, a–z, 0–9, `_`, `-`. */
  readonly secret: string;
  private handler: ((req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) | null = null;

  /**
   * @param secret `TELEGRAM_WEBHOOK_SECRET`; when absent it is derived from the bot token, so it
   *   stays the same across restarts without being the token itself.
   */
  constructor(opts: { url: string; token: string; secret?: string }) {
    this.url = opts.url;
    this.path = new URL(opts.url).pathname;
    this.secret = opts.secret ?? createHash('sha256').update(`openorchestrator telegram webhook\n${opts.token}`).digest('base64url');
  }

  /** The fastify plugin with `POST <path>`; it authenticates itself, outside the dashboard token. */
  readonly routes: FastifyPluginAsync = async (app) => {
    app.post(this.path, async (req, reply) => {
      if (!this.handler) throw new AppError('CHAT_NOT_READY', 'The Telegram adapter is not running yet; try again later.');
      return this.handler(req, reply);
    });
  };

  /** Hands updates to `bot` from now on. */
  attach(bot: Bot): void {
    // No timeout of our own: a command that takes long (stopping a run) still gets its answer.
    this.handler = webhookCallback(bot, 'fastify', { secretToken: this.secret, timeoutMilliseconds: Infinity });
  }

  /** Stops handing updates over (503 again). */
  detach(): void {
    this.handler = null;
  }
}
