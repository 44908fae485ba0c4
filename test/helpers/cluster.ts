import pg from 'pg';
import { tempDataDir } from './app.ts';
import { startServer, type ServerProcess } from './server.ts';
import { createDatabase, type TestPostgres } from './postgres.ts';

/** App processes started as `npm start` does, on one fresh Postgres database and one shared data folder. */
export interface TestCluster {
  /** `postgres://…` of this cluster's own database. */
  databaseUrl: string;
  dataDir: string;
  /** The processes started so far (killed ones stay in the list). */
  procs: ServerProcess[];
  /** A client on the cluster's database, for the test's own queries. */
  sql: pg.Client;
  /** Starts one more process with the cluster's environment (plus `env`). */
  add(env?: Record<string, string>): Promise<ServerProcess>;
  /** Kills every process still running and drops the database. */
  stop(): Promise<void>;
}

/**
 * Creates a database on `server` and starts `n` app processes on it (in parallel), each with
 * `DATABASE_URL`, the shared `DATA_DIR`, a short lease (`CLUSTER_LEASE_MS` 3 s, renewed every
 * 0.5 s) and `env`.
 */
export async function startCluster(server: TestPostgres, n: number, env: Record<string, string> = {}): Promise<TestCluster> {
  const database = await createDatabase(server.url);
  const databaseUrl = database.url;
  const dataDir = tempDataDir();
  const sql = new pg.Client({ connectionString: databaseUrl });
  await sql.connect();
  const base = { DATABASE_URL: databaseUrl, DATA_DIR: dataDir, CLUSTER_LEASE_MS: '3000', CLUSTER_HEARTBEAT_MS: '500', ...env };
  const procs: ServerProcess[] = [];
  const add = async (more: Record<string, string> = {}) => {
    const p = await startServer({ ...base, ...more });
    procs.push(p);
    return p;
  };
  await Promise.all(Array.from({ length: n }, () => add()));
  return {
    databaseUrl,
    dataDir,
    procs,
    sql,
    add,
    async stop() {
      for (const p of procs) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
      await Promise.all(procs.map((p) => p.exited));
      await sql.end().catch(() => {});
      await database.drop();
    },
  };
}
