import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.ts';

// A bot's webhook secret signs what it sends; whoever reads the API must not learn it.
describe('secrets in API output', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('the webhook secret is never sent back, only whether there is one; updates that leave notify alone keep it', async () => {
    const secret = 'hook-secret-7f3a9c';
    const created = await t.api('POST', '/api/bots', { name: 'Signed', prompt: 'x', notify: { webhook: { url: 'https://hooks.example.com/in', secret, on: ['completed'] } } });
    expect(created.status).toBe(201);
    const shown = { webhook: { url: 'https://hooks.example.com/in', on: ['completed'], has_secret: true } };
    expect(created.body.notify).toEqual(shown);

    for (const path of ['/api/bots', `/api/bots/${created.body.id}`]) {
      const res = await fetch(t.url + path);
      expect(await res.text(), path).not.toContain(secret);
    }
    expect((await t.api('GET', `/api/bots/${created.body.id}`)).body.notify).toEqual(shown);

    const updated = await t.api('PUT', `/api/bots/${created.body.id}`, { prompt: 'y', paused: true });
    expect(updated.status).toBe(200);
    expect(updated.body.notify).toEqual(shown);
    expect(JSON.stringify(updated.body)).not.toContain(secret);
    expect((await t.engine.bots.get(created.body.id)).notify).toEqual({ webhook: { url: 'https://hooks.example.com/in', secret, on: ['completed'] } });
  });

  it('sending back the notify that was read keeps the secret; a new webhook URL does not inherit it', async () => {
    const secret = 'hook-secret-round-trip';
    const bot = (await t.api('POST', '/api/bots', { name: 'RoundTrip', prompt: 'x', notify: { webhook: { url: 'https://hooks.example.com/a', secret } } })).body;
    const read = (await t.api('GET', `/api/bots/${bot.id}`)).body.notify;
    expect((await t.api('PUT', `/api/bots/${bot.id}`, { notify: read })).status).toBe(200);
    expect((await t.engine.bots.get(bot.id)).notify).toEqual({ webhook: { url: 'https://hooks.example.com/a', secret } });

    await t.api('PUT', `/api/bots/${bot.id}`, { notify: { webhook: { url: 'https://elsewhere.example.com/b' } } });
    expect((await t.engine.bots.get(bot.id)).notify).toEqual({ webhook: { url: 'https://elsewhere.example.com/b' } });
  });

  it('a webhook without a secret says so; other notify settings pass through', async () => {
    const bot = (await t.api('POST', '/api/bots', { name: 'Unsigned', prompt: 'x', notify: { webhook: { url: 'https://hooks.example.com/in' }, email: { to: 'me@example.com' } } })).body;
    expect(bot.notify).toEqual({ webhook: { url: 'https://hooks.example.com/in', has_secret: false }, email: { to: 'me@example.com' } });
  });
});
