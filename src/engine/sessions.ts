import { createHash, randomBytes } from 'node:crypto';
import { eq, lt } from 'drizzle-orm';
import { rowsChanged, type Db } from './db/database.ts';
import { sessions, users, type UserRow } from './db/schema.ts';

/** A session lives this long after its last use (sliding expiry), in ms: 30 days. */
export const SESSION_TTL_MS = 30 * 24 * 60 * 60 * 1000;

/** A session's `lastSeenAt`/`expiresAt` are written at most this often (ms), not on every request. */
const TOUCH_EVERY_MS = 60_000;

/** The hex SHA-256 of a session token: all the database keeps of it. */
function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Signed-in browser sessions. A session is a random 32-byte token (base64url) that only the
 * browser's cookie holds; the `sessions` table keeps its SHA-256, the user, and an expiry that
 * slides forward with use ({@link SESSION_TTL_MS}).
 */
export class SessionService {
  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Starts a session for `userId`; returns the token for the cookie (never stored). Sessions
   * that expired unused (a browser that never came back) are deleted first, so the table holds
   * at most the live sessions plus those that expired since the last sign-in.
   */
  async create(userId: number): Promise<string> {
    await this.prune();
    const token = randomBytes(32).toString('base64url');
    const now = this.now();
    await this.db.insert(sessions).values({ id: tokenHash(token), userId, createdAt: now, lastSeenAt: now, expiresAt: now + SESSION_TTL_MS });
    return token;
  }

  /**
   * The user of a live session, or undefined (unknown token, expired: then the row is deleted).
   * Pushes the expiry forward (at most once a minute); `touched` says it did, so the cookie's
   * own expiry can be renewed too.
   */
  async resolve(token: string): Promise<{ user: UserRow; touched: boolean } | undefined> {
    if (!token) return undefined;
    const id = tokenHash(token);
    const [row] = await this.db.select().from(sessions).innerJoin(users, eq(users.id, sessions.userId)).where(eq(sessions.id, id));
    if (!row) return undefined;
    const now = this.now();
    if (row.sessions.expiresAt <= now) {
      await this.db.delete(sessions).where(eq(sessions.id, id));
      return undefined;
    }
    const touched = now - row.sessions.lastSeenAt >= TOUCH_EVERY_MS;
    if (touched) await this.db.update(sessions).set({ lastSeenAt: now, expiresAt: now + SESSION_TTL_MS }).where(eq(sessions.id, id));
    return { user: row.users, touched };
  }

  /** Ends the session of `token` (logout); an unknown token is no error. */
  async delete(token: string): Promise<void> {
    await this.db.delete(sessions).where(eq(sessions.id, tokenHash(token)));
  }

  /** Ends every session of a user (after a password change, or when they are deleted). */
  async deleteForUser(userId: number): Promise<void> {
    await this.db.delete(sessions).where(eq(sessions.userId, userId));
  }

  /** Deletes expired sessions; returns how many. */
  async prune(): Promise<number> {
    return rowsChanged(await this.db.delete(sessions).where(lt(sessions.expiresAt, this.now())));
  }
}
