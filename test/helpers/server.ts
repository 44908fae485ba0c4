import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';

/** The app started as `npm start` does, in its own process. */
export interface Server {
  proc: ChildProcess;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Settles with the exit code when the process has exited. */
  exited: Promise<number | null>;
}

/** Starts `node --import tsx src/main.ts` with `env` (PORT 0); resolves once it listens. */
export function startServer(env: Record<string, string>): Promise<Server> {
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
      if (m) resolve({ proc, url: m[1]!, exited });
    });
    void exited.then((code) => reject(new Error(`server exited (${code}) before listening: ${stderr}`)));
  });
}

/** A JSON request; resolves with the status and the parsed body. */
export async function json(url: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { ...init, headers: { 'content-type': 'application/json', ...init?.headers } });
  return { status: res.status, body: await res.json() };
}
