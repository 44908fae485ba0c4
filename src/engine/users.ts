import { hash, hashSync, verify } from '@node-rs/argon2';
import { and, asc, count, eq, isNotNull, ne } from 'drizzle-orm';
import { z } from 'zod';
import { FIRST_ADMIN_ID, ROLES, type Caller, type Role } from './access.ts';
import type { Db } from './db/database.ts';
import { users, type UserRow } from './db/schema.ts';
import { AppError } from './errors.ts';
import { validationError } from './bots.ts';

/** The user name of the first admin until they choose another. */
export const FIRST_ADMIN_NAME = 'admin';

/** Shortest password accepted (NIST SP 800-63B 5.1.1.2: at least 8 characters when the user chooses it). */
export const MIN_PASSWORD_LENGTH = 8;

/** A user name: 1..40 letters, digits, `.`, `_`, `-` (it appears in URLs, logs and Basic Auth, which splits on `:`). */
export const usernameSchema = z
  .string({ error: 'username is required' })
  .trim()
  .min(1, 'username is required')
  .max(40, 'username is at most 40 characters')
  .regex(/^[A-Za-z0-9._-]+$/, 'username may hold only letters, digits, ".", "_" and "-"');

/** A password: 8..200 characters (argon2 takes any length; the cap keeps hashing cheap). */
export const passwordSchema = z
  .string({ error: 'password is required' })
  .min(MIN_PASSWORD_LENGTH, `password must be at least ${MIN_PASSWORD_LENGTH} characters`)
  .max(200, 'password is at most 200 characters');

/** One of {@link ROLES}. */
export const roleSchema = z.enum(ROLES, { error: `role is one of ${ROLES.join(', ')}` });

/** `POST /api/users`, the users page's form: a new user with a role and a password. */
export const newUserSchema = z.object({ username: usernameSchema, password: passwordSchema, role: roleSchema.default('operator') });

/** `PATCH /api/users/:id`: a new role and/or a new password. */
export const userPatchSchema = z.object({ role: roleSchema.optional(), password: passwordSchema.optional() });

/**
 * A fixed argon2id hash, verified against when the user name is unknown, so a failed sign-in
 * takes as long whether or not the name exists (no user enumeration by timing).
 */
const DUMMY_HASH = '$argon2id$v=19$m=19456,t=2,p=1$NVgfusL4ZthNxywuAdCsGw$hbSNpy4ktWGjqxd6OPf04+q24+0Jo4v1pjLYCzXYex0';

/**
 * Hashes a password with argon2id (@node-rs/argon2 defaults: m=19456 KiB, t=2, p=1, the OWASP
 * Password Storage Cheat Sheet's first recommendation) into a PHC string.
 */
export function hashPassword(password: string): Promise<string> {
  return hash(password);
}

/** The users of this server (accounts): names, roles and argon2id password hashes. */
export class UserService {
  constructor(private readonly db: Db) {}

  /**
   * Makes sure user {@link FIRST_ADMIN_ID} exists (an admin without a password on a new data
   * folder), so rows from before accounts and a loopback quickstart have an owner.
   */
  async ensureFirstAdmin(now = Date.now()): Promise<UserRow> {
    const existing = await this.get(FIRST_ADMIN_ID);
    if (existing) return existing;
    // Processes starting together on a new database all try: one inserts, the others read its row.
    await this.db
      .insert(users)
      .values({ id: FIRST_ADMIN_ID, username: FIRST_ADMIN_NAME, usernameKey: FIRST_ADMIN_NAME, passwordHash: null, role: 'admin', createdAt: now, updatedAt: now })
      .onConflictDoNothing();
    return (await this.get(FIRST_ADMIN_ID))!;
  }

  /**
   * `ADMIN_PASSWORD`: gives the first admin this password when they have none yet (a password
   * set later on the dashboard is never overwritten by the environment). Hashes synchronously: it
   * runs once, at start.
   * @returns `true` when the password was set now.
   */
  async applyAdminPassword(password: string, now = Date.now()): Promise<boolean> {
    const admin = (await this.get(FIRST_ADMIN_ID)) ?? (await this.ensureFirstAdmin(now));
    if (admin.passwordHash) return false;
    await this.db.update(users).set({ passwordHash: hashSync(password), updatedAt: now }).where(eq(users.id, admin.id));
    return true;
  }

  /**
   * Stores a new user. `passwordHash` is a finished hash (or null: no password sign-in).
   * @throws {AppError} USERNAME_TAKEN when the name (case-insensitively) is taken.
   */
  async create(input: { username: string; role: Role; passwordHash?: string | null }, now = Date.now()): Promise<UserRow> {
    if (await this.byName(input.username)) throw new AppError('USERNAME_TAKEN', `There is already a user called ${input.username}.`);
    const [row] = await this.db
      .insert(users)
      .values({ username: input.username, usernameKey: input.username.toLowerCase(), passwordHash: input.passwordHash ?? null, role: input.role, createdAt: now, updatedAt: now })
      .returning();
    return row!;
  }

  /**
   * Validates `input` ({@link newUserSchema}: username, password, role) and stores the user with
   * the password's argon2id hash.
   * @throws {AppError} VALIDATION_FAILED, USERNAME_TAKEN
   */
  async createWithPassword(input: unknown): Promise<UserRow> {
    const parsed = newUserSchema.safeParse(input);
    if (!parsed.success) throw validationError(parsed.error);
    if (await this.byName(parsed.data.username)) throw new AppError('USERNAME_TAKEN', `There is already a user called ${parsed.data.username}.`);
    const passwordHash = await hashPassword(parsed.data.password);
    return this.create({ username: parsed.data.username, role: parsed.data.role, passwordHash });
  }

