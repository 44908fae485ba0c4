import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Caller } from '../../engine/access.ts';
import { MAX_SECRET_BYTES, MIN_SECRET_CHARS, SECRET_NAME_PATTERN, type SecretInfo } from '../../engine/bot-secrets.ts';
import type { BotRow } from '../../engine/db/schema.ts';
import type { Engine } from '../../engine/engine.ts';
import { PROVIDER_KEY_SECRETS } from '../../engine/providers/index.ts';
import { pathId } from '../params.ts';
import { errorResponses, idParam, idParams, json, noContent } from './schemas.ts';

/** A secret as the API shows it: its name and when it was set, never its value. */
export const SecretJson = z
  .object({
    name: z.string().meta({ description: 'the secret\'s name', example: 'OPENAI_API_KEY' }),
    updated_at: z.iso.datetime().meta({ description: 'when its value was last set' }),
  })
  .meta({ id: 'Secret' });

const secretParams = z.object({
  id: idParam,
  // Checked by the service, so the API and the page refuse a bad name with the same sentence.
  name: z.string().meta({ description: `the secret's name, matching ${SECRET_NAME_PATTERN.source}`, example: 'OPENAI_API_KEY' }),
});

const secretBody = z.object({
  value: z.string({ error: 'value is required (text)' }).meta({ description: `the value, ${MIN_SECRET_CHARS} characters to ${MAX_SECRET_BYTES} bytes (surrounding whitespace is dropped); never sent back` }),
});

/** `{name, updated_at}` of one secret. */
export function secretJson(s: SecretInfo): z.infer<typeof SecretJson> {
  return { name: s.name, updated_at: new Date(s.updatedAt).toISOString() };
}

/**
 * The bot `id` names, if `caller` may see it (and with `write`, change it): a bot the caller may
 * not see is a 404 like one that does not exist.
 * @throws {AppError} BOT_NOT_FOUND, FORBIDDEN_ROLE
 */
export async function secretsBot(engine: Engine, caller: Caller, rawId: string, action: 'read' | 'write'): Promise<BotRow> {
  return engine.scope.bot(caller, pathId(rawId, 'BOT_NOT_FOUND', 'bot'), action);
}

/**
 * A bot's named secrets under `/api/bots/:id/secrets` (engine/bot-secrets.ts): list (names only),
 * set and delete. No route ever answers with a value.
 */
export const botSecretRoutes = (engine: Engine): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<ZodTypeProvider>();
    const keys = Object.values(PROVIDER_KEY_SECRETS).join(' or ');

    app.get(
      '/bots/:id/secrets',
      { schema: { tags: ['secrets'], summary: "The bot's secrets: names and times only, never values", params: idParams, response: { 200: json(z.array(SecretJson), 'sorted by name'), ...errorResponses('BOT_NOT_FOUND') } } },
      async (req) => engine.botSecrets.list((await secretsBot(engine, req.caller, req.params.id, 'read')).id).map(secretJson),
    );

    app.put(
      '/bots/:id/secrets/:name',
      {
        schema: {
          tags: ['secrets'],
          summary: `Set (create or replace) a secret of the bot; its runs get it, and ${keys} is used instead of the server's key`,
          params: secretParams,
          body: secretBody,
          response: { 200: json(SecretJson, 'the secret, without its value'), ...errorResponses('VALIDATION_FAILED', 'BOT_NOT_FOUND', 'FORBIDDEN_ROLE') },
        },
      },
      async (req) => {
        const bot = await secretsBot(engine, req.caller, req.params.id, 'write');
        const info = engine.botSecrets.set(bot.id, req.params.name, req.body.value);
        engine.bus.emit('notice', { botId: bot.id, kind: 'bot.secret', message: `${bot.emoji} ${bot.name}: secret ${info.name} set` });
        return secretJson(info);
      },
    );

    app.delete(
      '/bots/:id/secrets/:name',
      {
        schema: {
          tags: ['secrets'],
          summary: 'Delete a secret of the bot',
          params: secretParams,
          response: { 204: noContent, ...errorResponses('VALIDATION_FAILED', 'BOT_NOT_FOUND', 'SECRET_NOT_FOUND', 'FORBIDDEN_ROLE') },
        },
      },
      async (req, reply) => {
        const bot = await secretsBot(engine, req.caller, req.params.id, 'write');
        engine.botSecrets.delete(bot.id, req.params.name);
        engine.bus.emit('notice', { botId: bot.id, kind: 'bot.secret', message: `${bot.emoji} ${bot.name}: secret ${req.params.name} deleted` });
        return reply.code(204).send();
      },
    );
  };
