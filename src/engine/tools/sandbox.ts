/**
 * Node's permission model (https://nodejs.org/api/permissions.html) around the processes that do a
 * bot's work: the run's child process and the `run_code` processes. Parent side only (imports
 * esbuild); the child never loads this file.
 *
 * - Run child: may read only its own bundled code and its bot's docs folder, may write only in the
 *   docs folder; no child processes, no worker threads, no native addons. Its environment is empty
 *   (provider keys arrive in the `start` message, nothing else of the server's environment does).
 * - run_code: may read and write only the docs folder; no child processes or workers; heap-limited;
 *   killed at the time limit. It is spawned by the parent on the child's request, so the run child
 *   itself never needs `--allow-child-process` (which would let any process it starts escape).
 *   Where util-linux `prlimit` exists, the kernel limits it too (CPU seconds and data size, see
 *   {@link osLimits}), so neither off-heap memory nor a parent that died lets it run on.
 *
 * The permission model does not restrict the network: run_code gets an empty network namespace
 * through `unshare -rn` where the kernel allows it (see `unshare()`); the run child keeps the
 * network, which it needs for the model provider, and web_fetch checks addresses itself.
 * Symlinks already in the folder are followed by Node (documented limitation), so the file tools
 * check real paths themselves; creating
 * symlinks is refused under the model.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import type { CodeOutcome } from '../runner/protocol.ts';
import { CODE_LIMITS } from './code.ts';

/** `--permission` where Node has it (22.13+), else Node 20's `--experimental-permission`. */
export const PERMISSION_FLAG = process.allowedNodeEnvironmentFlags.has('--permission') ? '--permission' : '--experimental-permission';
/** Keeps "Permission is an experimental feature" out of every run log. */
const QUIET = process.allowedNodeEnvironmentFlags.has('--disable-warning') ? ['--disable-warning=ExperimentalWarning'] : [];

/** Where util-linux `prlimit` may be; looked up by path since run_code gets an empty environment. */
const PRLIMIT_PATHS = ['/usr/bin/prlimit', '/bin/prlimit', '/usr/local/bin/prlimit', '/usr/sbin/prlimit', '/sbin/prlimit'];
let prlimitPath: string | null | undefined;

/** The `prlimit` binary, or null (then a warning is emitted, once per process). */
function prlimit(): string | null {
  if (prlimitPath === undefined) {
    prlimitPath = PRLIMIT_PATHS.find((p) => fs.existsSync(p)) ?? null;
    if (!prlimitPath) {
      process.emitWarning('prlimit (util-linux) not found: run_code runs without OS limits on CPU time and memory outside the JavaScript heap', { code: 'OO_NO_PRLIMIT' });
    }
  }
  return prlimitPath;
}

const UNSHARE_PATHS = ['/usr/bin/unshare', '/bin/unshare'];
let unsharePath: string | null | undefined;

/**
 * `unshare` when it can give run_code a network namespace of its own (no interfaces but a downed
 * loopback: no way to this app's API on 127.0.0.1 or to anything else), else null with a warning,
 * once per process. `-r` maps the caller to root in a new user namespace, so no privilege is
 * needed where user namespaces are allowed; probed once by running `unshare -rn true`.
 */
function unshare(): string | null {
  if (unsharePath === undefined) {
    const found = UNSHARE_PATHS.find((p) => fs.existsSync(p));
    unsharePath = found && spawnSync(found, ['-rn', 'true'], { stdio: 'ignore', timeout: 5000 }).status === 0 ? found : null;
    if (!unsharePath) {
      process.emitWarning('unshare (util-linux) cannot create a network namespace here: run_code can reach the network, this app on 127.0.0.1 included', { code: 'OO_NO_UNSHARE' });
    }
  }
  return unsharePath;
}

/**
 * The `prlimit` options for one run_code process.
 *
 * - `--cpu`: RLIMIT_CPU one second above the time limit (soft: SIGXCPU, which ends Node; hard one
 *   second later: SIGKILL). The parent's timer normally kills first; the kernel ends a busy loop
 *   even when the parent crashed and no timer is left.
 * - `--data`: RLIMIT_DATA, which since Linux 4.7 counts private writable mappings: the V8 heap's
 *   committed pages, ArrayBuffer/Buffer memory (off the V8 heap, so `--max-old-space-size` does not
 *   see it) and thread stacks. Not RLIMIT_AS: V8 reserves large inaccessible address ranges (the
 *   pointer cage, WebAssembly guard regions) that count against AS but hold no memory. The heap
 *   limit plus 256 MB leaves room for the young generation, code and threads; measured with Node 20,
 *   much less (≤ 32 MB) makes Node hang while starting its threads, under 192 MB a 128 MB heap
 *   cannot fill up before the data limit fails it.
 */
export function osLimits(limits: { timeoutMs: number; memoryMb: number }): string[] {
  const cpuS = Math.ceil(limits.timeoutMs / 1000) + 1;
  return [`--cpu=${cpuS}:${cpuS + 1}`, `--data=${(limits.memoryMb + 256) * 1024 * 1024}`];
}

const CHILD_SOURCE = fileURLToPath(new URL('../runner/child' + (import.meta.url.endsWith('.ts') ? '.ts' : '.js'), import.meta.url));
let bundled: string | undefined;

/**
 * The run child as one self-contained ES module file, built once per process with esbuild from
 * `runner/child.ts` and its dependencies. One file is what lets the child run with reads limited
 * to it: no TypeScript loader (tsx needs worker threads and spawns esbuild), no node_modules.
 * The file is named by its content's hash in a private folder of this user under the temp dir,
 * so processes running the same code share it; copies older than a day are removed.
 */
