import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from './fakes/openai.ts';
import { startTestApp, tempDataDir } from './helpers/app.ts';
import { cmdline, descendants, json, running, startServer, type ServerProcess } from './helpers/server.ts';
import { BWRAP_PATHS, CodeSandbox } from '../src/engine/tools/sandbox.ts';

/** The real bubblewrap (.ci/run installs it). */
const BWRAP = BWRAP_PATHS.find((p) => fs.existsSync(p))!;

/** A model turn that calls run_code with `source`. */
const callCode = (source: string) => ({ kind: 'tool_calls' as const, calls: [{ name: 'run_code', arguments: JSON.stringify({ language: 'javascript', source }) }] });

// What a bot's code could do to the server and the machine if the model asked for it: each attack
// from the issue, through a real server process whose model (a fake) calls run_code.
describe('the run_code sandbox (bubblewrap)', () => {
  let openai: FakeOpenAI;
  let server: ServerProcess;
  const spawned: ChildProcess[] = [];
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'oo-outside-'));
  const dataDirs: string[] = [];
  const dataDir = () => {
    dataDirs.push(tempDataDir());
    return dataDirs.at(-1)!;
  };
  beforeAll(async () => {
    openai = await startFakeOpenAI();
    server = await startServer({ DATA_DIR: dataDir(), OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: openai.baseURL });
    spawned.push(server.proc);
  }, 60_000);
  afterEach(() => {
    openai.requests.length = 0;
  });
  afterAll(async () => {
    for (const p of spawned) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await openai?.close();
    await Promise.all(spawned.map((p) => (p.exitCode === null && p.signalCode === null ? new Promise((r) => p.once('exit', r)) : null)));
    for (const d of [outside, ...dataDirs]) fs.rmSync(d, { recursive: true, force: true });
  });

  let n = 0;
  const newBot = async (url: string) => (await json(`${url}/api/bots`, { method: 'POST', body: JSON.stringify({ name: `Coder ${++n}`, prompt: 'Work.', model: 'openai:gpt-4.1-mini', tools: ['code'] }) })).body;
  const runToEnd = async (url: string, botId: number) => {
    const run = (await json(`${url}/api/bots/${botId}/run`, { method: 'POST', body: '{}' })).body;
    await expect.poll(async () => (await json(`${url}/api/runs/${run.id}`)).body.status, { timeout: 20_000 }).not.toMatch(/^(queued|running)$/);
    return (await json(`${url}/api/runs/${run.id}`)).body;
  };
  /** What run_code answered the model (the last request carries the whole conversation). */
  const codeReply = (): string => (openai.requests.at(-1)?.body.messages ?? []).find((m: any) => m.role === 'tool')?.content ?? '';
  /** The JSON line the program printed. */
  const printed = (reply: string) => JSON.parse(reply.split('\n--- stdout ---\n')[1]!.split('\n')[0]!);

  it('cannot signal the server, its parent, or any process outside the sandbox', async () => {
    const outsider = spawn('sleep', ['60']);
    spawned.push(outsider);
    const bot = await newBot(server.url);
    const source = `const r = {};
      for (const [name, pid] of [['parent', process.ppid], ['server', ${server.proc.pid}], ['outsider', ${outsider.pid}]]) {
        try { process.kill(pid, 'SIGKILL'); r[name] = 'sent'; } catch (e) { r[name] = e.code; }
      }
      console.log(JSON.stringify(r));`;
    openai.enqueue(callCode(source), { kind: 'text', text: 'done' });
    const run = await runToEnd(server.url, bot.id);
    expect(run.status).toBe('completed');
    // The parent inside is bwrap, the namespace's init: the kernel drops a SIGKILL to it from inside.
    expect(printed(codeReply())).toEqual({ parent: 'sent', server: 'ESRCH', outsider: 'ESRCH' });
    expect(server.proc.exitCode).toBeNull();
    expect(running(outsider.pid!)).toBe(true);
    expect((await json(`${server.url}/api/bots`)).status).toBe(200);
  }, 60_000);

  it('cannot read or write through symlinks planted in its folder: /etc/passwd, a folder outside, another bot’s folder', async () => {
    const bot = await newBot(server.url);
    const other = await newBot(server.url);
    fs.mkdirSync(other.docs_path, { recursive: true });
    fs.writeFileSync(path.join(other.docs_path, 'notes.md'), 'the other bot’s notes');
    fs.writeFileSync(path.join(outside, 'secret.txt'), 'outside secret');
    fs.mkdirSync(bot.docs_path, { recursive: true });
    fs.symlinkSync('/etc/passwd', path.join(bot.docs_path, 'passwd'));
    fs.symlinkSync(outside, path.join(bot.docs_path, 'out'));
    fs.symlinkSync(path.relative(bot.docs_path, other.docs_path), path.join(bot.docs_path, 'other'));
    const source = `const fs = require('fs'); const r = {};
      const attempt = (name, f) => { try { r[name] = f(); } catch (e) { r[name] = e.code; } };
      attempt('passwd', () => fs.readFileSync('passwd', 'utf8'));
      attempt('readOutside', () => fs.readFileSync('out/secret.txt', 'utf8'));
      attempt('listOutside', () => fs.readdirSync('out'));
      attempt('writeOutside', () => (fs.writeFileSync('out/planted.txt', 'x'), 'written'));
      attempt('readOther', () => fs.readFileSync('other/notes.md', 'utf8'));
      attempt('writeOther', () => (fs.writeFileSync('other/notes.md', 'overwritten'), 'written'));
      console.log(JSON.stringify(r));`;
    openai.enqueue(callCode(source), { kind: 'text', text: 'done' });
    expect((await runToEnd(server.url, bot.id)).status).toBe('completed');
    // Each link resolves inside the sandbox's own mount namespace, where those paths do not exist.
    expect(printed(codeReply())).toEqual({ passwd: 'ENOENT', readOutside: 'ENOENT', listOutside: 'ENOENT', writeOutside: 'ENOENT', readOther: 'ENOENT', writeOther: 'ENOENT' });
    expect(fs.readdirSync(outside)).toEqual(['secret.txt']);
    expect(fs.readFileSync(path.join(other.docs_path, 'notes.md'), 'utf8')).toBe('the other bot’s notes');
  }, 60_000);

  it('is gone within 1 s of a kill -9 of the server, and so is the run child', async () => {
    const s = await startServer({ DATA_DIR: dataDir(), OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: openai.baseURL });
    spawned.push(s.proc);
    const bot = await newBot(s.url);
    const ticks = path.join(bot.docs_path, 'ticks.txt');
    openai.enqueue(callCode(`const fs = require('fs'); setInterval(() => fs.appendFileSync('ticks.txt', 'x'), 20);`), { kind: 'text', text: 'done' });
    await json(`${s.url}/api/bots/${bot.id}/run`, { method: 'POST', body: '{}' });
    const size = () => fs.statSync(ticks, { throwIfNoEntry: false })?.size ?? 0;
    await expect.poll(size, { timeout: 15_000 }).toBeGreaterThan(5);
    const tree = descendants(s.proc.pid!);
    // The run child, bwrap (outside and as the namespace's init), and the program's Node.
    expect(tree.filter((p) => cmdline(p).includes('bwrap'))).not.toEqual([]);
    expect(tree.length).toBeGreaterThanOrEqual(3);

    s.proc.kill('SIGKILL');
    await s.exited;
    await expect.poll(() => tree.filter(running), { timeout: 1000, interval: 20 }).toEqual([]);
    const after = size();
    await new Promise((r) => setTimeout(r, 300));
    expect(size()).toBe(after);
  }, 90_000);
});

