/**
 * Each user's own Telegram bot token (seed 002: a Telegram bot per user), kept like a secret:
 * a file `DATA_DIR/secrets/users/<userId>/telegram-token`, its directory mode 0700 and the file
 * 0600, never in the database, a log line or a response (they say only whether one is set).
 * Listeners hear of every change, so the process starts or stops that user's poller.
 */
import fs from 'node:fs';
import path from 'node:path';
import { AppError } from './errors.ts';

/** What a Telegram bot token looks like (`<bot id>:<35 characters>`, https://core.telegram.org/bots/api#authorizing-your-bot). */
export const TELEGRAM_TOKEN_PATTERN = /^\d{3,20}:[A-Za-z0-9_-]{30,100}$/;

/** Told when a user's token was set (`token`) or removed (`null`). */
export type TokenListener = (userId: number, token: string | null) => void;

/** The per-user Telegram bot tokens under `DATA_DIR/secrets/users/`. */
export class UserTelegramTokens {
  private readonly root: string;
  private readonly listeners = new Set<TokenListener>();

  constructor(dataDir: string) {
    this.root = path.join(dataDir, 'secrets', 'users');
  }

  private file(userId: number): string {
    return path.join(this.root, String(userId), 'telegram-token');
  }

  /**
   * Stores (or replaces) `userId`'s token and tells the listeners.
   * @throws {AppError} VALIDATION_FAILED when it does not look like a Telegram bot token.
   */
  set(userId: number, token: string): void {
    const t = token.trim();
    if (!TELEGRAM_TOKEN_PATTERN.test(t)) throw new AppError('VALIDATION_FAILED', 'That does not look like a Telegram bot token (@BotFather gives one like 123456789:AA…).', { fields: { token: 'not a Telegram bot token' } });
    const dir = path.dirname(this.file(userId));
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(path.join(this.root, '..'), 0o700);
    fs.chmodSync(this.root, 0o700);
    fs.chmodSync(dir, 0o700);
    const tmp = `${this.file(userId)}.tmp`;
    fs.writeFileSync(tmp, t, { mode: 0o600 });
    fs.chmodSync(tmp, 0o600);
    fs.renameSync(tmp, this.file(userId));
    for (const l of this.listeners) l(userId, t);
  }

  /** Removes `userId`'s token (and its folder); listeners hear of it when there was one. */
  remove(userId: number): void {
    const had = this.has(userId);
    fs.rmSync(path.dirname(this.file(userId)), { recursive: true, force: true });
    if (had) for (const l of this.listeners) l(userId, null);
  }

  /** Whether `userId` has a token set. */
  has(userId: number): boolean {
    return fs.existsSync(this.file(userId));
  }

  /** `userId`'s token, or null. Only the chat adapter reads it. */
  get(userId: number): string | null {
    try {
      return fs.readFileSync(this.file(userId), 'utf8').trim() || null;
    } catch {
      return null;
    }
  }

  /** Every user with a token, and the token. */
  all(): { userId: number; token: string }[] {
    let dirs: string[];
    try {
      dirs = fs.readdirSync(this.root);
    } catch {
      return [];
    }
    return dirs.flatMap((d) => {
      const userId = Number(d);
      const token = Number.isInteger(userId) ? this.get(userId) : null;
      return token ? [{ userId, token }] : [];
    });
  }

  /** Hears of every change; returns the function that stops listening. */
  onChange(listener: TokenListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }
}
