/**
 * docker-compose.yml, read as Compose reads it (no Docker here): the app with its data on a named
 * volume, the `.env` file, a restart policy and a health check; the health check's command is run
 * against a real server.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const compose = parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'));
const app = compose.services.app;

describe('docker-compose.yml', () => {
  it('builds the Dockerfile and keeps DATA_DIR on a named volume', () => {
    expect(app.build).toBe('.');
    expect(app.environment.DATA_DIR).toBe('/data');
    expect(app.volumes).toEqual(['data:/data']);
    expect(compose.volumes).toHaveProperty('data');
    // The Dockerfile agrees on the data dir and the port.
    const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^VOLUME \/data$/m);
    expect(dockerfile).toMatch(/^EXPOSE 8080$/m);
  });

  it('reads .env when there is one, restarts the app, and requires the first admin\'s password', () => {
    expect(app.env_file).toEqual([{ path: '.env', required: false }]);
    expect(app.restart).toBe('unless-stopped');
    expect(app.environment.HOST).toBe('0.0.0.0');
    expect(app.environment.ADMIN_PASSWORD).toMatch(/^\$\{ADMIN_PASSWORD:\?.+\}$/);
  });

  it('publishes the port the app listens on inside the container', () => {
    expect(app.environment.PORT).toBe('8080');
    expect(app.ports).toEqual(['${PORT:-8080}:8080']);
    expect(app.healthcheck.test.join(' ')).toContain('http://127.0.0.1:8080/health');
  });

  describe('its health check command', () => {
    let ok: TestApp;
    let degraded: TestApp;
    beforeAll(async () => {
      ok = await startTestApp();
      // A configured Telegram adapter that is not connected: /health answers 503.
      degraded = await startTestApp({ TELEGRAM_BOT_TOKEN: '123:abc' });
    });
    afterAll(async () => {
      await ok?.close();
      await degraded?.close();
    });

    // Not spawnSync: the servers live in this process and must keep answering.
    const probe = (url: string) => {
      const [kind, cmd, ...args] = app.healthcheck.test as string[];
      expect(kind).toBe('CMD');
      expect(cmd).toBe('node');
      const p = spawn(process.execPath, args.map((a) => a.replace('http://127.0.0.1:8080', url)), { stdio: 'ignore' });
      return new Promise<number | null>((resolve) => p.once('exit', resolve));
    };

    it('passes against a healthy app and fails against a degraded or absent one', async () => {
      expect(await probe(ok.url)).toBe(0);
      expect(await probe(degraded.url)).toBe(1);
      expect(await probe('http://127.0.0.1:9')).toBe(1);
    });
  });
});
