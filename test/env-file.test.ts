/**
 * `.env` as a self-hoster uses it: copied from `.env.example`, read by `npm start`, and the real
 * environment still wins over it.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { pathToFileURL } from 'node:url';
import { parse as parseDotenv } from 'dotenv';
import { afterEach, describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, loadConfig, withEnvFile } from '../src/config.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const TSX = pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;

describe('.env.example', () => {
  const example = parseDotenv(fs.readFileSync(path.join(ROOT, '.env.example'), 'utf8'));

  it('lists exactly the variables the configuration reads', () => {
    expect(Object.keys(example).sort()).toEqual([...CONFIG_VARIABLES].sort());
  });

  it('gives every variable its default: copied unchanged, it configures what no .env does', () => {
    expect(loadConfig(example)).toEqual(loadConfig({}));
  });
});

describe('withEnvFile', () => {
  it('puts the file under the environment: a variable set in both keeps the environment’s value', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oo-env-'));
    const file = path.join(dir, '.env');
    fs.writeFileSync(file, '# comment\nPORT=9999\nLOG_LEVEL="warn"\nSMTP_FROM=Bots <bots@example.org>\n');
    expect(withEnvFile({ PORT: '1234' }, file)).toEqual({ PORT: '1234', LOG_LEVEL: 'warn', SMTP_FROM: 'Bots <bots@example.org>' });
    // Set but empty is still set: the environment wins.
    expect(withEnvFile({ LOG_LEVEL: '' }, file).LOG_LEVEL).toBe('');
    expect(withEnvFile({ A: 'b' }, path.join(dir, 'missing.env'))).toEqual({ A: 'b' });
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('npm start with a .env file', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    for (const f of cleanup.splice(0)) f();
  });

  it('reads .env from the working directory, and the environment wins over it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oo-envstart-'));
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    // PORT=1 in the file would fail to listen; the environment's PORT=0 must win.
    fs.writeFileSync(path.join(dir, '.env'), 'PORT=1\nDATA_DIR=./from-dotenv\nDASHBOARD_TOKEN=from-the-file\nLOG_LEVEL=info\n');
    const proc = spawn(process.execPath, ['--import', TSX, path.join(ROOT, 'src/main.ts')], {
      cwd: dir,
      env: { PATH: process.env.PATH!, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanup.push(() => proc.exitCode === null && proc.kill('SIGKILL'));
    let stderr = '';
    proc.stderr!.on('data', (d) => (stderr += d));
    const url = await new Promise<string>((resolve, reject) => {
      readline.createInterface({ input: proc.stdout! }).on('line', (line) => {
        const m = /running on (http:\/\/[^"\s]+)/.exec(line);
        if (m) resolve(m[1]!);
      });
      proc.once('exit', (code) => reject(new Error(`exited (${code}) before listening: ${stderr}`)));
    });
    expect(url).not.toMatch(/:1$/);
    // From the file: the data dir and the token.
    expect(fs.existsSync(path.join(dir, 'from-dotenv', 'openorchestrator.db'))).toBe(true);
    expect((await fetch(`${url}/api/bots`)).status).toBe(401);
    expect((await fetch(`${url}/api/bots`, { headers: { authorization: 'Bearer from-the-file' } })).status).toBe(200);
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  });
});
