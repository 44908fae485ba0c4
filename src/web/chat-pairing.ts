/**
 * Chat pairing on the web: the `/settings/chat` page (enter a pairing code, the linked chat
 * identities with Unlink, an admin's pending codes with Approve, the user's own Telegram bot
 * token) and the JSON API under `/api/chat` (`POST /pairings {code}`, `GET /identities`,
 * `DELETE /identities/:id`, and for admins `GET /pairings` and `POST /pairings/:id/approve`).
 * Everything acts as `req.caller` (src/web/caller.ts).
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { Eta } from 'eta';
import { z } from 'zod';
import { type ChatIdentityView } from '../engine/chat-identities.ts';
import { users, type PairingCodeRow } from '../engine/db/schema.ts';
import type { Engine } from '../engine/engine.ts';
import { AppError, isAppError } from '../engine/errors.ts';
import { errorResponses, idParams, json, emptyBodyAsObject } from './api/schemas.ts';
import { dashboardStream } from './live/view.ts';
import { pathId } from './params.ts';
import { view } from './view-helpers.ts';

const ChatIdentityJson = z
  .object({
    id: z.number().int(),
    platform: z.enum(['telegram', 'discord']),
    externalId: z.string().meta({ description: "the platform's user id" }),
    displayName: z.string(),
    userId: z.number().int().meta({ description: 'the user the chat identity acts as' }),
    username: z.string(),
    linkedAt: z.number().int().meta({ description: 'epoch ms' }),
  })
  .meta({ id: 'ChatIdentity' });

const PendingCodeJson = z
  .object({
    id: z.number().int(),
    code: z.string().meta({ description: '8 characters' }),
    platform: z.enum(['telegram', 'discord']),
    externalId: z.string(),
    displayName: z.string(),
    createdAt: z.number().int(),
    expiresAt: z.number().int().meta({ description: 'epoch ms; 1 hour after createdAt' }),
  })
  .meta({ id: 'PendingPairingCode' });

const PairingBody = z.object({ code: z.string().trim().min(1).max(32).meta({ description: 'the code the chat bot sent (case, spaces and dashes do not matter)' }) }).meta({ id: 'PairingInput' });
const ApproveBody = z.object({ userId: z.number().int().positive().meta({ description: 'the user the chat identity will act as' }) }).meta({ id: 'PairingApproval' });

const identityJson = (v: ChatIdentityView): z.infer<typeof ChatIdentityJson> => ({ ...v });
const pendingJson = (c: PairingCodeRow): z.infer<typeof PendingCodeJson> => ({
  id: c.id,
  code: c.code,
  platform: c.platform,
  externalId: c.externalId,
  displayName: c.displayName,
  createdAt: c.createdAt,
  expiresAt: c.expiresAt,
});

const REDEEM_ERRORS = ['VALIDATION_FAILED', 'PAIRING_CODE_UNKNOWN', 'PAIRING_CODE_EXPIRED', 'PAIRING_CODE_USED'] as const;

type Form = Record<string, string | string[] | undefined>;

/** The JSON API of chat pairing, mounted under `/api`. */
const chatApi = (engine: Engine): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<ZodTypeProvider>();
    app.addHook('preValidation', emptyBodyAsObject);
    const ids = engine.chatIdentities;

    app.post(
      '/chat/pairings',
      {
        schema: {
          tags: ['chat'],
          summary: 'Redeem a pairing code: links the chat identity that got it to the caller',
          body: PairingBody,
          response: { 201: json(ChatIdentityJson, 'the linked chat identity'), ...errorResponses(...REDEEM_ERRORS) },
        },
      },
      async (req, reply) => {
        const linked = await ids.redeem(req.body.code, req.caller);
        req.log.info({ identityId: linked.id, platform: linked.platform, userId: linked.userId }, 'a chat identity was linked by its pairing code');
        return reply.code(201).send(identityJson(linked));
      },
    );

    app.get(
      '/chat/pairings',
      {
        schema: {
          tags: ['chat'],
          summary: 'Pending pairing codes (admins): neither used nor expired, newest first',
          response: { 200: json(z.array(PendingCodeJson), 'the pending codes'), ...errorResponses('FORBIDDEN_ROLE') },
        },
      },
      async (req) => {
        if (req.caller.role !== 'admin') throw new AppError('FORBIDDEN_ROLE', 'Only an admin sees the pending pairing codes.');
        return (await ids.pendingCodes()).map(pendingJson);
      },
    );

    app.post(
      '/chat/pairings/:id/approve',
      {
        schema: {
          tags: ['chat'],
          summary: "Approve a pending code for a user (admins): links the code's chat identity to that user",
          params: idParams,
          body: ApproveBody,
          response: { 201: json(ChatIdentityJson, 'the linked chat identity'), ...errorResponses(...REDEEM_ERRORS, 'FORBIDDEN_ROLE') },
        },
      },
      async (req, reply) => reply.code(201).send(identityJson(await ids.approve(pathId(req.params.id, 'PAIRING_CODE_UNKNOWN', 'pairing code'), req.body.userId, req.caller))),
    );

    app.get(
      '/chat/identities',
      { schema: { tags: ['chat'], summary: "The caller's linked chat identities, oldest link first", response: { 200: json(z.array(ChatIdentityJson), 'the linked identities') } } },
      async (req) => (await ids.listFor(req.caller.userId)).map(identityJson),
    );

    app.delete(
      '/chat/identities/:id',
      {
        schema: {
          tags: ['chat'],
          summary: 'Unlink a chat identity (the caller\'s own; admins: any): its next command gets a new pairing code',
          params: idParams,
          response: { 200: json(z.object({ unlinked: z.number().int() }).meta({ id: 'ChatUnlinked' }), 'the id that was unlinked'), ...errorResponses('CHAT_IDENTITY_NOT_FOUND') },
        },
      },
      async (req) => {
        const id = pathId(req.params.id, 'CHAT_IDENTITY_NOT_FOUND', 'chat identity');
        await ids.unlink(id, req.caller);
        return { unlinked: id };
      },
    );
  };

