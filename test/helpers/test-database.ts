import pg from 'pg';
import { afterAll } from 'vitest';
import { startPostgres, type TestPostgres } from './postgres.ts';

// TEST_DATABASE=postgres: every test app gets its own database on one Postgres server per test
// file (vitest evaluates this module once per file), so the suite runs the Postgres paths.
const onPostgres = process.env.TEST_DATABASE === 'postgres';
let server: Promise<TestPostgres> | null = null;
/** The database of each data dir, so that an app reopened on a kept data dir finds its data. */
const databases = new Map<string, { url: string; drop(): Promise<void> }>();
if (onPostgres) {
  afterAll(async () => {
    if (server) await (await server).stop();
    server = null;
  });
}

async function admin<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** The Postgres database for `dataDir` in TEST_DATABASE=postgres mode, created on first use; else null. */
export async function testDatabase(dataDir: string): Promise<{ url: string; drop(): Promise<void> } | null> {
  if (!onPostgres) return null;
  const known = databases.get(dataDir);
  if (known) return known;
  server ??= startPostgres();
  const { url } = await server;
  const name = `oo_${Math.random().toString(36).slice(2, 12)}`;
  await admin(url, (c) => c.query(`create database ${name}`));
  const database = {
    url: url.replace(/\/postgres$/, `/${name}`),
    async drop() {
      databases.delete(dataDir);
      await admin(url, (c) => c.query(`drop database if exists ${name} with (force)`)).catch(() => {});
    },
  };
  databases.set(dataDir, database);
  return database;
}
