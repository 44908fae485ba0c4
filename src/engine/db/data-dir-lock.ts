import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Another live process holds the data directory. */
export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
    readonly host?: string,
    lockFile?: string,
  ) {
    super(
      host
        ? `DATA_DIR ${dataDir} is in use by an openOrchestrator process on host ${host} (pid ${pid}): stop it first; if it is gone, delete ${lockFile}.`
        : `DATA_DIR ${dataDir} is in use by another openOrchestrator process (pid ${pid}): stop it first, or give this one another DATA_DIR.`,
    );
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

/** Reads the lock file as `{pid, host}`; waits briefly while its writer has created but not yet written it. */
function readHolder(file: string): { pid: number; host: string } | null {
  for (let i = 0; i < 20; i++) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8').trim();
    } catch {
      return null;
    }
    if (text) {
      const [pid, ...host] = text.split('@');
      return { pid: Number.parseInt(pid ?? '', 10), host: host.join('@') };
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  }
  return null;
}

/**
 * Takes `<dataDir>/openorchestrator.lock` (`<pid>@<hostname>`) for this process: one process per
 * data directory, so that the start-up recovery (runs left `running` become `interrupted`) never
 * touches runs that another live process owns. A lock of this host whose process is gone (a
 * crash), or that names this very process (a second engine in one process, as tests do; a
 * restarted container whose node is pid 1 again), is taken over. A lock of another host (another
 * container on a shared volume) is never taken over: its process cannot be checked from here.
 * @returns the function that releases the lock.
 * @throws {DataDirLockedError} when another live process holds it.
 */
export function lockDataDir(dataDir: string): () => void {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, 'openorchestrator.lock');
  const me = `${process.pid}@${os.hostname()}`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, me, { flag: 'wx' });
      return () => {
        try {
          if (fs.readFileSync(file, 'utf8').trim() === me) fs.unlinkSync(file);
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readHolder(file);
      if (holder && Number.isSafeInteger(holder.pid)) {
        if (holder.host && holder.host !== os.hostname()) throw new DataDirLockedError(dataDir, holder.pid, holder.host, file);
        if (holder.pid !== process.pid && alive(holder.pid)) throw new DataDirLockedError(dataDir, holder.pid);
      }
      fs.rmSync(file, { force: true });
    }
  }
  throw new Error(`Could not take the lock in ${dataDir}`);
}
