import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI } from './fakes/openai.ts';
import { tempDataDir } from './helpers/app.ts';
import { json, startServer, type ServerProcess } from './helpers/server.ts';

/** An SMTP server on 127.0.0.1 that greets and then never answers again; records what it is sent. */
async function startStalledSmtp() {
  let received = '';
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    sock.on('data', (d) => (received += d.toString('latin1')));
    sock.write('220 stalled.smtp.test ESMTP\r\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `smtp://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    received: () => received,
    /** Connections still open. */
    open: () => sockets.size,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(r));
    },
  };
}

// SIGTERM as Docker or systemd sends it, while runs are active and an e-mail hangs on a mail
// server that stopped talking: the runs are recorded as interrupted first, the mail gets the time
// left, and the process exits cleanly within its limit.
describe('shutdown', () => {
  const cleanup: (() => unknown)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('SIGTERM with 5 active runs and an e-mail stuck on a silent SMTP server: exit 0, the 5 runs interrupted', async () => {
    const smtp = await startStalledSmtp();
    const openai = await startFakeOpenAI();
    const dataDir = tempDataDir();
    cleanup.push(smtp.close, openai.close, () => fs.rmSync(dataDir, { recursive: true, force: true }));
    const s: ServerProcess = await startServer({
      DATA_DIR: dataDir,
      ECHO_DELAY_MS: '60000',
      MAX_CONCURRENT_RUNS: '8',
      SMTP_URL: smtp.url,
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: openai.baseURL,
    });
    cleanup.push(() => s.proc.exitCode === null && s.proc.kill('SIGKILL'));
    const post = (p: string, body: unknown) => json(`${s.url}${p}`, { method: 'POST', body: JSON.stringify(body) });

    const slow = (await post('/api/bots', { name: 'Slow', prompt: 'takes a minute' })).body;
    const active: number[] = [];
    for (let i = 0; i < 5; i++) active.push((await post(`/api/bots/${slow.id}/run`, {})).body.id);
    for (const id of active) await expect.poll(async () => (await json(`${s.url}/api/runs/${id}`)).body.status, { timeout: 15_000 }).toBe('running');

    const mailer = (await post('/api/bots', { name: 'Mailer', prompt: 'report', model: 'openai:gpt-4.1-mini', notify: { email: { to: 'me@example.com' } } })).body;
    const mailed = (await post(`/api/bots/${mailer.id}/run`, {})).body.id;
    await expect.poll(async () => (await json(`${s.url}/api/runs/${mailed}`)).body.status, { timeout: 15_000 }).toBe('completed');
    // nodemailer got the greeting and said EHLO: the mail is in flight, and the server is silent.
    await expect.poll(smtp.received, { timeout: 15_000 }).toMatch(/^EHLO /);

    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(s.stderr()).not.toMatch(/did not finish/);
    // The given-up mail's connection was closed, not left to the server.
    await expect.poll(smtp.open, { timeout: 2_000 }).toBe(0);

    // Read the database as the process left it (no new start, which would mark runs itself).
    const db = new Database(path.join(dataDir, 'openorchestrator.db'), { readonly: true });
    try {
      const rows = db.prepare(`SELECT id, status, error, finished_at FROM runs WHERE id IN (${active.join(',')}) ORDER BY id`).all() as { id: number; status: string; error: string | null; finished_at: number | null }[];
      expect(rows).toHaveLength(5);
      for (const r of rows) {
        expect(r).toMatchObject({ status: 'interrupted', error: expect.stringMatching(/stopped/) });
        expect(r.finished_at).not.toBeNull();
      }
      const failed = db.prepare(`SELECT message FROM events WHERE kind = 'notify.failed'`).all() as { message: string }[];
      expect(failed).toEqual([{ message: `🤖 Mailer: e-mail failed (gave up: shutting down) — run #${mailed} is unaffected` }]);
    } finally {
      db.close();
    }
  }, 60_000);
});