describe('where bubblewrap cannot create the sandbox', () => {
  it('run_code is off: the model is told why, nothing runs unconfined', async () => {
    // A bwrap that fails the way it does where the kernel refuses unprivileged user namespaces.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oo-nobwrap-'));
    const bwrap = path.join(dir, 'bwrap');
    fs.writeFileSync(bwrap, '#!/bin/sh\necho "bwrap: No permissions to create a new namespace, likely because the kernel does not allow non-privileged user namespaces." >&2\nexit 1\n', { mode: 0o755 });
    const openai = await startFakeOpenAI();
    const t = await startTestApp({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: openai.baseURL, BWRAP_PATH: bwrap });
    try {
      expect(t.engine.codeSandbox.status()).toMatchObject({ available: false });
      const bot = (await t.api('POST', '/api/bots', { name: 'Coder', prompt: 'Work.', model: 'openai:gpt-4.1-mini', tools: ['code'] })).body;
      openai.enqueue(callCode(`require('fs').writeFileSync('ran.txt', 'unconfined')`), { kind: 'text', text: 'no code today' });
      const run = await t.waitForRun((await t.api('POST', `/api/bots/${bot.id}/run`, {})).body.id);
      expect(run).toMatchObject({ status: 'completed', output: 'no code today' });
      const reply = openai.requests.at(-1)!.body.messages.find((m: any) => m.role === 'tool').content;
      expect(reply).toBe(
        'Error: run_code failed: run_code is off on this server: bwrap cannot create the sandbox here (bwrap: No permissions to create a new namespace, likely because the kernel does not allow non-privileged user namespaces.). ' +
          'It runs only inside bubblewrap (Debian package "bubblewrap") on a kernel that lets this user create namespaces; see the README, "Isolation".',
      );
      expect(fs.existsSync(path.join(bot.docs_path, 'ran.txt'))).toBe(false);
    } finally {
      await t.close();
      await openai.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('where only /proc cannot be mounted (a container’s masked /proc), it runs without one, as confined', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oo-noproc-'));
    const bwrap = path.join(dir, 'bwrap');
    fs.writeFileSync(bwrap, `#!/bin/sh\nfor a in "$@"; do [ "$a" = --proc ] && { echo "bwrap: Can't mount proc on /newroot/proc: Operation not permitted" >&2; exit 1; }; done\nexec ${BWRAP} "$@"\n`, { mode: 0o755 });
    const sandbox = new CodeSandbox({ bwrapPath: bwrap });
    const docs = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'oo-noproc-docs-')));
    try {
      expect(sandbox.status()).toEqual({ available: true, bwrap, withProc: false });
      // process.memoryUsage() reads /proc/self (libuv), past the permission model: it shows whether /proc is there.
      const source = `const fs = require('fs'); fs.writeFileSync('here.txt', 'x'); let mem; try { mem = typeof process.memoryUsage().rss; } catch (e) { mem = e.code; } console.log(JSON.stringify({ mem, files: fs.readdirSync('.') }))`;
      const o = await sandbox.run(source, docs);
      expect(o, o.stderr).toMatchObject({ exitCode: 0, timedOut: false });
      expect(JSON.parse(o.stdout)).toEqual({ mem: 'ENOENT', files: ['here.txt'] });
      // With /proc (the normal sandbox) the same program sees it.
      fs.rmSync(path.join(docs, 'here.txt'));
      expect(JSON.parse((await new CodeSandbox().run(source, docs)).stdout)).toEqual({ mem: 'number', files: ['here.txt'] });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(docs, { recursive: true, force: true });
    }
  });
});