  /** The user with `id`, or undefined. */
  async get(id: number): Promise<UserRow | undefined> {
    if (!Number.isSafeInteger(id)) return undefined;
    const [row] = await this.db.select().from(users).where(eq(users.id, id));
    return row;
  }

  /** @throws {AppError} USER_NOT_FOUND */
  async require(id: number): Promise<UserRow> {
    const row = await this.get(id);
    if (!row) throw new AppError('USER_NOT_FOUND', `No user with id ${id}.`);
    return row;
  }

  /** The user called `username` (case-insensitively), or undefined. */
  async byName(username: string): Promise<UserRow | undefined> {
    const [row] = await this.db.select().from(users).where(eq(users.usernameKey, username.trim().toLowerCase()));
    return row;
  }

  /** Every user, oldest first. */
  async list(): Promise<UserRow[]> {
    return this.db.select().from(users).orderBy(asc(users.id));
  }

  /**
   * `true` once accounts are configured: some user has a password. From then on every request
   * needs credentials (a session, Basic Auth, an API key or the dashboard token), loopback or not.
   */
  async accountsConfigured(): Promise<boolean> {
    const [row] = await this.db.select({ id: users.id }).from(users).where(isNotNull(users.passwordHash)).limit(1);
    return row !== undefined;
  }

  /**
   * Sets (or replaces) a user's password (argon2id).
   * @throws {AppError} USER_NOT_FOUND, VALIDATION_FAILED (shorter than {@link MIN_PASSWORD_LENGTH})
   */
  async setPassword(id: number, password: string, now = Date.now()): Promise<UserRow> {
    await this.require(id);
    const parsed = passwordSchema.safeParse(password);
    if (!parsed.success) throw validationError(parsed.error);
    const passwordHash = await hashPassword(parsed.data);
    const [row] = await this.db.update(users).set({ passwordHash, updatedAt: now }).where(eq(users.id, id)).returning();
    return row!;
  }

  /**
   * Renames a user (the setup page lets the first admin choose a name).
   * @throws {AppError} USER_NOT_FOUND, VALIDATION_FAILED, USERNAME_TAKEN
   */
  async rename(id: number, username: string, now = Date.now()): Promise<UserRow> {
    await this.require(id);
    const parsed = usernameSchema.safeParse(username);
    if (!parsed.success) throw validationError(parsed.error);
    const other = await this.byName(parsed.data);
    if (other && other.id !== id) throw new AppError('USERNAME_TAKEN', `There is already a user called ${parsed.data}.`);
    const [row] = await this.db.update(users).set({ username: parsed.data, usernameKey: parsed.data.toLowerCase(), updatedAt: now }).where(eq(users.id, id)).returning();
    return row!;
  }

  /**
   * The user whose name and password match, or null. The comparison is argon2's own (constant
   * time over the hash); an unknown name or a user without a password is checked against a dummy
   * hash, so it takes as long as a wrong password.
   */
  async verifyPassword(username: string, password: string): Promise<UserRow | null> {
    const user = await this.byName(username);
    const stored = user?.passwordHash ?? DUMMY_HASH;
    let ok = false;
    try {
      ok = await verify(stored, password);
    } catch {
      ok = false;
    }
    return ok && user?.passwordHash ? user : null;
  }

  /**
   * Changes a user's role. The last admin cannot stop being one (someone must manage users).
   * @throws {AppError} USER_NOT_FOUND, VALIDATION_FAILED, LAST_ADMIN
   */
  async setRole(id: number, role: unknown, now = Date.now()): Promise<UserRow> {
    const user = await this.require(id);
    const parsed = roleSchema.safeParse(role);
    if (!parsed.success) throw validationError(parsed.error);
    if (user.role === 'admin' && parsed.data !== 'admin' && (await this.otherAdmins(id)) === 0) {
      throw new AppError('LAST_ADMIN', `${user.username} is the last admin; make another user admin first.`);
    }
    const [row] = await this.db.update(users).set({ role: parsed.data, updatedAt: now }).where(eq(users.id, id)).returning();
    return row!;
  }

  /**
   * Checks that a user may be deleted: exists and is not the last admin. (Deleting, with the
   * user's bots, is `Engine.deleteUser`.)
   * @throws {AppError} USER_NOT_FOUND, LAST_ADMIN
   */
  async assertDeletable(id: number): Promise<UserRow> {
    const user = await this.require(id);
    if (user.role === 'admin' && (await this.otherAdmins(id)) === 0) throw new AppError('LAST_ADMIN', `${user.username} is the last admin and cannot be deleted.`);
    return user;
  }

  /** Removes the user row (sessions go with it: foreign key cascade). Use `Engine.deleteUser`, which deletes their bots first. */
  async deleteRow(id: number): Promise<void> {
    await this.db.delete(users).where(eq(users.id, id));
  }

  /** The {@link Caller} a user acts as. */
  callerOf(user: UserRow): Caller {
    return { userId: user.id, role: user.role, username: user.username };
  }

  /** How many admins there are besides user `id`. */
  private async otherAdmins(id: number): Promise<number> {
    const [row] = await this.db.select({ n: count() }).from(users).where(and(eq(users.role, 'admin'), ne(users.id, id)));
    return row?.n ?? 0;
  }
}
