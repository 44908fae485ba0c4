/**
 * The confinement of the processes that do a bot's work: the run's child process and the
 * `run_code` processes. Parent side only (imports esbuild); the child never loads this file.
 *
 * - Run child: Node's permission model (https://nodejs.org/api/permissions.html): may read only
 *   its own bundled code and its bot's docs folder, may write only in the docs folder; no child
 *   processes, no worker threads, no native addons. Its environment is empty (provider keys arrive
 *   in the `start` message). It keeps the network, which it needs for the model provider;
 *   web_fetch checks addresses itself. It exits when its IPC channel to the server closes.
 * - run_code: a fresh Node process inside bubblewrap (https://github.com/containers/bubblewrap,
 *   see {@link CodeSandbox}): its own user, PID, mount, network, IPC, UTS and cgroup namespaces, a
 *   read-only root holding nothing but the Node runtime (the binary and the system library
 *   folders), the bot's docs folder bound read-write, no capabilities, a new session, and killed
 *   by the kernel when the server dies (`--die-with-parent`; bwrap is the namespace's init, so all
 *   of it goes). Inside, the permission model still applies (docs folder only, no child
 *   processes), the heap is limited, the parent kills it at the time limit and, where util-linux
 *   `prlimit` exists, the kernel limits CPU seconds and data size (see {@link osLimits}). A
 *   symlink planted in the folder resolves inside the sandbox's mount namespace, where nothing
 *   of the host but the runtime exists. Where bubblewrap is missing or the kernel refuses the
 *   namespaces, run_code is off and says why; it never runs less confined.
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
  return storeBundle(esbuild.buildSync(CHILD_BUILD).outputFiles[0]!.contents);
}

/**
 * Builds the run child's bundle off the event loop (esbuild's async API runs in its own
 * process), so the first run does not stall the server for the ~1–2 s a `buildSync` takes. Call
 * at start; `runChildModule` uses what it built, or builds itself when called first.
 * @returns the bundle's path.
 */
export async function prepareRunChildModule(): Promise<string> {
  if (bundled && fs.existsSync(bundled)) return bundled;
  const built = await esbuild.build(CHILD_BUILD);
  return bundled && fs.existsSync(bundled) ? bundled : storeBundle(built.outputFiles[0]!.contents);
}

/** How the run child is bundled: one ES module file, nothing written by esbuild itself. */
const CHILD_BUILD = {
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
} satisfies esbuild.BuildOptions & { write: false };

