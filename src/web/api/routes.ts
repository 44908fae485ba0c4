import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Engine } from '../../engine/engine.ts';
import { readScope, type Caller } from '../../engine/access.ts';
import type { Action } from '../../engine/scope.ts';
import { AppError } from '../../engine/errors.ts';
import { botInputSchema, botPatchSchema, validationError } from '../../engine/bots.ts';
import { BOT_TEMPLATES } from '../../engine/templates.ts';
import { pathId } from '../params.ts';
import { jsonFormat, streamRunLog } from '../sse.ts';
import { uploadedFiles } from '../uploads.ts';
import {
  BotJson,
  DocJson,
  errorResponses,
  EventJson,
  idParam,
  idParams,
  json,
  limitQuery,
  LogLineJson,
  noContent,
  ResultJson,
  RunJson,
  runBody,
  TemplateJson,
} from './schemas.ts';
import { botJson, docJson, eventJson, resultJson, runJson } from './serialize.ts';

const pinBody = z.object({ pinned: z.boolean({ error: 'pinned must be true or false' }).optional().meta({ description: 'true (default) pins, false unpins' }) }).nullable().optional();
const docBody = z.object({
  name: z.string({ error: 'name is required' }).meta({ description: 'file name, may contain sub-folders (`deals/seen.md`)' }),
  content: z.string({ error: 'content is required (text)' }),
});
const docParams = z.object({ id: idParam, name: z.string().meta({ description: 'file name (URL-encoded; may contain sub-folders)' }) });

