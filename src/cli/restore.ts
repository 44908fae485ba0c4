/**
 * `npm run restore -- FILE [--force]`: unpacks a backup from `npm run backup` into DATA_DIR (read
 * from the environment and `.env`, as `npm start` does). Stop the app first. A DATA_DIR that
 * already holds a database is refused unless `--force`, which moves it aside first. Prints one
 * line; exits 1 on failure.
 */
import { parseArgs } from 'node:util';
import { loadConfig, withEnvFile } from '../config.ts';
import { restoreBackup } from '../engine/db/backup.ts';

try {
  const { values, positionals } = parseArgs({ options: { force: { type: 'boolean', default: false } }, allowPositionals: true });
  if (positionals.length !== 1) throw new Error('Usage: npm run restore -- <backup.tar.gz> [--force]');
  const config = loadConfig(withEnvFile(process.env));
  if (config.databaseUrl) throw new Error('DATABASE_URL is set: the data is in Postgres; restore it with pg_dump/pg_restore (and the DATA_DIR volume with your volume tooling). npm run restore handles the SQLite data folder only.');
  const s = await restoreBackup(positionals[0]!, config.dataDir, { force: values.force });
  console.log(`Restored ${s.file} into ${config.dataDir} (${s.bots} bots, ${s.runs} runs): start the app with npm start`);
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
}