/** Writes the bundle under its content hash in this user's private folder; drops day-old copies. */
function storeBundle(code: Uint8Array): string {
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

/** Where bubblewrap may be, looked up in order when `BWRAP_PATH` is not set. */
export const BWRAP_PATHS = ['/usr/bin/bwrap', '/bin/bwrap', '/usr/local/bin/bwrap'];

/** System library folders bound read-only (or recreated as the symlinks they are) for the Node runtime. */
const LIBRARY_DIRS = ['/usr/lib', '/usr/lib64', '/usr/lib32', '/usr/libx32', '/lib', '/lib64', '/lib32', '/libx32'];

/**
 * Whether run_code can be confined here, and how. `withProc`: a private /proc of the sandbox's PID
 * namespace is mounted (where the kernel refuses that, as under Docker's masked /proc, the sandbox
 * has no /proc at all: it sees no process, and `process.memoryUsage()` fails).
 */
export type CodeSandboxStatus = { available: true; bwrap: string; withProc: boolean } | { available: false; reason: string };

/** Limits of one run_code process; each defaults to {@link CODE_LIMITS}. */
export interface CodeRunOptions {
  /** Kills it early (the run ended). */
  signal?: AbortSignal;
  /** Wall time, in ms. */
  timeoutMs?: number;
  /** V8 heap, in MB. */
  memoryMb?: number;
  /** Characters kept of stdout and of stderr, each. */
  outputChars?: number;
}

/** The message a model (and the log) gets for run_code where bubblewrap cannot confine it. */
export function codeSandboxOffMessage(reason: string): string {
  return `run_code is off on this server: ${reason}. It runs only inside bubblewrap (Debian package "bubblewrap") on a kernel that lets this user create namespaces; see the README, "Isolation".`;
}

/**
 * Runs `run_code` programs inside bubblewrap (see the file comment for what the sandbox holds).
 * One per engine; {@link status} probes once, by starting Node in a sandbox around an empty temp
 * folder with the exact arguments real runs use.
 */
export class CodeSandbox {
  private probed: CodeSandboxStatus | undefined;
  private runtime: ReturnType<typeof runtimeMounts> = { mounts: [], node: process.execPath, disableUserns: false };

  /** @param opts.bwrapPath the bwrap binary (`BWRAP_PATH`); default: the first of {@link BWRAP_PATHS}. */
  constructor(private readonly opts: { bwrapPath?: string } = {}) {}

  /** Whether run_code can run here; probed on the first call (about 0.1 s), then cached. */
  status(): CodeSandboxStatus {
    this.probed ??= this.probe();
    return this.probed;
  }

  private probe(): CodeSandboxStatus {
    const bwrap = this.opts.bwrapPath ?? BWRAP_PATHS.find((p) => fs.existsSync(p));
    if (!bwrap) return { available: false, reason: `bubblewrap (bwrap) is not installed (looked for ${BWRAP_PATHS.join(', ')}; set BWRAP_PATH if it is elsewhere)` };
    if (!fs.existsSync(bwrap)) return { available: false, reason: `BWRAP_PATH ${bwrap} does not exist` };
    this.runtime = runtimeMounts(bwrap);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oo-sandbox-probe-'));
    try {
      let first = '';
      for (const withProc of [true, false]) {
        const res = spawnSync(bwrap, [...this.bwrapArgs(fs.realpathSync(dir), withProc), '--', this.runtime.node, '-e', 'process.exit(0)'], { env: {}, encoding: 'utf8', timeout: 30_000 });
        if (res.status === 0) return { available: true, bwrap, withProc };
        first ||= (res.error?.message ?? res.stderr.trim().split('\n')[0]) || `exit code ${res.status ?? res.signal}`;
      }
      return { available: false, reason: `bwrap cannot create the sandbox here (${first})` };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  /** bwrap's options for a sandbox around `docsPath` (a real path). */
  private bwrapArgs(docsPath: string, withProc: boolean): string[] {
    return [
      '--die-with-parent',
      '--unshare-all',
      // --unshare-all only tries the user namespace; without it there is no sandbox, so insist.
      '--unshare-user',
      ...(this.runtime.disableUserns ? ['--disable-userns'] : []),
      '--new-session',
      '--cap-drop',
      'ALL',
      ...this.runtime.mounts,
      '--dev',
      '/dev',
      ...(withProc ? ['--proc', '/proc'] : []),
      '--bind',
      docsPath,
      docsPath,
      '--chdir',
      docsPath,
      // The root is bwrap's tmpfs: read-only too, so the docs folder is the one writable place.
      '--remount-ro',
      '/',
    ];
  }

  /**
   * Runs JavaScript in a fresh Node process in the sandbox: working directory and only readable
   * and writable place of the host `docsPath`, no network, no other process in sight, no child
   * processes or workers, heap at most `memoryMb`, SIGKILL after `timeoutMs`; under `prlimit` also
   * at most `memoryMb` + 256 MB of data in all and `timeoutMs` + 1 s of CPU. The source arrives on
   * stdin (CommonJS, or an ES module when it has import/export statements). stdout and stderr are
   * kept up to `outputChars` characters each.
   * @returns how it ended; never rejects for the program's sake.
   * @throws {Error} (rejects) with {@link codeSandboxOffMessage} when the sandbox is off here.
   */
  async run(source: string, docsPath: string, opts: CodeRunOptions = {}): Promise<CodeOutcome> {
    const status = this.status();
    if (!status.available) throw new Error(codeSandboxOffMessage(status.reason));
    const limits = { timeoutMs: opts.timeoutMs ?? CODE_LIMITS.timeoutMs, memoryMb: opts.memoryMb ?? CODE_LIMITS.memoryMb, outputChars: opts.outputChars ?? CODE_LIMITS.outputChars };
    const esm = /^\s*(import\s+[\w{*'"]|export\s)/m.test(source);
    const nodeArgs = [
      PERMISSION_FLAG,
      ...QUIET,
      `--allow-fs-read=${docsPath}`,
      `--allow-fs-write=${docsPath}`,
      `--max-old-space-size=${limits.memoryMb}`,
      `--input-type=${esm ? 'module' : 'commonjs'}`,
      '-',
    ];
    // prlimit sets the limits on itself and execs bwrap (one pid, so kill() below reaches bwrap,
    // whose death takes the whole sandbox); the limits are inherited by everything inside.
    const wrapper = prlimit();
    const command = [
      ...(wrapper ? [wrapper, ...osLimits(limits), '--'] : []),
      status.bwrap,
      ...this.bwrapArgs(docsPath, status.withProc),
      '--',
      this.runtime.node,
      ...nodeArgs,
    ];
    return spawnCode(command, source, docsPath, limits, opts.signal);
  }
}

/**
 * What the sandbox binds of the Node runtime, read-only: the system library folders (symlinks such
 * as merged-/usr's `/lib -> usr/lib` recreated as symlinks), the Node binary (real path), and the
 * folders of any other shared library this very Node has mapped (/proc/self/maps), for a Node
 * installed outside the system folders. Also whether this bwrap knows `--disable-userns` (0.8+).
 */
function runtimeMounts(bwrap: string): { mounts: string[]; node: string; disableUserns: boolean } {
  const mounts: string[] = [];
  const bound: string[] = [];
  const covered = (p: string) => bound.some((d) => p === d || p.startsWith(d + '/'));
  for (const dir of LIBRARY_DIRS) {
    const st = fs.lstatSync(dir, { throwIfNoEntry: false });
    if (st?.isSymbolicLink()) mounts.push('--symlink', fs.readlinkSync(dir), dir);
    else if (st?.isDirectory()) {
      mounts.push('--ro-bind', dir, dir);
      bound.push(dir);
    }
  }
  const node = fs.realpathSync(process.execPath);
  const extra = new Set<string>();
  if (!covered(node)) extra.add(node);
  let maps = '';
  try {
    maps = fs.readFileSync('/proc/self/maps', 'utf8');
  } catch {
    // not Linux: bwrap is not there either
  }
  for (const line of maps.split('\n')) {
    const file = line.slice(line.indexOf('/')).trim();
    if (!line.includes('/') || !/\.so(\.|$)/.test(path.basename(file)) || !fs.existsSync(file)) continue;
    const dir = path.dirname(fs.realpathSync(file));
    if (!covered(dir)) extra.add(dir);
  }
  for (const p of extra) mounts.push('--ro-bind', p, p);
  const disableUserns = spawnSync(bwrap, ['--help'], { encoding: 'utf8', timeout: 5000 }).stdout?.includes('--disable-userns') ?? false;
  return { mounts, node, disableUserns };
}

/** Spawns `command` with `source` on stdin and collects its outcome; see {@link CodeSandbox.run}. */
function spawnCode(command: string[], source: string, cwd: string, limits: Required<Omit<CodeRunOptions, 'signal'>>, signal: AbortSignal | undefined): Promise<CodeOutcome> {
  const started = Date.now();
  // Nothing of the server's environment; bwrap adds PWD (the docs folder) and nothing else.
  const child = spawn(command[0]!, command.slice(1), { cwd, env: {}, stdio: ['pipe', 'pipe', 'pipe'] });
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
  if (signal?.aborted) stop();
  signal?.addEventListener('abort', stop, { once: true });
  return new Promise((resolve) => {
    const done = (code: number | null, sig: string | null, extra = '') => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', stop);
      // bwrap exits with 128 + n when the program died of signal n.
      const died = code !== null && code > 128 ? Object.entries(os.constants.signals).find(([, n]) => n === code - 128)?.[0] : undefined;
      const exitCode = died ? null : code;
      const signalName = died ?? sig;
      // SIGXCPU: the kernel's CPU limit came before the timer (GC threads count too); same limit.
      resolve({ exitCode, signal: signalName, timedOut: timedOut || signalName === 'SIGXCPU', stdout: stdout.value, stderr: stderr.value + extra, durationMs: Date.now() - started });
    };
    child.once('error', (err) => done(null, null, `could not start: ${err.message}`));
    child.once('close', (code, sig) => done(code, sig));
  });
}
