/**
 * `npm run backup [-- --out FILE]`: writes a backup of DATA_DIR (read from the environment and
 * `.env`, as `npm start` does) to FILE, by default `backups/openorchestrator-<UTC time>.tar.gz`
 * under the working directory. The app may keep running. Prints one line; exits 1 on failure.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, withEnvFile } from '../config.ts';
import { createBackup } from '../engine/db/backup.ts';

try {
  const { values } = parseArgs({ options: { out: { type: 'string', short: 'o' } } });
  const config = loadConfig(withEnvFile(process.env));
  if (config.databaseUrl) throw new Error('DATABASE_URL is set: the data is in Postgres; back up it with pg_dump/pg_restore (and the DATA_DIR volume with your volume tooling). npm run backup handles the SQLite data folder only.');
  const stamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
  const out = values.out ?? path.join('backups', `openorchestrator-${stamp}.tar.gz`);
  const s = await createBackup(config.dataDir, out);
  console.log(`Backup of ${config.dataDir} written to ${s.file} (${(s.bytes / 1024).toFixed(1)} KiB: ${s.bots} bots, ${s.runs} runs, and their docs folders)`);
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
}
