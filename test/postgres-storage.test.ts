import { count, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDatabase, openDatabase, pingDatabase, rowsChanged, transaction, type Db } from '../src/engine/db/database.ts';
import { bots, currentDialect, runs, users } from '../src/engine/db/schema.ts';
import { startPostgres, type TestPostgres } from './helpers/postgres.ts';

// The storage layer on a real Postgres: migrations from drizzle-pg/, the same query builder calls
// the engine makes on SQLite, numbers for bigints, and transactions that commit or roll back.
describe('storage on Postgres', () => {
  let server: TestPostgres;
  let db: Db;
  beforeAll(async () => {
    server = await startPostgres();
    // Three processes starting at once apply the migrations once (an advisory lock).
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => openDatabase({ dataDir: '/nonexistent', databaseUrl: server.url }, { poolSize: 3 })));
    await Promise.all([b, c].map((x) => closeDatabase(x!)));
    db = a!;
  }, 60_000);
  afterAll(async () => {
    if (db) await closeDatabase(db);
    await server?.stop();
  });

  it('switches the table bindings to Postgres and answers a ping', async () => {
    expect(currentDialect()).toBe('postgres');
    await pingDatabase(db);
  });

  it('reads back ids, epoch ms, booleans and JSON as the SQLite path does', async () => {
    const now = Date.now();
    const [admin] = await db.insert(users).values({ id: 1, username: 'admin', usernameKey: 'admin', role: 'admin', createdAt: now, updatedAt: now }).returning();
    const [second] = await db.insert(users).values({ username: 'bo', usernameKey: 'bo', role: 'operator', createdAt: now, updatedAt: now }).returning();
    expect(admin!.id).toBe(1);
    expect(second!.id).toBe(2);
    const [bot] = await db
      .insert(bots)
      .values({ name: 'Scout', nameKey: 'scout', prompt: 'p', docsPath: '/tmp/x', tools: ['web_fetch'], createdAt: now, updatedAt: now })
      .returning();
    expect(bot).toMatchObject({ paused: false, tools: ['web_fetch'], notify: {}, createdAt: now, ownerId: 1 });
    const [n] = await db.select({ n: count() }).from(bots);
    expect(n!.n).toBe(1);
    expect(typeof n!.n).toBe('number');
  });

  it('commits a transaction, rolls one back on a throw, and joins a nested one', async () => {
    const [bot] = await db.select().from(bots).where(eq(bots.nameKey, 'scout'));
    const base = { botId: bot!.id, trigger: 'manual', status: 'queued' as const, createdAt: 1, availableAt: 1, attempt: 1, maxAttempts: 1, chainDepth: 0 };
    await transaction(db, async (tx) => {
      await tx.insert(runs).values(base);
      // `db` (not `tx`) inside the flow goes to the open transaction: it sees the uncommitted row.
      const [seen] = await db.select({ n: count() }).from(runs);
      expect(seen!.n).toBe(1);
      await transaction(db, async (inner) => {
        await inner.insert(runs).values(base);
      });
    });
    await expect(
      transaction(db, async (tx) => {
        await tx.insert(runs).values(base);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const [after] = await db.select({ n: count() }).from(runs);
    expect(after!.n).toBe(2);
    expect(rowsChanged(await db.update(runs).set({ status: 'cancelled' }).where(eq(runs.botId, bot!.id)))).toBe(2);
  });
});
