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
import { loadConfig } from '../src/config.ts';
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

/**
 * docker-compose.cluster.yml, read as Compose reads it: Postgres, two app processes on it with one
 * shared volume for the bots' folders, and a proxy on one port in front of both; each with a health check.
 */
describe('docker-compose.cluster.yml', () => {
  const cluster = parse(fs.readFileSync(path.join(ROOT, 'docker-compose.cluster.yml'), 'utf8'), { merge: true });
  const apps = ['app-1', 'app-2'].map((name) => cluster.services[name]);
  const nginx = fs.readFileSync(path.join(ROOT, 'deploy/nginx.conf'), 'utf8');

  it('starts Postgres with a health check and its own volume', () => {
    const pg = cluster.services.postgres;
    expect(pg.image).toMatch(/^postgres:/);
    expect(pg.volumes).toEqual(['pgdata:/var/lib/postgresql/data']);
    expect(pg.healthcheck.test).toContain('pg_isready');
    expect(pg.environment.POSTGRES_PASSWORD).toMatch(/^\$\{POSTGRES_PASSWORD:\?.+\}$/);
  });

  it('starts two app processes on the same database and the same data volume, after Postgres is healthy', () => {
    for (const a of apps) {
      expect(a.build).toBe('.');
      expect(a.environment.DATABASE_URL).toBe(apps[0].environment.DATABASE_URL);
      expect(a.environment.DATABASE_URL).toMatch(/^postgres:\/\/openorchestrator:\$\{POSTGRES_PASSWORD:\?.+\}@postgres:5432\/openorchestrator$/);
      expect(a.environment.DATA_DIR).toBe('/data');
      expect(a.volumes).toEqual(['data:/data']);
      expect(a.depends_on.postgres.condition).toBe('service_healthy');
      expect(a.healthcheck.test.join(' ')).toContain('http://127.0.0.1:8080/health');
      expect(a.environment.ADMIN_PASSWORD).toMatch(/^\$\{ADMIN_PASSWORD:\?.+\}$/);
      // The app's own config accepts the URL (a postgres:// URL).
      expect(() => loadConfig({ DATABASE_URL: 'postgres://openorchestrator:pw@postgres:5432/openorchestrator' })).not.toThrow();
    }
    expect(cluster.volumes).toHaveProperty('data');
    expect(cluster.volumes).toHaveProperty('pgdata');
  });

  it('publishes one port, on a proxy that sends requests to every app process and streams SSE unbuffered', () => {
    const proxy = cluster.services.proxy;
    expect(proxy.ports).toEqual(['${PORT:-8080}:8080']);
    expect(proxy.volumes).toEqual(['./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro']);
    for (const name of ['app-1', 'app-2']) {
      expect(proxy.depends_on[name].condition).toBe('service_healthy');
      expect(nginx).toContain(`server ${name}:8080`);
    }
    expect(nginx).toMatch(/listen 8080;/);
    expect(nginx).toMatch(/proxy_buffering off;/);
    // The Host header keeps its port, so the origin check of unsafe requests still matches.
    expect(nginx).toMatch(/proxy_set_header Host \$http_host;/);
  });
});
