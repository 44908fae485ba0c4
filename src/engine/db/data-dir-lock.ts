import fs from 'node:fs';
import path from 'node:path';

/** Another live process holds the data directory. */
export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(`DATA_DIR ${dataDir} is in use by another openOrchestrator process (pid ${pid}): stop it first, or give this one another DATA_DIR.`);
    this.name = 'DataDirLockedError';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes `<dataDir>/openorchestrator.lock` for this process: one process per data directory, so
 * that the start-up recovery (runs left `running` become `interrupted`) never touches runs that
 * another live process owns. A lock left by a process that is gone (a crash) is taken over.
 * @returns the function that releases the lock.
 * @throws {DataDirLockedError} when another live process holds it.
 */
export function lockDataDir(dataDir: string): () => void {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, 'openorchestrator.lock');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => {
        try {
          if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.unlinkSync(file);
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number.parseInt(fs.readFileSync(file, 'utf8').trim(), 10);
      // This very process (a second engine in one process, as tests do) or a dead one: take over.
      if (Number.isSafeInteger(holder) && holder !== process.pid && alive(holder)) throw new DataDirLockedError(dataDir, holder);
      fs.rmSync(file, { force: true });
    }
  }
  throw new Error(`Could not take the lock in ${dataDir}`);
}