/** The REST API under `/api` (seed 000), JSON in and out; errors as `{error: {code, message}}`. */
export const apiRoutes = (engine: Engine): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<ZodTypeProvider>();
    const botId = (raw: string) => pathId(raw, 'BOT_NOT_FOUND', 'bot');
    const runId = (raw: string) => pathId(raw, 'RUN_NOT_FOUND', 'run');
    // Every row by id goes through engine.scope (another user's is 404, a viewer's change 403).
    const bot = async (req: { caller: Caller; params: { id: string } }, action: Action = 'read') => engine.scope.bot(req.caller, botId(req.params.id), action);

    app.get('/bots', { schema: { tags: ['bots'], summary: 'All bots with their status and figures', response: { 200: json(z.array(BotJson), 'oldest first') } } }, async (req) =>
      (await engine.bots.listSummaries(readScope(req.caller))).map(botJson),
    );

    app.post(
      '/bots',
      { schema: { tags: ['bots'], summary: 'Create a bot', body: botInputSchema, response: { 201: json(BotJson, 'the new bot (Location: /api/bots/{id})'), ...errorResponses('VALIDATION_FAILED', 'BOT_NAME_TAKEN', 'FORBIDDEN_ROLE') } } },
      async (req, reply) => {
        const bot = await engine.createBot(req.body, req.caller);
        reply.code(201).header('location', `/api/bots/${bot.id}`);
        return botJson(await engine.bots.summarize(bot));
      },
    );

    app.get('/bots/:id', { schema: { tags: ['bots'], summary: 'One bot', params: idParams, response: { 200: json(BotJson, 'the bot'), ...errorResponses('BOT_NOT_FOUND') } } }, async (req) =>
      botJson(await engine.bots.summarize(await bot(req))),
    );

    app.put(
      '/bots/:id',
      {
        schema: {
          tags: ['bots'],
          summary: 'Change some fields of a bot (the rest stay)',
          params: idParams,
          body: botPatchSchema,
          response: { 200: json(BotJson, 'the bot as it now is'), ...errorResponses('VALIDATION_FAILED', 'BOT_NOT_FOUND', 'BOT_NAME_TAKEN', 'FORBIDDEN_ROLE') },
        },
      },
      async (req) => botJson(await engine.bots.summarize(await engine.bots.update((await bot(req, 'write')).id, req.body))),
    );

    app.delete(
      '/bots/:id',
      { schema: { tags: ['bots'], summary: 'Delete a bot with its runs, results and docs folder (active runs are cancelled)', params: idParams, response: { 204: noContent, ...errorResponses('BOT_NOT_FOUND', 'FORBIDDEN_ROLE') } } },
      async (req, reply) => {
        await engine.deleteBot(botId(req.params.id), req.caller);
        return reply.code(204).send();
      },
    );

    app.post(
      '/bots/:id/run',
      {
        schema: {
          tags: ['runs'],
          summary: 'Start a run of the bot (queued until a slot is free)',
          params: idParams,
          body: runBody,
          response: { 202: json(RunJson, 'the queued run (Location: /api/runs/{id})'), ...errorResponses('VALIDATION_FAILED', 'BOT_NOT_FOUND', 'FORBIDDEN_ROLE', 'QUEUE_FULL', 'SHUTTING_DOWN') },
        },
      },
      async (req, reply) => {
        const run = await engine.startRun(botId(req.params.id), { input: req.body?.input ?? null, trigger: 'manual' }, req.caller);
        reply.code(202).header('location', `/api/runs/${run.id}`);
        return runJson(run);
      },
    );

    app.get(
      '/bots/:id/runs',
      {
        schema: {
          tags: ['runs'],
          summary: "The bot's runs, newest first",
          params: idParams,
          querystring: z.object({ limit: limitQuery(50, 500) }),
          response: { 200: json(z.array(RunJson), 'newest first'), ...errorResponses('VALIDATION_FAILED', 'BOT_NOT_FOUND') },
        },
      },
      async (req) => (await engine.runner.listForBot((await bot(req)).id, req.query.limit)).map(runJson),
    );

    app.get(
      '/bots/:id/results',
      {
        schema: {
          tags: ['results'],
          summary: "The bot's results, newest first",
          params: idParams,
          querystring: z.object({
            limit: limitQuery(50, 500),
            new: z.enum(['1', 'true', '0', 'false'], { error: 'new must be 1, true, 0 or false' }).optional().meta({ description: '1 or true: only the new ones of its latest run' }),
          }),
          response: { 200: json(z.array(ResultJson), 'newest first'), ...errorResponses('VALIDATION_FAILED', 'BOT_NOT_FOUND') },
        },
      },
      async (req) => {
        const onlyNew = req.query.new === '1' || req.query.new === 'true';
        return (await engine.results.list((await bot(req)).id, { limit: req.query.limit, onlyNew })).map(resultJson);
      },
    );

    const resultId = (raw: string) => pathId(raw, 'RESULT_NOT_FOUND', 'result');
    // Pin (default) or unpin with {"pinned": false}; DELETE unpins.
    app.post(
      '/results/:id/pin',
      { schema: { tags: ['results'], summary: 'Pin a result (or unpin with {"pinned": false})', params: idParams, body: pinBody, response: { 200: json(ResultJson, 'the result'), ...errorResponses('VALIDATION_FAILED', 'RESULT_NOT_FOUND', 'FORBIDDEN_ROLE') } } },
      async (req) => resultJson(await engine.results.setPinned((await engine.scope.result(req.caller, resultId(req.params.id), 'write')).id, req.body?.pinned ?? true)),
    );
    app.delete(
      '/results/:id/pin',
      { schema: { tags: ['results'], summary: 'Unpin a result', params: idParams, response: { 200: json(ResultJson, 'the result'), ...errorResponses('RESULT_NOT_FOUND', 'FORBIDDEN_ROLE') } } },
      async (req) => resultJson(await engine.results.setPinned((await engine.scope.result(req.caller, resultId(req.params.id), 'write')).id, false)),
    );

    app.get('/runs/:id', { schema: { tags: ['runs'], summary: 'One run', params: idParams, response: { 200: json(RunJson, 'the run'), ...errorResponses('RUN_NOT_FOUND') } } }, async (req) =>
      runJson(await engine.scope.run(req.caller, runId(req.params.id))),
    );

    app.get(
      '/runs/:id/logs',
      {
        schema: {
          tags: ['runs'],
          summary: "A run's log lines (at most 5000 per call)",
          params: idParams,
          querystring: z.object({
            after: z.coerce.number({ error: 'after must be a log sequence number (0 or more)' }).int('after must be a whole number').min(0, 'after must be 0 or more').max(Number.MAX_SAFE_INTEGER).default(0).meta({ description: 'only lines with a larger seq (default 0: from the start)' }),
          }),
          response: { 200: json(z.array(LogLineJson), 'in order'), ...errorResponses('VALIDATION_FAILED', 'RUN_NOT_FOUND') },
        },
      },
      async (req) => {
        const run = await engine.scope.run(req.caller, runId(req.params.id));
        return (await engine.runner.logs(run.id, req.query.after, 5000)).map((l) => ({ seq: l.seq, ts: new Date(l.ts).toISOString(), stream: l.stream, text: l.text }));
      },
    );

    app.post(
      '/runs/:id/cancel',
      { schema: { tags: ['runs'], summary: 'Cancel a queued or running run', params: idParams, response: { 200: json(RunJson, 'the run, now cancelled'), ...errorResponses('RUN_NOT_FOUND', 'RUN_NOT_ACTIVE', 'FORBIDDEN_ROLE') } } },
      async (req) => runJson(await engine.runner.cancel((await engine.scope.run(req.caller, runId(req.params.id), 'write')).id)),
    );

    app.get(
      '/runs/:id/events',
      {
        schema: {
          tags: ['runs'],
          summary: "A run's log as Server-Sent Events: `event: log` per line (id = seq; Last-Event-ID resumes), then one `event: end`",
          params: idParams,
          querystring: z.object({ lastEventId: z.string().optional().meta({ description: 'like the Last-Event-ID header' }) }),
          response: { 200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: z.string() } } }, ...errorResponses('RUN_NOT_FOUND') },
        },
      },
      async (req, reply) => {
        await streamRunLog(engine, req, reply, (await engine.scope.run(req.caller, runId(req.params.id))).id, jsonFormat);
      },
    );

    // Ready-made bots (seed 001's "Vorlagen"): POST one's fields to /api/bots to create it.
    app.get('/templates', { schema: { tags: ['bots'], summary: 'Ready-made bots: POST one to /api/bots to create it', response: { 200: json(z.array(TemplateJson), 'the templates') } } }, async () =>
      BOT_TEMPLATES.map((t) => ({ ...t, tools: [...t.tools] })),
    );

    app.get('/bots/:id/docs', { schema: { tags: ['docs'], summary: "The files of the bot's docs folder (its memory)", params: idParams, response: { 200: json(z.array(DocJson), 'the files'), ...errorResponses('BOT_NOT_FOUND') } } }, async (req) =>
      engine.docs.list((await bot(req)).docsPath).map(docJson),
    );

    // Upload: multipart/form-data (one or more files) or JSON {name, content}.
    app.post(
      '/bots/:id/docs',
      {
        schema: {
          tags: ['docs'],
          summary: 'Upload files (multipart/form-data) or write one text file (JSON {name, content})',
          params: idParams,
          body: {
            content: {
              'application/json': { schema: docBody },
              'multipart/form-data': { schema: z.object({ file: z.any().optional().meta({ type: 'string', format: 'binary', description: 'one or more file parts (any field name)' }) }) },
            },
          },
          response: {
            201: json(z.union([DocJson, z.array(DocJson)]), 'the file written (an array when several were uploaded)'),
            ...errorResponses('VALIDATION_FAILED', 'BAD_REQUEST', 'BOT_NOT_FOUND', 'FORBIDDEN_ROLE', 'DOC_INVALID_NAME', 'DOC_TOO_LARGE'),
          },
        },
      },
      async (req, reply) => {
        const { docsPath } = await bot(req, 'write');
        const saved = [];
        if (req.isMultipart()) {
          for await (const file of uploadedFiles(req)) saved.push(engine.docs.write(docsPath, file.filename, file.data));
          if (saved.length === 0) throw new AppError('VALIDATION_FAILED', 'No file in the upload.');
        } else {
          // Another content type than JSON is not validated by the route schema: check it here.
          const body = docBody.safeParse(req.body);
          if (!body.success) throw validationError(body.error);
          saved.push(engine.docs.write(docsPath, body.data.name, body.data.content));
        }
        reply.code(201);
        return saved.length === 1 ? docJson(saved[0]!) : saved.map(docJson);
      },
    );

    app.get(
      '/bots/:id/docs/:name',
      {
        schema: {
          tags: ['docs'],
          summary: 'Read a file (text types as text/plain, never as HTML)',
          params: docParams,
          response: { 200: { description: 'the file', content: { 'application/octet-stream': { schema: z.custom<Buffer>().meta({ type: 'string', format: 'binary' }) } } }, ...errorResponses('BOT_NOT_FOUND', 'DOC_NOT_FOUND', 'DOC_INVALID_NAME') },
        },
      },
      async (req, reply) => {
        const data = engine.docs.read((await bot(req)).docsPath, req.params.name);
        reply.header('content-type', contentTypeOf(req.params.name));
        reply.header('content-disposition', `inline; filename*=UTF-8''${encodeURIComponent(req.params.name)}`);
        reply.header('x-content-type-options', 'nosniff');
        return reply.send(data);
      },
    );

    app.delete(
      '/bots/:id/docs/:name',
      { schema: { tags: ['docs'], summary: 'Delete a file', params: docParams, response: { 204: noContent, ...errorResponses('BOT_NOT_FOUND', 'FORBIDDEN_ROLE', 'DOC_NOT_FOUND', 'DOC_INVALID_NAME') } } },
      async (req, reply) => {
        engine.docs.delete((await bot(req, 'write')).docsPath, req.params.name);
        return reply.code(204).send();
      },
    );

    app.get(
      '/events',
      { schema: { tags: ['activity'], summary: 'The activity feed, newest first', querystring: z.object({ limit: limitQuery(20, 200) }), response: { 200: json(z.array(EventJson), 'newest first'), ...errorResponses('VALIDATION_FAILED') } } },
      async (req) => (await engine.activity.list(req.query.limit, readScope(req.caller))).map(eventJson),
    );
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
