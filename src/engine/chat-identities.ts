/**
 * Chat pairing: a Telegram or Discord user who is not linked to an account gets a one-time code
 * (8 characters, valid {@link CODE_TTL_MS}, single use); a signed-in user enters it on the
 * dashboard, or an admin approves it for a chosen user, which links that chat identity to the
 * account. From then on the identity's commands act as that user ({@link ChatIdentityService.callerFor}).
 * Modelled on OpenClaw's DM pairing (a stranger gets a code, the owner approves it; codes expire in 1 h).
 */
import { randomInt } from 'node:crypto';
import { and, asc, desc, eq, gt, isNull } from 'drizzle-orm';
import type { Caller } from './access.ts';
import { transaction, type Db } from './db/database.ts';
import { chatIdentities, pairingCodes, users, type ChatIdentityRow, type PairingCodeRow } from './db/schema.ts';
import { AppError } from './errors.ts';
import type { ChatPlatform } from './subscriptions.ts';

/** Letters and digits without look-alikes (no 0/O, 1/I/L), so a code read off a phone is typed right. */
export const CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
/** Characters in a code. */
export const CODE_LENGTH = 8;
/** A code is valid this long after it was given (1 hour, as OpenClaw's pairing codes). */
export const CODE_TTL_MS = 60 * 60_000;
/** At most this many new codes per chat identity per {@link CODE_TTL_MS}. */
export const MAX_CODES_PER_HOUR = 5;

/** A linked identity as the dashboard and API show it. */
export interface ChatIdentityView {
  id: number;
  platform: ChatPlatform;
  externalId: string;
  displayName: string;
  userId: number;
  /** The linked user's name. */
  username: string;
  /** Epoch ms. */
  linkedAt: number;
}

/** `abcd-2345 efgh` → `ABCD2345EFGH`: what a person types, as codes are stored. */
export function normalizeCode(typed: string): string {
  return typed.toUpperCase().replace(/[\s-]+/g, '');
}

/** The chat identities and pairing codes of this server. */
export class ChatIdentityService {
  private readonly now: () => number;

  /** @param deps.now the clock of code expiry and rate limits (epoch ms), for tests. */
  constructor(
    private readonly db: Db,
    deps: { now?: (() => number) | undefined } = {},
  ) {
    this.now = deps.now ?? Date.now;
  }

