import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { Engine } from '../../engine/engine.ts';
import { AppError } from '../../engine/errors.ts';
import { MAX_DOC_BYTES } from '../../engine/docs.ts';
import { BOT_TEMPLATES } from '../../engine/templates.ts';
import { pathId } from '../params.ts';
import { jsonFormat, streamRunLog } from '../sse.ts';
import { botJson, docJson, eventJson, resultJson, runJson } from './serialize.ts';

const runBody = z
  .object({ input: z.string().max(100_000, 'input must be at most 100000 characters').nullable().optional() })
  .nullable()
  .optional();
const pinBody = z.object({ pinned: z.boolean({ error: 'pinned must be true or false' }).optional() }).nullable().optional();
const docBody = z.object({
  name: z.string({ error: 'name is required' }),
  content: z.string({ error: 'content is required (text)' }),
});

function parse<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw new AppError('VALIDATION_FAILED', r.error.issues.map((i) => i.message).join('; '));
  return r.data;
}

/** The REST API under `/api` (seed 000), JSON in and out; errors as `{error: {code, message}}`. */
export const apiRoutes = (engine: Engine): FastifyPluginAsync =>
  async (app) => {
    app.get('/bots', async () => engine.bots.listSummaries().map(botJson));

    app.post('/bots', async (req, reply) => {
      const bot = engine.createBot(req.body ?? {});
      reply.code(201).header('location', `/api/bots/${bot.id}`);
      return botJson(engine.bots.summarize(bot));
    });

    app.get<{ Params: { id: string } }>('/bots/:id', async (req) => {
      const bot = engine.bots.get(pathId(req.params.id, 'BOT_NOT_FOUND', 'bot'));
      return botJson(engine.bots.summarize(bot));
    });

    app.put<{ Params: { id: string } }>('/bots/:id', async (req) => {
      const bot = engine.bots.update(pathId(req.params.id, 'BOT_NOT_FOUND', 'bot'), req.body ?? {});
      return botJson(engine.bots.summarize(bot));
    });

    app.delete<{ Params: { id: string } }>('/bots/:id', async (req, reply) => {
      await engine.deleteBot(pathId(req.params.id, 'BOT_NOT_FOUND', 'bot'));
      return reply.code(204).send();
    });

    app.post<{ Params: { id: string } }>('/bots/:id/run', async (req, reply) => {
      const botId = pathId(req.params.id, 'BOT_NOT_FOUND', 'bot');
      const body = parse(runBody, req.body);
      const run = engine.startRun(botId, { input: body?.input ?? null, trigger: 'manual' });
      reply.code(202).header('location', `/api/runs/${run.id}`);
      return runJson(run);
    });

    app.get<{ Params: { id: string }; Querystring: { limit?: string } }>('/bots/:id/runs', async (req) => {
      const bot = engine.bots.get(pathId(req.params.id, 'BOT_NOT_FOUND', 'bot'));
      return engine.runner.listForBot(bot.id, Number(req.query.limit) || 50).map(runJson);
    });

    app.get<{ Params: { id: string }; Querystring: { limit?: string; new?: string } }>('/bots/:id/results', async (req) => {
      const bot = engine.bots.get(pathId(req.params.id, 'BOT_NOT_FOUND', 'bot'));
      const onlyNew = req.query.new === '1' || req.query.new === 'true';
      return engine.results.list(bot.id, { limit: Number(req.query.limit) || 50, onlyNew }).map(resultJson);
    });

    // Pin (default) or unpin with {"pinned": false}; DELETE unpins.
    app.post<{ Params: { id: string } }>('/results/:id/pin', async (req) => {
      const body = parse(pinBody, req.body);
      return resultJson(engine.results.setPinned(pathId(req.params.id, 'RESULT_NOT_FOUND', 'result'), body?.pinned ?? true));
    });
    app.delete<{ Params: { id: string } }>('/results/:id/pin', async (req) => resultJson(engine.results.setPinned(pathId(req.params.id, 'RESULT_NOT_FOUND', 'result'), false)));

    app.get<{ Params: { id: string } }>('/runs/:id', async (req) => runJson(engine.runner.get(pathId(req.params.id, 'RUN_NOT_FOUND', 'run'))));

    app.get<{ Params: { id: string }; Querystring: { after?: string } }>('/runs/:id/logs', async (req) => {
      const run = engine.runner.get(pathId(req.params.id, 'RUN_NOT_FOUND', 'run'));
      return engine.runner.logs(run.id, Number(req.query.after) || 0, 5000).map((l) => ({ seq: l.seq, ts: new Date(l.ts).toISOString(), stream: l.stream, text: l.text }));
    });

    app.post<{ Params: { id: string } }>('/runs/:id/cancel', async (req) => runJson(await engine.runner.cancel(pathId(req.params.id, 'RUN_NOT_FOUND', 'run'))));

    app.get<{ Params: { id: string } }>('/runs/:id/events', async (req, reply) => {
      streamRunLog(engine, req, reply, pathId(req.params.id, 'RUN_NOT_FOUND', 'run'), jsonFormat);
    });

    // Ready-made bots (seed 001's "Vorlagen"): POST one's fields to /api/bots to create it.
    app.get('/templates', async () => BOT_TEMPLATES);

    app.get<{ Params: { id: string } }>('/bots/:id/docs', async (req) => {
      const bot = engine.bots.get(pathId(req.params.id, 'BOT_NOT_FOUND', 'bot'));
      return engine.docs.list(bot.docsPath).map(docJson);
    });

    // Upload: multipart/form-data (one or more files) or JSON {name, content}.
    app.post<{ Params: { id: string } }>('/bots/:id/docs', async (req, reply) => {
      const bot = engine.bots.get(pathId(req.params.id, 'BOT_NOT_FOUND', 'bot'));
      const saved = [];
      if (req.isMultipart()) {
        for await (const part of req.files({ limits: { fileSize: MAX_DOC_BYTES, files: 20 } })) {
          const buf = await part.toBuffer();
          saved.push(engine.docs.write(bot.docsPath, part.filename, buf));
        }
        if (saved.length === 0) throw new AppError('VALIDATION_FAILED', 'No file in the upload.');
      } else {
        const body = parse(docBody, req.body ?? {});
        saved.push(engine.docs.write(bot.docsPath, body.name, body.content));
      }
      reply.code(201);
      return saved.length === 1 ? docJson(saved[0]!) : saved.map(docJson);
    });

    app.get<{ Params: { id: string; name: string } }>('/bots/:id/docs/:name', async (req, reply) => {
      const bot = engine.bots.get(pathId(req.params.id, 'BOT_NOT_FOUND', 'bot'));
      const data = engine.docs.read(bot.docsPath, req.params.name);
      reply.header('content-type', contentTypeOf(req.params.name));
      reply.header('content-disposition', `inline; filename*=UTF-8''${encodeURIComponent(req.params.name)}`);
      reply.header('x-content-type-options', 'nosniff');
      return reply.send(data);
    });

    app.delete<{ Params: { id: string; name: string } }>('/bots/:id/docs/:name', async (req, reply) => {
      const bot = engine.bots.get(pathId(req.params.id, 'BOT_NOT_FOUND', 'bot'));
      engine.docs.delete(bot.docsPath, req.params.name);
      return reply.code(204).send();
    });

    app.get<{ Querystring: { limit?: string } }>('/events', async (req) => engine.activity.list(Number(req.query.limit) || 20).map(eventJson));
  };

/** Text types are served as plain text (never HTML, so a document can't script the dashboard). */
function contentTypeOf(name: string): string {
  const ext = name.toLowerCase().split('.').pop() ?? '';
  if (ext === 'json') return 'application/json; charset=utf-8';
  if (['md', 'txt', 'csv', 'log', 'yaml', 'yml', 'html', 'htm', 'xml', 'js', 'ts'].includes(ext)) return 'text/plain; charset=utf-8';
  if (ext === 'png') return 'image/png';
  if (ext === 'jpg' || ext === 'jpeg') return 'image/jpeg';
  if (ext === 'pdf') return 'application/pdf';
  return 'application/octet-stream';
}
