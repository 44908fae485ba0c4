import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Eta } from 'eta';
import type { Engine } from '../engine/engine.ts';
import { AppError, isAppError } from '../engine/errors.ts';
import { parseMuteDuration, POLICY_LABELS, SUBSCRIPTION_POLICIES, type SubscriptionPolicy } from '../engine/subscriptions.ts';
import { pathId } from './params.ts';
import { view } from './view-helpers.ts';

type Form = Record<string, string | string[] | undefined>;

/**
 * The bot page's "Chats" panel: which Telegram chats and Discord channels get the bot's runs, with
 * their policy (every run, failures only, new results only) and mute, changed or removed here as
 * with /subscribe and /mute in chat. The bot page loads it with htmx; each form answers with the
 * panel redrawn (or a redirect back to the bot page for a plain form post).
 */
export const subscriptionPages = (engine: Engine, viewsDir: string): FastifyPluginAsync =>
  async (app) => {
    const eta = new Eta({ views: viewsDir, cache: true, autoEscape: true, autoTrim: false });
    const panel = async (req: FastifyRequest, reply: FastifyReply, botId: number, error?: string) => {
      const bot = await engine.scope.bot(req.caller, botId);
      return reply.type('text/html; charset=utf-8').send(
        eta.render('partials/subscriptions', {
          bot,
          subs: await engine.subscriptions.listForBot(bot.id),
          policies: SUBSCRIPTION_POLICIES.map((p) => ({ value: p, label: POLICY_LABELS[p] })),
          now: Date.now(),
          error,
          h: view,
        }),
      );
    };
    const done = (req: FastifyRequest, reply: FastifyReply, botId: number) =>
      req.headers['hx-request'] ? panel(req, reply, botId) : reply.redirect(`/bots/${botId}`, 303);

    app.get<{ Params: { id: string } }>('/bots/:id/subscriptions', async (req, reply) => panel(req, reply, pathId(req.params.id, 'BOT_NOT_FOUND', 'bot')));

    // Policy and mute: `policy` one of all | failures | new; `mute` a duration (30m, 2h, 1d) or off, empty keeps it.
    app.post<{ Params: { id: string; sub: string } }>('/bots/:id/subscriptions/:sub', async (req, reply) => {
      const botId = pathId(req.params.id, 'BOT_NOT_FOUND', 'bot');
      const subId = pathId(req.params.sub, 'SUBSCRIPTION_NOT_FOUND', 'subscription');
      await engine.scope.bot(req.caller, botId, 'write');
      const body = (req.body ?? {}) as Form;
      try {
        const policy = String(body.policy ?? '');
        if (policy && !(SUBSCRIPTION_POLICIES as readonly string[]).includes(policy)) {
          throw new AppError('VALIDATION_FAILED', `policy must be one of ${SUBSCRIPTION_POLICIES.join(', ')}.`);
        }
        const mute = String(body.mute ?? '').trim();
        const ms = mute ? parseMuteDuration(mute) : undefined;
        await engine.subscriptions.update(botId, subId, {
          ...(policy ? { policy: policy as SubscriptionPolicy } : {}),
          ...(ms !== undefined ? { mutedUntil: ms > 0 ? Date.now() + ms : null } : {}),
        });
      } catch (err) {
        if (!isAppError(err) || !req.headers['hx-request'] || err.code === 'SUBSCRIPTION_NOT_FOUND') throw err;
        return panel(req, reply, botId, err.message);
      }
      return done(req, reply, botId);
    });

    app.post<{ Params: { id: string; sub: string } }>('/bots/:id/subscriptions/:sub/delete', async (req, reply) => {
      const botId = pathId(req.params.id, 'BOT_NOT_FOUND', 'bot');
      const subId = pathId(req.params.sub, 'SUBSCRIPTION_NOT_FOUND', 'subscription');
      await engine.scope.bot(req.caller, botId, 'write');
      if (!(await engine.subscriptions.remove(botId, subId))) throw new AppError('SUBSCRIPTION_NOT_FOUND', `No subscription #${subId} of bot #${botId}.`);
      return done(req, reply, botId);
    });
  };