  /**
   * The open code of this chat identity, or a new one (valid {@link CODE_TTL_MS}).
   * `displayName` is remembered for the admin's list of pending codes.
   * @throws {AppError} PAIRING_RATE_LIMITED when {@link MAX_CODES_PER_HOUR} codes were given within the last hour.
   */
  async codeFor(platform: ChatPlatform, externalId: string, displayName: string): Promise<PairingCodeRow> {
    const now = this.now();
    const mine = and(eq(pairingCodes.platform, platform), eq(pairingCodes.externalId, externalId));
    const [open] = await this.db
      .select()
      .from(pairingCodes)
      .where(and(mine, isNull(pairingCodes.usedAt), gt(pairingCodes.expiresAt, now)))
      .orderBy(desc(pairingCodes.createdAt))
      .limit(1);
    if (open) return open;
    const recent = (
      await this.db
        .select({ id: pairingCodes.id })
        .from(pairingCodes)
        .where(and(mine, gt(pairingCodes.createdAt, now - CODE_TTL_MS)))
    ).length;
    if (recent >= MAX_CODES_PER_HOUR) {
      throw new AppError('PAIRING_RATE_LIMITED', `You asked for ${MAX_CODES_PER_HOUR} pairing codes within an hour; please wait an hour before asking for another.`);
    }
    for (;;) {
      const code = Array.from({ length: CODE_LENGTH }, () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]).join('');
      const [taken] = await this.db.select({ id: pairingCodes.id }).from(pairingCodes).where(eq(pairingCodes.code, code)).limit(1);
      if (taken) continue;
      const [row] = await this.db
        .insert(pairingCodes)
        .values({ code, platform, externalId, displayName: displayName.slice(0, 100), createdAt: now, expiresAt: now + CODE_TTL_MS })
        .returning();
      return row!;
    }
  }

  /**
   * Links the chat identity that got `code` to `caller`'s account (a link it had to another
   * account moves). Case, spaces and dashes in `code` do not matter.
   * @throws {AppError} PAIRING_CODE_UNKNOWN, PAIRING_CODE_USED (single use), PAIRING_CODE_EXPIRED (older than 1 h).
   */
  async redeem(code: string, caller: Caller): Promise<ChatIdentityView> {
    const [row] = await this.db.select().from(pairingCodes).where(eq(pairingCodes.code, normalizeCode(code))).limit(1);
    if (!row) throw new AppError('PAIRING_CODE_UNKNOWN', 'No pairing code like that was given; check the 8 characters the chat bot sent you.');
    return this.link(row, caller.userId);
  }

  /**
   * An admin links the chat identity of pending code `codeId` to user `userId`.
   * @throws {AppError} FORBIDDEN_ROLE (not an admin), PAIRING_CODE_UNKNOWN, PAIRING_CODE_USED,
   *   PAIRING_CODE_EXPIRED, VALIDATION_FAILED (no such user).
   */
  async approve(codeId: number, userId: number, admin: Caller): Promise<ChatIdentityView> {
    if (admin.role !== 'admin') throw new AppError('FORBIDDEN_ROLE', 'Only an admin approves pairing codes; enter your own code on this page instead.');
    const [row] = await this.db.select().from(pairingCodes).where(eq(pairingCodes.id, codeId));
    if (!row) throw new AppError('PAIRING_CODE_UNKNOWN', `No pairing code with id ${codeId}.`);
    const [user] = await this.db.select({ id: users.id }).from(users).where(eq(users.id, userId));
    if (!user) throw new AppError('VALIDATION_FAILED', `No user with id ${userId}.`);
    return this.link(row, userId);
  }

  private async link(row: PairingCodeRow, userId: number): Promise<ChatIdentityView> {
    const now = this.now();
    if (row.usedAt !== null) throw codeUsed();
    if (row.expiresAt <= now) throw new AppError('PAIRING_CODE_EXPIRED', 'That pairing code has expired (codes last 1 hour). Send the chat bot any command for a new one.');
    const id = await transaction(this.db, async (tx) => {
      // The code is used once: of two requests (or processes) redeeming it together, one changes the row.
      const used = await tx
        .update(pairingCodes)
        .set({ usedAt: now })
        .where(and(eq(pairingCodes.id, row.id), isNull(pairingCodes.usedAt), gt(pairingCodes.expiresAt, now)))
        .returning({ id: pairingCodes.id });
      if (used.length === 0) return null;
      const [linked] = await tx
        .insert(chatIdentities)
        .values({ platform: row.platform, externalId: row.externalId, displayName: row.displayName, userId, linkedAt: now })
        .onConflictDoUpdate({ target: [chatIdentities.platform, chatIdentities.externalId], set: { userId, displayName: row.displayName, linkedAt: now } })
        .returning();
      return linked!.id;
    });
    if (id === null) throw codeUsed();
    return (await this.view(id))!;
  }

  /** The account a chat user acts as, or null when the identity is not linked. */
  async callerFor(platform: ChatPlatform, externalId: string): Promise<Caller | null> {
    const [row] = await this.db
      .select({ userId: users.id, role: users.role, username: users.username })
      .from(chatIdentities)
      .innerJoin(users, eq(users.id, chatIdentities.userId))
      .where(and(eq(chatIdentities.platform, platform), eq(chatIdentities.externalId, externalId)))
      .limit(1);
    return row ?? null;
  }

  /**
   * Removes a link: the chat user is a stranger again (their next command gets a new code).
   * @throws {AppError} CHAT_IDENTITY_NOT_FOUND when there is none with `identityId` that `caller` owns (admins: any).
   */
  async unlink(identityId: number, caller: Caller): Promise<void> {
    const [row] = await this.db.select().from(chatIdentities).where(eq(chatIdentities.id, identityId));
    if (!row || (caller.role !== 'admin' && row.userId !== caller.userId)) throw new AppError('CHAT_IDENTITY_NOT_FOUND', `No linked chat identity with id ${identityId}.`);
    await this.db.delete(chatIdentities).where(eq(chatIdentities.id, identityId));
  }

  /** The identities linked to `userId`, oldest link first. */
  async listFor(userId: number): Promise<ChatIdentityView[]> {
    return (await this.views()).filter((v) => v.userId === userId);
  }

  /** Every linked identity (an admin's view), oldest link first. */
  async listAll(): Promise<ChatIdentityView[]> {
    return this.views();
  }

  /** Codes neither used nor expired, newest first (an admin approves them). */
  async pendingCodes(): Promise<PairingCodeRow[]> {
    return this.db
      .select()
      .from(pairingCodes)
      .where(and(isNull(pairingCodes.usedAt), gt(pairingCodes.expiresAt, this.now())))
      .orderBy(desc(pairingCodes.createdAt));
  }

  /** The identity with `id`, or undefined. */
  async get(id: number): Promise<ChatIdentityRow | undefined> {
    const [row] = await this.db.select().from(chatIdentities).where(eq(chatIdentities.id, id));
    return row;
  }

  private async view(id: number): Promise<ChatIdentityView | undefined> {
    return (await this.views(id))[0];
  }

  private async views(id?: number): Promise<ChatIdentityView[]> {
    return this.db
      .select({
        id: chatIdentities.id,
        platform: chatIdentities.platform,
        externalId: chatIdentities.externalId,
        displayName: chatIdentities.displayName,
        userId: chatIdentities.userId,
        username: users.username,
        linkedAt: chatIdentities.linkedAt,
      })
      .from(chatIdentities)
      .innerJoin(users, eq(users.id, chatIdentities.userId))
      .where(id === undefined ? undefined : eq(chatIdentities.id, id))
      .orderBy(asc(chatIdentities.linkedAt), asc(chatIdentities.id));
  }
}

/** A code that was already used (codes work once). */
function codeUsed(): AppError {
  return new AppError('PAIRING_CODE_USED', 'That pairing code was already used; codes work once. Send the chat bot any command for a new one.');
}
