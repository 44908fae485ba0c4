import fs from 'node:fs';
import { AsyncLocalStorage } from 'node:async_hooks';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import * as pgSchema from './schema-pg.ts';
import * as sqliteSchema from './schema-sqlite.ts';
import { currentDialect, useDialect } from './schema.ts';

/**
 * The drizzle handle the engine queries through. Its type is SQLite's; on Postgres it is
 * node-postgres's drizzle handle behind the same query builder calls (`select`, `insert`,
 * `update`, `delete`, `returning`, `onConflict…`: awaited, never the SQLite-only `.all()`, `.get()`,
 * `.run()`), and `$client` is a `pg.Pool`: use {@link pingDatabase}, {@link closeDatabase} and
 * {@link sqliteClient} rather than `$client`.
 */
export type Db = BetterSQLite3Database<typeof sqliteSchema> & { $client: Database.Database };

const MIGRATIONS_DIR = fileURLToPath(new URL('../../../drizzle', import.meta.url));
const PG_MIGRATIONS_DIR = fileURLToPath(new URL('../../../drizzle-pg', import.meta.url));

/** Where the data lives: the data folder (SQLite) and, when set, a Postgres URL that replaces it. */
export interface DatabaseTarget {
  dataDir: string;
  /** `postgres://user:pass@host:port/db`; null: SQLite at `<dataDir>/openorchestrator.db`. */
  databaseUrl?: string | null;
}

/**
 * The advisory lock key (any bigint; this one spells "oo-migr") that processes starting at once
 * take in turn to apply migrations.
 */
const MIGRATION_LOCK = 0x6f6f2d6d696772n;

/**
 * Opens the database and applies the committed drizzle-kit migrations.
 * - SQLite (no `databaseUrl`): `<dataDir>/openorchestrator.db`, created when missing, with WAL, a
 *   5 s busy timeout and foreign keys on (drizzle/).
 * - Postgres: a pool of at most `poolSize` connections (default 10); migrations (drizzle-pg/) run
 *   under an advisory lock so that processes starting together apply them once. bigint and
 *   numeric come back as numbers (ids, epoch ms and counts are far below 2^53). Switches the
 *   process's table bindings to Postgres (`useDialect`).
 * @param dataDirOrTarget a data folder (SQLite) or a {@link DatabaseTarget}.
 * @throws the driver's error when Postgres cannot be reached or a migration fails.
 */
export async function openDatabase(dataDirOrTarget: string | DatabaseTarget, opts: { poolSize?: number } = {}): Promise<Db> {
  const target = typeof dataDirOrTarget === 'string' ? { dataDir: dataDirOrTarget } : dataDirOrTarget;
  if (target.databaseUrl) return openPostgres(target.databaseUrl, opts.poolSize ?? 10);
  useDialect('sqlite');
  fs.mkdirSync(target.dataDir, { recursive: true });
  const sqlite = new Database(path.join(target.dataDir, 'openorchestrator.db'));
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('synchronous = NORMAL');
  const db = drizzle(sqlite, { schema: sqliteSchema }) as Db;
  migrate(db, { migrationsFolder: MIGRATIONS_DIR });
  return db;
}

const NUMERIC_OIDS = new Set([20 /* int8 */, 1700 /* numeric */]);

async function openPostgres(url: string, poolSize: number): Promise<Db> {
  useDialect('postgres');
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        NUMERIC_OIDS.has(oid) ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client's error (the server restarted) must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  const client = await pool.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK.toString()]);
    try {
      await migratePg(drizzlePg(client), { migrationsFolder: PG_MIGRATIONS_DIR });
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK.toString()]);
    }
  } finally {
    client.release();
  }
  const base = drizzlePg(pool, { schema: pgSchema });
  return routeToOpenTransaction(base as unknown as Db);
}

/** The better-sqlite3 connection of a SQLite database, or null on Postgres. */
export function sqliteClient(db: Db): Database.Database | null {
  return currentDialect() === 'sqlite' ? db.$client : null;
}

/** Postgres's pool of a Postgres database, or null on SQLite. */
export function pgPool(db: Db): pg.Pool | null {
  return currentDialect() === 'postgres' ? (db.$client as unknown as pg.Pool) : null;
}

/** One round trip to the database (`select 1`); throws the driver's error when it is unreachable. */
export async function pingDatabase(db: Db): Promise<void> {
  const pool = pgPool(db);
  if (pool) await pool.query('select 1');
  else db.$client.prepare('select 1').get();
}

/** Closes the connection (SQLite) or ends the pool (Postgres). */
export async function closeDatabase(db: Db): Promise<void> {
  const pool = pgPool(db);
  if (pool) await pool.end();
  else db.$client.close();
}

/** Handles made by {@link routeToOpenTransaction}, to the handle they route from. */
const unrouted = new WeakMap<object, Db>();

/**
 * On Postgres a transaction has its own connection, so a statement made through the pool while a
 * transaction of the same flow is open would not see its writes (and could wait on its locks
 * forever). The returned handle sends each call to the open transaction of the current async
 * flow, if any ({@link transaction}), else to `base`.
 */
function routeToOpenTransaction(base: Db): Db {
  const routed = new Proxy(base, {
    get(target, prop) {
      const open = currentTx.getStore();
      const to = open?.open ? open.tx : target;
      const value = Reflect.get(to, prop) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(to) : value;
    },
  });
  unrouted.set(routed, base);
  return routed;
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
const currentTx = new AsyncLocalStorage<TxState>();

/** An open transaction of one async flow: its handle, and what waits for its commit. */
interface TxState {
  tx: Db;
  open: boolean;
  afterCommit: (() => void)[];
}

/**
 * Runs `fn` once the transaction the current async flow is inside has committed (never, when it
 * rolls back); at once outside a transaction. The event bus emits through it, so no listener, here
 * or in another process, hears of a change before it can read it.
 */
export function afterCommit(fn: () => void): void {
  const open = currentTx.getStore();
  if (open?.open) open.afterCommit.push(fn);
  else fn();
}

function committed(state: TxState): void {
  for (const fn of state.afterCommit.splice(0)) fn();
}
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
  const base = unrouted.get(db);
  if (base) {
    const state: TxState = { tx: base, open: true, afterCommit: [] };
    const out = (await base.transaction(async (tx) => {
      state.tx = tx as unknown as Db;
      try {
        return await currentTx.run(state, () => fn(state.tx));
      } finally {
        state.open = false;
      }
    })) as T;
    committed(state);
    return out;
  }
  const client = db.$client;
  const turn = sqliteTurn.then(async () => {
    const state: TxState = { tx: db, open: true, afterCommit: [] };
    client.exec('BEGIN IMMEDIATE');
    try {
      const out = await currentTx.run(state, () => fn(db));
      client.exec('COMMIT');
      state.open = false;
      committed(state);
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
