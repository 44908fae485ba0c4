import fs from 'node:fs';
import { AsyncLocalStorage } from 'node:async_hooks';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import * as schema from './schema.ts';

/** The drizzle handle over the app's SQLite database. */
export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

const MIGRATIONS_DIR = fileURLToPath(new URL('../../../drizzle', import.meta.url));

/**
 * Opens (creating when missing) `<dataDir>/openorchestrator.db` with WAL, a 5 s busy timeout and
 * foreign keys on, and applies the committed drizzle-kit migrations.
 */
export async function openDatabase(dataDir: string): Promise<Db> {
  fs.mkdirSync(dataDir, { recursive: true });
  const sqlite = new Database(path.join(dataDir, 'openorchestrator.db'));
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('synchronous = NORMAL');
  const db = drizzle(sqlite, { schema }) as Db;
  migrate(db, { migrationsFolder: MIGRATIONS_DIR });
  return db;
}

/**
 * The number of rows a write changed, from what awaiting an `insert`/`update`/`delete` without
 * `.returning()` gives on either driver: better-sqlite3's `RunResult.changes` or node-postgres's
 * `QueryResult.rowCount`.
 */
export function rowsChanged(result: unknown): number {
  const r = result as { changes?: number; rowCount?: number | null };
  return r.changes ?? r.rowCount ?? 0;
}

/** The transaction the current async flow is inside (see {@link transaction}). */
const currentTx = new AsyncLocalStorage<{ tx: Db; open: boolean }>();
/** SQLite has one connection: its transactions take turns (the tail of the chain of waiters). */
let sqliteTurn: Promise<unknown> = Promise.resolve();

/**
 * Runs `fn` in one transaction: it commits when `fn` resolves and rolls back when it throws (the
 * error is rethrown). A call inside an open transaction of the same async flow joins it. `fn`
 * must do storage work only (no network, no timers): on SQLite the single connection is held for
 * as long as `fn` runs, and other flows' statements in that time join the transaction.
 * @param fn gets the handle to run its statements on (on Postgres: the transaction's connection).
 */
export async function transaction<T>(db: Db, fn: (tx: Db) => Promise<T>): Promise<T> {
  const open = currentTx.getStore();
  if (open?.open) return fn(open.tx);
  const client = db.$client;
  const turn = sqliteTurn.then(async () => {
    const state = { tx: db, open: true };
    client.exec('BEGIN IMMEDIATE');
    try {
      const out = await currentTx.run(state, () => fn(db));
      client.exec('COMMIT');
      return out;
    } catch (err) {
      if (client.inTransaction) client.exec('ROLLBACK');
      throw err;
    } finally {
      state.open = false;
    }
  });
  sqliteTurn = turn.catch(() => {});
  return turn;
}
