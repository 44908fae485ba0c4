import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Another live process holds the data directory. The message names the lock file to delete if it is gone. */
export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
    readonly host: string | undefined,
    readonly lockFile: string,
  ) {
    super(
      host
        ? `DATA_DIR ${dataDir} is in use by an openOrchestrator process on host ${host} (pid ${pid}): stop it first; if it is gone, delete ${lockFile}.`
        : `DATA_DIR ${dataDir} is in use by another openOrchestrator process (pid ${pid}): stop it first, or give this one another DATA_DIR; if it is gone, delete ${lockFile}.`,
    );
    this.name = 'DataDirLockedError';
  }
}

/** What a lock file says: `<pid>@<hostname>`, then optionally a line `start <ticks>`. */
interface Holder {
  pid: number;
  host: string;
  /** The holder's start time (see {@link startTime}); absent in lock files of older versions. */
  start?: string;
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
 * When process `pid` started, in clock ticks since boot: field 22 of `/proc/<pid>/stat`
 * (proc(5)), read after the command name, which is in parentheses and may hold spaces. Together
 * with the pid it names one process for the life of the machine, so a pid reused by another
 * program is told apart. `undefined` where there is no /proc (not Linux) or no such process.
 */
export function startTime(pid: number | 'self'): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Reads the lock file; waits briefly while its writer has created but not yet written it. */
function readHolder(file: string): Holder | null {
  for (let i = 0; i < 20; i++) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8').trim();
    } catch {
      return null;
    }
    if (text) {
      const [first = '', ...rest] = text.split('\n');
      const [pid, ...host] = first.trim().split('@');
      const start = rest.map((l) => /^start (\d+)$/.exec(l.trim())?.[1]).find(Boolean);
      return { pid: Number.parseInt(pid ?? '', 10), host: host.join('@'), ...(start ? { start } : {}) };
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  }
  return null;
}

/**
 * `true` when the lock's process still runs: its pid is alive and, where the lock records a start
 * time and /proc tells one, it is the very process that wrote the lock, not another program that
 * got the pid later (a crash, then a reboot or a busy machine).
 */
function holderRuns(holder: Holder): boolean {
  if (!alive(holder.pid)) return false;
  const now = holder.start ? startTime(holder.pid) : undefined;
  return now === undefined || now === holder.start;
}

/**
 * Takes `<dataDir>/openorchestrator.lock` for this process: one process per data directory, so
 * that the start-up recovery (runs left `running` become `interrupted`) never touches runs that
 * another live process owns. The file holds `<pid>@<hostname>` and, on Linux, `start <ticks>` (the
 * process's start time, see {@link startTime}). A lock of this host is taken over when its process
 * is gone (a crash), when its pid now belongs to another process (start times differ), or when it
 * names this very process (a second engine in one process, as tests do; a restarted container
 * whose node is pid 1 again). A lock of another host (another container on a shared volume) is
 * never taken over: its process cannot be checked from here; the error names the file to delete.
 * @returns the function that releases the lock.
 * @throws {DataDirLockedError} when another live process holds it.
 */
export function lockDataDir(dataDir: string): () => void {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, 'openorchestrator.lock');
  const start = startTime('self');
  const me = `${process.pid}@${os.hostname()}${start ? `\nstart ${start}` : ''}`;
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
        if (holder.pid !== process.pid && holderRuns(holder)) throw new DataDirLockedError(dataDir, holder.pid, undefined, file);
      }
      fs.rmSync(file, { force: true });
    }
  }
  throw new Error(`Could not take the lock in ${dataDir}`);
}
