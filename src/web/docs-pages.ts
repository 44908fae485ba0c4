import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Eta } from 'eta';
import type { Engine } from '../engine/engine.ts';
import type { BotRow } from '../engine/db/schema.ts';
import { isAppError, AppError } from '../engine/errors.ts';
import { pathId } from './params.ts';
import { isAlwaysRead } from '../engine/tools/memory.ts';
import { uploadedFiles } from './uploads.ts';
import { view } from './view-helpers.ts';

/** Largest document the panel opens in its editor; bigger or binary files are offered raw. */
const EDITABLE_BYTES = 1024 * 1024;

/** A document opened in the panel: its text, or null when it is binary or too large to edit here. */
interface OpenDoc {
  name: string;
  size: number;
  text: string | null;
}

/**
 * The bot page's documents panel (its memory): list, upload, view, edit and delete files of a
 * bot's docs folder. Every route answers htmx with the re-rendered panel (`#docs`) and a plain form
 * post with a redirect back to the bot page, so the panel also works without JavaScript.
 *
 * - `GET  /partials/bots/:id/docs[?open=<name>]` the panel, optionally with a file open
 * - `POST /bots/:id/docs` upload (multipart, one or more files) or create (`name`, `content`)
 * - `POST /bots/:id/docs/:name` save new `content`
 * - `POST /bots/:id/docs/:name/delete` delete
 */
export const docsPageRoutes = (engine: Engine, viewsDir: string): FastifyPluginAsync =>
  async (app) => {
    const eta = new Eta({ views: viewsDir, cache: true, autoEscape: true, autoTrim: false });

    const panel = (reply: FastifyReply, bot: BotRow, extra: { open?: OpenDoc; notice?: string; error?: string } = {}) =>
      reply.type('text/html; charset=utf-8').send(eta.render('partials/docs', { bot, docs: engine.docs.list(bot.docsPath), isAlwaysRead, h: view, ...extra }));

    const openDoc = (bot: BotRow, name: string): OpenDoc => {
      const buf = engine.docs.read(bot.docsPath, name);
      const binary = buf.length > EDITABLE_BYTES || buf.subarray(0, 8192).includes(0);
      return { name, size: buf.length, text: binary ? null : buf.toString('utf8') };
    };

    /** Runs a change; htmx gets the panel (errors shown in it), a plain post a redirect (errors as pages). */
    const change = async (req: FastifyRequest, reply: FastifyReply, bot: BotRow, fn: () => Promise<{ open?: OpenDoc; notice?: string }>) => {
      const htmx = Boolean(req.headers['hx-request']);
      try {
        const r = await fn();
        return htmx ? panel(reply, bot, r) : reply.redirect(`/bots/${bot.id}#docs`, 303);
      } catch (err) {
        if (!htmx || !isAppError(err)) throw err;
        return panel(reply, bot, { error: err.message });
      }
    };

    app.get<{ Params: { id: string }; Querystring: { open?: string | string[] } }>('/partials/bots/:id/docs', async (req, reply) => {
      const bot = await engine.scope.bot(req.caller, botId(req.params.id));
      // `?open=a&open=b` arrives as a list: the first one is opened.
      const open = ([] as unknown[]).concat(req.query.open ?? [])[0];
      if (typeof open !== 'string' || !open) return panel(reply, bot);
      try {
        return panel(reply, bot, { open: openDoc(bot, open) });
      } catch (err) {
        if (!isAppError(err)) throw err;
        return panel(reply, bot, { error: err.message });
      }
    });

    app.post<{ Params: { id: string } }>('/bots/:id/docs', async (req, reply) => {
      const bot = await engine.scope.bot(req.caller, botId(req.params.id), 'write');
      return change(req, reply, bot, async () => {
        if (req.isMultipart()) {
          const names: string[] = [];
          for await (const file of uploadedFiles(req)) {
            if (!file.filename) continue;
            names.push(engine.docs.write(bot.docsPath, file.filename, file.data).name);
          }
          if (names.length === 0) throw new AppError('VALIDATION_FAILED', 'Choose a file to upload.');
          return { notice: `Uploaded ${names.join(', ')}.` };
        }
        const body = (req.body ?? {}) as Record<string, unknown>;
        const name = String(body.name ?? '').trim();
        if (!name) throw new AppError('VALIDATION_FAILED', 'Give the new file a name, e.g. memory.md.');
        const saved = engine.docs.write(bot.docsPath, name, normalizeNewlines(String(body.content ?? '')));
        return { open: openDoc(bot, saved.name), notice: `Created ${saved.name}.` };
      });
    });

    app.post<{ Params: { id: string; name: string } }>('/bots/:id/docs/:name', async (req, reply) => {
      const bot = await engine.scope.bot(req.caller, botId(req.params.id), 'write');
      return change(req, reply, bot, async () => {
        const content = (req.body as Record<string, unknown> | undefined)?.content;
        if (typeof content !== 'string') throw new AppError('VALIDATION_FAILED', 'content is required.');
        engine.docs.read(bot.docsPath, req.params.name); // saving never creates: the file must exist
        const saved = engine.docs.write(bot.docsPath, req.params.name, normalizeNewlines(content));
        return { open: openDoc(bot, saved.name), notice: `Saved ${saved.name}.` };
      });
    });

    app.post<{ Params: { id: string; name: string } }>('/bots/:id/docs/:name/delete', async (req, reply) => {
      const bot = await engine.scope.bot(req.caller, botId(req.params.id), 'write');
      return change(req, reply, bot, async () => {
        engine.docs.delete(bot.docsPath, req.params.name);
        return { notice: `Deleted ${req.params.name}.` };
      });
    });
  };

/** Browsers send a textarea's line breaks as CRLF; the bot's files keep plain LF. */
function normalizeNewlines(s: string): string {
  return s.replace(/\r\n?/g, '\n');
}

function botId(raw: string): number {
  return pathId(raw, 'BOT_NOT_FOUND', 'bot');
}
