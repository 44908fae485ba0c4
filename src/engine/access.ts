import { AppError, type ErrorCode } from './errors.ts';

/**
 * The roles a user may have, most powerful first:
 * - `admin`: everything, over every user's bots, pipelines, tasks and results; manages users;
 * - `operator`: their own bots and what hangs off them (create, run, schedule, connect, delete);
 * - `viewer`: reads every bot, run and result, changes nothing (no run, no edit).
 */
export const ROLES = ['admin', 'operator', 'viewer'] as const;

/** One of {@link ROLES}. */
export type Role = (typeof ROLES)[number];

/**
 * Who is asking: the signed-in user of a page, the user an API key or HTTP Basic credentials
 * act as, or the account a chat identity is linked to. Every query, page, stream, chat command
 * and notification is scoped by one. Work the engine does by itself (schedules, connections,
 * pipelines) acts as the owner of what it runs.
 */
export interface Caller {
  /** `users.id`. */
  userId: number;
  role: Role;
  username: string;
}

/** The id of the first admin, who owns rows made before accounts (see `users` in the schema). */
export const FIRST_ADMIN_ID = 1;

/** `true` when `caller` may see a row owned by `ownerId`: admins and viewers see all, operators their own. */
export function mayRead(caller: Caller, ownerId: number): boolean {
  return caller.role !== 'operator' || caller.userId === ownerId;
}

/** `true` when `caller` may change (run, edit, delete) a row owned by `ownerId`: admins all, operators their own, viewers nothing. */
export function mayWrite(caller: Caller, ownerId: number): boolean {
  if (caller.role === 'admin') return true;
  return caller.role === 'operator' && caller.userId === ownerId;
}

/** `true` when `caller` may create bots, pipelines, tasks and keys of their own (not a viewer). */
export function mayCreate(caller: Caller): boolean {
  return caller.role !== 'viewer';
}

/**
 * Throws unless `caller` may read, or with `write` change, a row owned by `ownerId`. A row the
 * caller may not see is reported as missing (`notFound`, a 404, so a guessed id tells nothing);
 * a row they may see but not change is `FORBIDDEN_ROLE` (403).
 * @throws {AppError} `notFound` (e.g. `BOT_NOT_FOUND`) or `FORBIDDEN_ROLE`.
 */
export function assertAccess(caller: Caller, ownerId: number, action: 'read' | 'write', notFound: { code: ErrorCode; message: string }): void {
  if (!mayRead(caller, ownerId)) throw new AppError(notFound.code, notFound.message);
  if (action === 'write' && !mayWrite(caller, ownerId)) throw new AppError('FORBIDDEN_ROLE', `${caller.username} is a ${caller.role}: ${caller.role === 'viewer' ? 'a viewer reads and changes nothing' : 'an operator changes only their own bots'}.`);
}

/**
 * The owner whose rows `caller` sees in a list: `undefined` (every owner) for admins and viewers,
 * their own `users.id` for an operator. Lists take it as their `ownerId` filter, so the rule of
 * {@link mayRead} is applied by the query, not by each page.
 */
export function readScope(caller: Caller | undefined): number | undefined {
  return caller && caller.role === 'operator' ? caller.userId : undefined;
}

/**
 * Throws unless `caller` may create bots, pipelines, tasks and connections (see {@link mayCreate}).
 * @throws {AppError} FORBIDDEN_ROLE (a viewer).
 */
export function assertMayCreate(caller: Caller): void {
  if (!mayCreate(caller)) throw new AppError('FORBIDDEN_ROLE', `${caller.username} is a viewer: a viewer reads and changes nothing.`);
}
