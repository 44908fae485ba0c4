import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';

describe('configuration', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ port: 8080, host: '127.0.0.1', maxConcurrentRuns: 64, maxRunProcesses: 8, maxQueuedRuns: 1000, runTimeoutS: 300, rateLimitPerMin: 600 });
    expect(c.dataDir).toMatch(/\/data$/);
    expect(c.telegram).toEqual({ token: undefined, apiRoot: 'https://api.telegram.org', allowedUsers: [] });
    expect(c.discord.apiBase).toBe('https://discord.com/api');
  });

  it('reads lists and numbers', () => {
    const c = loadConfig({ TELEGRAM_ALLOWED_USERS: '1, 22 ,333', MAX_CONCURRENT_RUNS: '2', OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1' });
    expect(c.telegram.allowedUsers).toEqual(['1', '22', '333']);
    expect(c.maxConcurrentRuns).toBe(2);
    expect(c.openai.baseURL).toBe('http://127.0.0.1:11434/v1');
  });

  it.each([
    ['PORT', { PORT: 'eighty' }],
    ['PORT', { PORT: '70000' }],
    ['MAX_CONCURRENT_RUNS', { MAX_CONCURRENT_RUNS: '0' }],
    ['RUN_TIMEOUT_S', { RUN_TIMEOUT_S: '-5' }],
    ['OPENAI_BASE_URL', { OPENAI_BASE_URL: 'not a url' }],
    ['TELEGRAM_ALLOWED_USERS', { TELEGRAM_ALLOWED_USERS: 'alice,bob' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
    ['ADMIN_PASSWORD', { ADMIN_PASSWORD: 'short' }],
  ])('a bad %s is refused, naming the variable', (variable, env) => {
    let err: unknown;
    try {
      loadConfig(env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).variable).toBe(variable);
    expect((err as ConfigError).message).toContain(variable);
  });

  it('a non-loopback HOST is fine with a token, or without one (the server then asks for an admin password)', () => {
    expect(loadConfig({ HOST: '0.0.0.0', DASHBOARD_TOKEN: 's3cret' }).dashboardToken).toBe('s3cret');
    expect(loadConfig({ HOST: '0.0.0.0' }).dashboardToken).toBeUndefined();
    expect(loadConfig({ ADMIN_PASSWORD: 'long enough' }).adminPassword).toBe('long enough');
  });

  it('npm start stops at once on a bad value with one line naming the variable', () => {
    const res = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { PATH: process.env.PATH, PORT: 'eighty' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(res.status).toBe(1);
    const lines = res.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^Invalid configuration: PORT /);
  });
});
