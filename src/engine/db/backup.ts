/**
 * Backups of a data directory: one `.tar.gz` holding a consistent copy of the SQLite database and
 * every bot's docs folder, and the way back. `npm run backup` and `npm run restore` (src/cli/) call
 * these.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import * as tar from 'tar';
import { lockDataDir } from './data-dir-lock.ts';

/** The database's file name inside `DATA_DIR` and inside an archive. */
export const DB_FILE = 'openorchestrator.db';
/** The folder of the bots' docs inside `DATA_DIR` and inside an archive. */
export const BOTS_DIR = 'bots';
/**
 * The bots' secrets inside `DATA_DIR` (engine/bot-secrets.ts). Never put in an archive: a backup
 * is a file that gets copied and kept around, and secrets stay on the machine that has them
 * (after a restore elsewhere, set them again). A forced restore moves them aside with the rest,
 * so a restored bot never gets the secrets of another bot that had its id.
 */
export const BOT_SECRETS_DIR = path.join('secrets', 'bots');

/** A backup or restore that cannot be done; the message says why and what to do. */
export class BackupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackupError';
  }
}

/** What a backup or a restore holds. */
export interface BackupSummary {
  /** The archive's absolute path. */
  file: string;
  /** Its size in bytes. */
  bytes: number;
  bots: number;
  runs: number;
}

/**
 * Writes `outFile` (a gzipped tar): `openorchestrator.db`, copied with SQLite's online backup API
 * (https://www.sqlite.org/backup.html, better-sqlite3's `db.backup()`), so the copy is one
 * consistent state even while the app keeps writing; then `bots/<id>/…`, the docs folders as they
 * are. The bots' secrets are left out ({@link BOT_SECRETS_DIR}). The app may keep running. The archive appears only once complete (written as `.partial`
 * first).
 * @throws {BackupError} when `dataDir` holds no database or the copy fails its integrity check.
 */
export async function createBackup(dataDir: string, outFile: string): Promise<BackupSummary> {
  const dbFile = path.join(dataDir, DB_FILE);
  if (!fs.existsSync(dbFile)) throw new BackupError(`No database at ${dbFile}: is DATA_DIR right?`);
  const file = path.resolve(outFile);
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'oo-backup-'));
  try {
    const live = new Database(dbFile, { fileMustExist: true });
    try {
      live.pragma('busy_timeout = 5000');
      await live.backup(path.join(staging, DB_FILE));
    } finally {
      live.close();
    }
    const counts = checkDatabase(path.join(staging, DB_FILE));
    // The copy sits in staging, the docs in DATA_DIR: the copy goes in as a small tar of its own,
    // which node-tar appends entry by entry (an `@archive` entry).
    const dbTar = path.join(staging, 'db.tar');
    await tar.c({ cwd: staging, file: dbTar, portable: true }, [DB_FILE]);
    const entries = [`@${dbTar}`];
    if (fs.existsSync(path.join(dataDir, BOTS_DIR))) entries.push(BOTS_DIR);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const partial = `${file}.partial`;
    await tar.c({ cwd: dataDir, file: partial, gzip: true, portable: true }, entries);
    fs.renameSync(partial, file);
    return { file, bytes: fs.statSync(file).size, ...counts };
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * Unpacks a {@link createBackup} archive into `dataDir` and points each bot at its docs folder
 * there (`docs_path` is absolute, so a backup restores to any path). Takes the data directory's
 * lock for the time: the app must be stopped. A data directory that already holds a database is
 * refused, unless `force`, which first moves its database, docs and bot secrets to
 * `before-restore-<time>/` inside it.
 * @throws {DataDirLockedError} while an app uses `dataDir`.
 * @throws {BackupError} when the archive is not a backup or `dataDir` is not empty (without `force`).
 */
export async function restoreBackup(archive: string, dataDir: string, opts: { force?: boolean } = {}): Promise<BackupSummary> {
  const file = path.resolve(archive);
  if (!fs.existsSync(file)) throw new BackupError(`No archive at ${file}.`);
  const names: string[] = [];
  await tar.t({ file, onReadEntry: (e) => void names.push(e.path) });
  if (!names.includes(DB_FILE)) throw new BackupError(`${file} holds no ${DB_FILE}: it is not an openOrchestrator backup.`);

  const release = lockDataDir(dataDir);
  try {
    const present = [DB_FILE, `${DB_FILE}-wal`, `${DB_FILE}-shm`, BOTS_DIR, BOT_SECRETS_DIR].filter((n) => fs.existsSync(path.join(dataDir, n)));
    if (present.length > 0) {
      if (!opts.force) throw new BackupError(`${dataDir} already holds a database: restore into an empty DATA_DIR, or pass --force to move the current one aside first.`);
      const aside = path.join(dataDir, `before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`);
      fs.mkdirSync(aside);
      for (const n of present) {
        fs.mkdirSync(path.dirname(path.join(aside, n)), { recursive: true, mode: 0o700 });
        fs.renameSync(path.join(dataDir, n), path.join(aside, n));
      }
    }
    // node-tar keeps every entry inside `cwd` (no absolute paths, no `..`).
    await tar.x({ file, cwd: dataDir, strict: true, filter: (p) => p === DB_FILE || p === BOTS_DIR || p.startsWith(`${BOTS_DIR}/`) });
    const db = new Database(path.join(dataDir, DB_FILE), { fileMustExist: true });
    try {
      const bots = db.prepare('SELECT id FROM bots').all() as { id: number }[];
      const setPath = db.prepare('UPDATE bots SET docs_path = ? WHERE id = ?');
      db.transaction(() => {
        for (const { id } of bots) {
          const docs = path.join(path.resolve(dataDir), BOTS_DIR, String(id));
          fs.mkdirSync(docs, { recursive: true });
          setPath.run(docs, id);
        }
      })();
    } finally {
      db.close();
    }
    return { file, bytes: fs.statSync(file).size, ...checkDatabase(path.join(dataDir, DB_FILE)) };
  } finally {
    release();
  }
}

/** Runs SQLite's `quick_check` on a database file and counts its bots and runs. @throws {BackupError} when it fails. */
function checkDatabase(dbFile: string): { bots: number; runs: number } {
  const db = new Database(dbFile, { fileMustExist: true });
  try {
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new BackupError(`The database copy fails SQLite's integrity check: ${String(check)}`);
    const n = (table: string) => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    return { bots: n('bots'), runs: n('runs') };
  } finally {
    db.close();
  }
}