export function runChildModule(): string {
  if (bundled && fs.existsSync(bundled)) return bundled;
  const built = esbuild.buildSync({
    entryPoints: [CHILD_SOURCE],
    outfile: 'run-child.mjs',
    write: false,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: `node${process.versions.node.split('.')[0]}`,
    // linkedom's optional canvas support; absent, it falls back.
    external: ['canvas'],
    // Bundled CommonJS packages call require(); an ES module has none of its own.
    banner: { js: "import { createRequire as __ooRequire } from 'node:module'; const require = __ooRequire(import.meta.url);" },
    logLevel: 'error',
  });
  const code = built.outputFiles[0]!.contents;
  const dir = privateDir(path.join(os.tmpdir(), `openorchestrator-${process.getuid?.() ?? 'user'}`));
  const file = path.join(dir, `run-child-${createHash('sha256').update(code).digest('hex').slice(0, 16)}.mjs`);
  if (!fs.existsSync(file)) {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, code, { mode: 0o600 });
    fs.renameSync(tmp, file);
  }
  for (const old of fs.readdirSync(dir)) {
    const p = path.join(dir, old);
    if (p !== file && /^run-child-/.test(old) && Date.now() - (fs.statSync(p, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > 86_400_000) fs.rmSync(p, { force: true });
  }
  bundled = file;
  return file;
}

/**
 * Creates `dir` (mode 0700) or checks that it is a real folder owned by this user, not a link
 * someone else planted in a shared temp dir.
 * @returns its real path (the permission model compares paths as given; macOS /var is a symlink).
 */
function privateDir(dir: string): string {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(dir);
  if (!st.isDirectory() || (process.getuid && st.uid !== process.getuid())) throw new Error(`${dir} is not a private folder of this user`);
  fs.chmodSync(dir, 0o700);
  return fs.realpathSync(dir);
}

/** How to fork a run's child: the module to run and the Node flags that confine it to `docsPath`. */
export function runChildLaunch(docsPath: string): { modulePath: string; execArgv: string[] } {
  const modulePath = runChildModule();
  return {
    modulePath,
    execArgv: [PERMISSION_FLAG, ...QUIET, `--allow-fs-read=${modulePath}`, `--allow-fs-read=${docsPath}`, `--allow-fs-write=${docsPath}`],
  };
}

/**
 * Runs JavaScript in a fresh Node process: working directory and only readable and writable place
 * `docsPath`, no child processes or workers, heap at most `memoryMb`, SIGKILL after `timeoutMs`;
 * under `prlimit` also at most `memoryMb` + 256 MB of data in all and `timeoutMs` + 1 s of CPU.
 * The source arrives on stdin (CommonJS, or an ES module when it has import/export statements).
 * stdout and stderr are kept up to `outputChars` characters each. `signal` kills it early (the
 * run ended). Never rejects.
 */
export function runSandboxedCode(
  source: string,
  docsPath: string,
  opts: { signal?: AbortSignal; timeoutMs?: number; memoryMb?: number; outputChars?: number } = {},
): Promise<CodeOutcome> {
  const limits = { timeoutMs: opts.timeoutMs ?? CODE_LIMITS.timeoutMs, memoryMb: opts.memoryMb ?? CODE_LIMITS.memoryMb, outputChars: opts.outputChars ?? CODE_LIMITS.outputChars };
  const started = Date.now();
  const esm = /^\s*(import\s+[\w{*'"]|export\s)/m.test(source);
  const wrapper = prlimit();
  const nodeArgs = [
    PERMISSION_FLAG,
    ...QUIET,
    `--allow-fs-read=${docsPath}`,
    `--allow-fs-write=${docsPath}`,
    `--max-old-space-size=${limits.memoryMb}`,
    `--input-type=${esm ? 'module' : 'commonjs'}`,
    '-',
  ];
  // unshare and prlimit each set up the process and exec the next: one pid, so kill() below still
  // reaches Node.
  const netns = unshare();
  const command = [
    ...(netns ? [netns, '-rn', '--'] : []),
    ...(wrapper ? [wrapper, ...osLimits(limits), '--'] : []),
    process.execPath,
    ...nodeArgs,
  ];
  const child = spawn(command[0]!, command.slice(1), { cwd: docsPath, env: {}, stdio: ['pipe', 'pipe', 'pipe'] });
  const collect = () => {
    let text = '';
    let dropped = 0;
    return {
      push(chunk: Buffer) {
        const s = chunk.toString('utf8');
        const room = limits.outputChars - text.length;
        if (room > 0) text += s.slice(0, room);
        dropped += Math.max(0, s.length - Math.max(room, 0));
      },
      get value() {
        return dropped > 0 ? `${text}\n[… truncated: ${dropped} more characters]` : text;
      },
    };
  };
  const stdout = collect();
  const stderr = collect();
  child.stdout.on('data', (c: Buffer) => stdout.push(c));
  child.stderr.on('data', (c: Buffer) => stderr.push(c));
  child.stdin.on('error', () => {});
  child.stdin.end(source);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, limits.timeoutMs);
  const stop = () => child.kill('SIGKILL');
  if (opts.signal?.aborted) stop();
  opts.signal?.addEventListener('abort', stop, { once: true });
  return new Promise((resolve) => {
    const done = (exitCode: number | null, signal: string | null, extra = '') => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', stop);
      // SIGXCPU: the kernel's CPU limit came before the timer (GC threads count too); same limit.
      resolve({ exitCode, signal, timedOut: timedOut || signal === 'SIGXCPU', stdout: stdout.value, stderr: stderr.value + extra, durationMs: Date.now() - started });
    };
    child.once('error', (err) => done(null, null, `could not start: ${err.message}`));
    child.once('close', (code, signal) => done(code, signal));
  });
}
