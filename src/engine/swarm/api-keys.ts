import { createHash, randomBytes } from 'node:crypto';
import { desc, eq } from 'drizzle-orm';
import { FIRST_ADMIN_ID } from '../access.ts';
import type { Db } from '../db/database.ts';
import { apiKeys, type ApiKeyRow } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import { validationError } from '../bots.ts';
import type { AuditLog } from './audit.ts';
import { apiKeyInputSchema, type ApiKeyScope } from './schemas.ts';

/** The prefix of every key this server issues (also matched by the default redaction rules). */
const KEY_PREFIX = 'oo_';

/** The hex SHA-256 of a key: all that is stored of it. */
export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/**
 * API keys for clients (`X-API-Key`, seed 004 "API key per client"): a key is `oo_` and 32 random
 * bytes in base64url, shown once when created; only its SHA-256 is stored, with a name, scopes and
 * a display prefix. A revoked key stays listed and never works again.
 */
export class ApiKeyService {
  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
    private readonly now: () => number,
  ) {}

  /**
   * Creates a key. `agentId` binds it to an external agent (its registration key); `userId` is
   * the user the key acts as (default: the first admin).
   * @returns the row and the key itself (never retrievable again).
   * @throws {AppError} VALIDATION_FAILED
   */
  async create(input: unknown, actor: string, agentId: number | null = null, userId: number = FIRST_ADMIN_ID): Promise<{ row: ApiKeyRow; key: string }> {
    const parsed = apiKeyInputSchema.safeParse(input);
    if (!parsed.success) throw validationError(parsed.error);
    const key = KEY_PREFIX + randomBytes(32).toString('base64url');
    const [inserted] = await this.db
      .insert(apiKeys)
      .values({
        name: parsed.data.name,
        prefix: key.slice(0, KEY_PREFIX.length + 8),
        hash: hashKey(key),
        scopes: [...new Set(parsed.data.scopes)],
        agentId,
        userId,
        createdAt: this.now(),
      })
      .returning();
    const row = inserted!;
    await this.audit.record({ actor, event: 'key.created', payload: { key_id: row.id, name: row.name, scopes: row.scopes, agent_id: agentId } });
    return { row, key };
  }

  /** Every key, newest first (revoked ones included). */
  async list(): Promise<ApiKeyRow[]> {
    return this.db.select().from(apiKeys).orderBy(desc(apiKeys.id));
  }

  /** @throws {AppError} API_KEY_NOT_FOUND */
  async get(id: number): Promise<ApiKeyRow> {
    const [row] = Number.isSafeInteger(id) ? await this.db.select().from(apiKeys).where(eq(apiKeys.id, id)) : [];
    if (!row) throw new AppError('API_KEY_NOT_FOUND', `No API key with id ${id}.`);
    return row;
  }

  /**
   * Revokes a key (again: no change).
   * @throws {AppError} API_KEY_NOT_FOUND
   */
  async revoke(id: number, actor: string): Promise<ApiKeyRow> {
    const row = await this.get(id);
    if (row.revokedAt !== null) return row;
    const [out] = await this.db.update(apiKeys).set({ revokedAt: this.now() }).where(eq(apiKeys.id, id)).returning();
    await this.audit.record({ actor, event: 'key.revoked', payload: { key_id: id, name: row.name } });
    return out!;
  }

  /** Revokes every key bound to an agent (when it is removed). */
  async revokeForAgent(agentId: number, actor: string): Promise<void> {
    for (const k of await this.db.select().from(apiKeys).where(eq(apiKeys.agentId, agentId))) await this.revoke(k.id, actor);
  }

  /**
   * The live key `key` is, after noting its use; null for an unknown or revoked key.
   */
  async verify(key: string): Promise<ApiKeyRow | null> {
    if (!key.startsWith(KEY_PREFIX) || key.length > 200) return null;
    const [row] = await this.db.select().from(apiKeys).where(eq(apiKeys.hash, hashKey(key))).limit(1);
    if (!row || row.revokedAt !== null) return null;
    await this.db.update(apiKeys).set({ lastUsedAt: this.now() }).where(eq(apiKeys.id, row.id));
    return row;
  }
}

/** `true` when a key with `scopes` may act under `needed` (`admin` may do everything). */
export function hasScope(scopes: readonly string[], needed: ApiKeyScope): boolean {
  return scopes.includes('admin') || scopes.includes(needed);
}
