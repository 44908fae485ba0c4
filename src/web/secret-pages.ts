import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Eta } from 'eta';
import { mayWrite } from '../engine/access.ts';
import { MAX_SECRET_BYTES, MIN_SECRET_CHARS } from '../engine/bot-secrets.ts';
import type { BotRow } from '../engine/db/schema.ts';
import type { Engine } from '../engine/engine.ts';
import { isAppError } from '../engine/errors.ts';
import { PROVIDER_KEY_SECRETS } from '../engine/providers/index.ts';
import { secretsBot } from './api/bot-secrets.ts';
import { view } from './view-helpers.ts';

type Form = Record<string, unknown> | undefined;

/**
 * The bot page's "Secrets" panel (engine/bot-secrets.ts): the names of the bot's secrets, forms
 * to add one, replace one's value and delete one. Values go in (password fields) and never come
 * out: the panel shows names and times only. The bot page loads it with htmx; each form answers
 * htmx with the panel redrawn (errors in it) and a plain form post with a redirect back.
 *
 * - `GET  /partials/bots/:id/secrets` the panel
 * - `POST /bots/:id/secrets` set `name` to `value` (create or replace)
 * - `POST /bots/:id/secrets/:name/delete` delete
 */
export const secretPages = (engine: Engine, viewsDir: string): FastifyPluginAsync =>
  async (app) => {
    const eta = new Eta({ views: viewsDir, cache: true, autoEscape: true, autoTrim: false });
    const panel = (req: FastifyRequest, reply: FastifyReply, bot: BotRow, extra: { notice?: string; error?: string } = {}) =>
      reply.type('text/html; charset=utf-8').send(
        eta.render('partials/secrets', {
          bot,
          secrets: engine.botSecrets.list(bot.id),
          canWrite: mayWrite(req.caller, bot.ownerId),
          providerKeys: Object.values(PROVIDER_KEY_SECRETS),
          minChars: MIN_SECRET_CHARS,
          maxBytes: MAX_SECRET_BYTES,
          h: view,
          ...extra,
        }),
      );

    /** Runs a change; htmx gets the panel (a refusal shown in it), a plain post a redirect (refusals as error pages). */
    const change = (req: FastifyRequest, reply: FastifyReply, bot: BotRow, fn: () => string) => {
      const htmx = Boolean(req.headers['hx-request']);
      try {
        const notice = fn();
        return htmx ? panel(req, reply, bot, { notice }) : reply.redirect(`/bots/${bot.id}#bot-secrets`, 303);
      } catch (err) {
        if (!htmx || !isAppError(err)) throw err;
        return panel(req, reply, bot, { error: err.message });
      }
    };

    app.get<{ Params: { id: string } }>('/partials/bots/:id/secrets', async (req, reply) => panel(req, reply, await secretsBot(engine, req.caller, req.params.id, 'read')));

    app.post<{ Params: { id: string } }>('/bots/:id/secrets', async (req, reply) => {
      const bot = await secretsBot(engine, req.caller, req.params.id, 'write');
      return change(req, reply, bot, () => {
        const body = req.body as Form;
        const info = engine.botSecrets.set(bot.id, String(body?.name ?? '').trim(), String(body?.value ?? ''));
        engine.bus.emit('notice', { botId: bot.id, kind: 'bot.secret', message: `${bot.emoji} ${bot.name}: secret ${info.name} set` });
        return `Saved ${info.name}.`;
      });
    });

    app.post<{ Params: { id: string; name: string } }>('/bots/:id/secrets/:name/delete', async (req, reply) => {
      const bot = await secretsBot(engine, req.caller, req.params.id, 'write');
      return change(req, reply, bot, () => {
        engine.botSecrets.delete(bot.id, req.params.name);
        engine.bus.emit('notice', { botId: bot.id, kind: 'bot.secret', message: `${bot.emoji} ${bot.name}: secret ${req.params.name} deleted` });
        return `Deleted ${req.params.name}.`;
      });
    });
  };