/**
 * Chat pairing on the web: the JSON API under `/api/chat` and the `/settings/chat` page. The page's
 * forms answer with the page redrawn (htmx swaps the `#chat-settings` part), a plain form post is
 * redirected back (303).
 */
export const chatPairingWeb = (engine: Engine, viewsDir: string): FastifyPluginAsync =>
  async (app) => {
    await app.register(chatApi(engine), { prefix: '/api' });
    const eta = new Eta({ views: viewsDir, cache: true, autoEscape: true, autoTrim: false });
    const ids = engine.chatIdentities;
    const tokens = engine.userTelegramTokens;

    const page = async (req: FastifyRequest, reply: FastifyReply, flash: { ok?: string; error?: string } = {}, status = 200) => {
      const caller = req.caller;
      const admin = caller.role === 'admin';
      const data = {
        caller,
        identities: await ids.listFor(caller.userId),
        pending: admin ? await ids.pendingCodes() : [],
        users: admin ? await engine.db.select({ id: users.id, username: users.username, role: users.role }).from(users).orderBy(users.id) : [],
        tokenSet: tokens.has(caller.userId),
        ok: flash.ok,
        error: flash.error,
        h: view,
        tz: view.tz,
      };
      const name = req.headers['hx-request'] ? 'partials/chat-settings' : 'chat-settings';
      return reply
        .code(status)
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(eta.render(name, { ...data, stream: dashboardStream(app.live.hub) }));
    };
    /** Runs `change`; an AppError is shown on the page, anything else thrown. */
    const act = async (req: FastifyRequest, reply: FastifyReply, change: () => string | Promise<string>) => {
      try {
        const ok = await change();
        return req.headers['hx-request'] ? await page(req, reply, { ok }) : reply.redirect('/settings/chat', 303);
      } catch (err) {
        if (!isAppError(err)) throw err;
        // htmx swaps only 2xx answers: a refusal it shows is a 200; a plain form post keeps the status.
        return await page(req, reply, { error: err.message }, req.headers['hx-request'] ? 200 : err.status);
      }
    };
    const field = (req: FastifyRequest, name: string) => {
      const v = ((req.body ?? {}) as Form)[name];
      return String(Array.isArray(v) ? v[0] : (v ?? '')).trim();
    };

    app.get('/settings/chat', async (req, reply) => page(req, reply));

    app.post('/settings/chat/pair', async (req, reply) =>
      act(req, reply, async () => {
        const code = field(req, 'code');
        if (!code) throw new AppError('VALIDATION_FAILED', 'Enter the 8-character code the chat bot sent you.');
        const linked = await ids.redeem(code, req.caller);
        return `Linked ${linked.platform === 'telegram' ? 'Telegram' : 'Discord'} user ${linked.displayName}: their commands now act as you.`;
      }),
    );

    app.post<{ Params: { id: string } }>('/settings/chat/identities/:id/unlink', async (req, reply) =>
      act(req, reply, async () => {
        await ids.unlink(pathId(req.params.id, 'CHAT_IDENTITY_NOT_FOUND', 'chat identity'), req.caller);
        return 'Unlinked. That chat user gets a new pairing code with their next command.';
      }),
    );

    app.post<{ Params: { id: string } }>('/settings/chat/pairings/:id/approve', async (req, reply) =>
      act(req, reply, async () => {
        const userId = Number(field(req, 'userId'));
        if (!Number.isInteger(userId) || userId <= 0) throw new AppError('VALIDATION_FAILED', 'Choose the user the chat identity should act as.');
        const linked = await ids.approve(pathId(req.params.id, 'PAIRING_CODE_UNKNOWN', 'pairing code'), userId, req.caller);
        return `Approved: ${linked.displayName} now acts as ${linked.username}.`;
      }),
    );

    app.post('/settings/chat/telegram-token', async (req, reply) =>
      act(req, reply, () => {
        tokens.set(req.caller.userId, field(req, 'token'));
        return 'Your Telegram bot token is set; the bot starts polling now and answers only your linked chats.';
      }),
    );

    app.post('/settings/chat/telegram-token/delete', async (req, reply) =>
      act(req, reply, () => {
        tokens.remove(req.caller.userId);
        return 'Your Telegram bot token is removed; that bot has stopped.';
      }),
    );
  };
