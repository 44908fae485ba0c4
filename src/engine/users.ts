import { eq } from 'drizzle-orm';
import { FIRST_ADMIN_ID, type Caller, type Role } from './access.ts';
import type { Db } from './db/database.ts';
import { users, type UserRow } from './db/schema.ts';

/** The user name of the first admin until they choose another. */
export const FIRST_ADMIN_NAME = 'admin';

/** The users of this server (accounts). */
export class UserService {
  constructor(private readonly db: Db) {}

  /**
   * Makes sure user {@link FIRST_ADMIN_ID} exists (an admin without a password on a new data
   * folder), so rows from before accounts and a loopback quickstart have an owner.
   */
  ensureFirstAdmin(now = Date.now()): UserRow {
    const existing = this.get(FIRST_ADMIN_ID);
    if (existing) return existing;
    return this.db
      .insert(users)
      .values({ id: FIRST_ADMIN_ID, username: FIRST_ADMIN_NAME, usernameKey: FIRST_ADMIN_NAME, passwordHash: null, role: 'admin', createdAt: now, updatedAt: now })
      .returning()
      .get();
  }

  /**
   * Stores a new user. `passwordHash` is a finished hash (or null: no password sign-in).
   * @throws the driver's unique-constraint error when the name (case-insensitively) is taken.
   */
  create(input: { username: string; role: Role; passwordHash?: string | null }, now = Date.now()): UserRow {
    return this.db
      .insert(users)
      .values({ username: input.username, usernameKey: input.username.toLowerCase(), passwordHash: input.passwordHash ?? null, role: input.role, createdAt: now, updatedAt: now })
      .returning()
      .get();
  }

  /** The user with `id`, or undefined. */
  get(id: number): UserRow | undefined {
    return this.db.select().from(users).where(eq(users.id, id)).get();
  }

  /** The {@link Caller} a user acts as. */
  callerOf(user: UserRow): Caller {
    return { userId: user.id, role: user.role, username: user.username };
  }
}
