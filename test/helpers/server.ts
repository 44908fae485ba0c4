import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import readline from 'node:readline';
import { testDatabase } from './test-database.ts';

/** The app started as `npm start` does, in a process of its own. */
export interface ServerProcess {
  proc: ChildProcess;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Resolves with the exit code (null after a signal). */
  exited: Promise<number | null>;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
}

/**
 * Starts `node --import tsx src/main.ts` with `env` (on top of PATH, PORT=0 and LOG_LEVEL=info);
 * resolves once it logs that it listens, rejects if it exits first. With TEST_DATABASE=postgres it
 * gets the database of its DATA_DIR (as test apps on that dir do) unless `env` names one.
 */
export async function startServer(env: Record<string, string>): Promise<ServerProcess> {
  const database = env.DATA_DIR && !('DATABASE_URL' in env) ? await testDatabase(env.DATA_DIR) : null;
  if (database) env = { ...env, DATABASE_URL: database.url };
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { PATH: process.env.PATH!, PORT: '0', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    let stderr = '';
    proc.stderr!.on('data', (d) => (stderr += d));
    readline.createInterface({ input: proc.stdout! }).on('line', (line) => {
      const m = /running on (http:\/\/[^"\s]+)/.exec(line);
      if (m) resolve({ proc, url: m[1]!, exited, stderr: () => stderr });
    });
    void exited.then((code) => reject(new Error(`server exited (${code}) before listening: ${stderr}`)));
  });
}

/** JSON request; resolves with status and parsed body. */
export async function json(url: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { ...init, headers: { 'content-type': 'application/json', ...init?.headers } });
  const text = await res.text();
  let body: any = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // not JSON
  }
  return { status: res.status, body };
}

/** Every descendant of `pid` (children, their children, …), read from /proc. */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const walk = (p: number) => {
    let tasks: string[] = [];
    try {
      tasks = fs.readdirSync(`/proc/${p}/task`);
    } catch {
      return; // gone
    }
    for (const t of tasks) {
      let kids = '';
      try {
        kids = fs.readFileSync(`/proc/${p}/task/${t}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const k of kids.trim().split(/\s+/).filter(Boolean).map(Number)) {
        out.push(k);
        walk(k);
      }
    }
  };
  walk(pid);
  return out;
}

/** `true` while `pid` is a live process: exists and is not a zombie waiting to be reaped. */
export function running(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** A process's command line, or '' when it is gone. */
export function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}
