import { afterAll } from 'vitest';
import { createDatabase, startPostgres, type TestPostgres } from './postgres.ts';

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

/** The Postgres database for `dataDir` in TEST_DATABASE=postgres mode, created on first use; else null. */
export async function testDatabase(dataDir: string): Promise<{ url: string; drop(): Promise<void> } | null> {
  if (!onPostgres) return null;
  const known = databases.get(dataDir);
  if (known) return known;
  server ??= startPostgres();
  const created = await createDatabase((await server).url);
  const database = {
    url: created.url,
    async drop() {
      databases.delete(dataDir);
      await created.drop().catch(() => {});
    },
  };
  databases.set(dataDir, database);
  return database;
}
