import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { Engine } from '../../engine/engine.ts';
import { AppError } from '../../engine/errors.ts';
import { EXPORT_FORMATS, exportResults, slugOf, type ExportFile, type ExportFormat, type ExportItem } from '../../engine/export.ts';
import type { Recipe, RecipeCreated } from '../../engine/recipes.ts';
import { pathId } from '../params.ts';
import { pipelineJson, triggerJson } from './orchestration.ts';
import { botJson } from './serialize.ts';

/** A library recipe as listed: what it is and what it makes. */
export function recipeSummaryJson(r: Recipe) {
  return {
    id: r.id,
    name: r.name,
    description: r.description ?? '',
    bots: r.bots.map((b) => ({ ref: b.ref, name: b.name, emoji: b.emoji ?? '🤖', requires_approval: b.requires_approval ?? false })),
    pipeline: r.pipeline ? { name: r.pipeline.name, steps: r.pipeline.steps.map((s) => ({ bot: s.bot, requires_approval: s.requires_approval ?? false })) } : null,
    connections: r.connections ?? [],
  };
}

/** What creating a recipe made. */
export function recipeCreatedJson(c: RecipeCreated) {
  return {
    bots: c.bots.map(botJson),
    pipeline: c.pipeline && pipelineJson(c.pipeline),
    connections: c.connections.map(triggerJson),
    start_bot_id: c.start?.id ?? null,
    notes: c.notes,
  };
}

/** The export format a query asks for. @throws {AppError} VALIDATION_FAILED */
export function exportFormat(raw: string | undefined): ExportFormat {
  const f = raw ?? 'md';
  if (!(EXPORT_FORMATS as readonly string[]).includes(f)) throw new AppError('VALIDATION_FAILED', `format must be one of ${EXPORT_FORMATS.join(', ')}`);
  return f as ExportFormat;
}

/** Sends a file as a download. */
export function sendFile(reply: FastifyReply, file: ExportFile) {
  return reply
    .type(file.contentType)
    .header('content-disposition', `attachment; filename="${file.filename}"`)
    .header('x-content-type-options', 'nosniff')
    .send(file.body);
}

/** A bot's results as an export (newest first, at most 500). @throws {AppError} BOT_NOT_FOUND, VALIDATION_FAILED */
export function botResultsFile(engine: Engine, botId: number, format: ExportFormat): ExportFile {
  const bot = engine.bots.get(botId);
  const items: ExportItem[] = engine.results.list(bot.id, { limit: 500 }).map((r) => ({
    title: r.title,
    content: r.content,
    url: r.url,
    at: r.createdAt,
    meta: [r.runId ? `run #${r.runId}` : '', r.pinned ? 'pinned' : ''].filter(Boolean).join(' · '),
  }));
  return exportResults(`${bot.emoji} ${bot.name} — results`, `${slugOf(bot.name)}-results`, items, format);
}

/** A pipeline's results: the outputs of its completed runs, newest first (at most 200). @throws {AppError} PIPELINE_NOT_FOUND */
export function pipelineResultsFile(engine: Engine, pipelineId: number, format: ExportFormat): ExportFile {
  const p = engine.pipelines.get(pipelineId);
  const items: ExportItem[] = engine.pipelines
    .listRuns(p.id, 200)
    .filter((r) => r.status === 'completed' && r.output)
    .map((r) => ({
      title: `${p.name} — run #${r.id}`,
      content: r.output ?? '',
      at: r.finishedAt ?? r.createdAt,
      meta: r.input ? `input: ${r.input.replace(/\s+/g, ' ').slice(0, 120)}` : '',
    }));
  return exportResults(`${p.name} — results`, `${slugOf(p.name)}-results`, items, format);
}

/**
 * The recipe library and recipe files: `GET /recipes`, `GET /recipes/:id` (the recipe file),
 * `POST /recipes/:id/create` (one click: its bots, pipeline and connections), `POST
 * /recipes/import` (a recipe file as the body), `GET /pipelines/:id/export` (a pipeline as a
 * recipe file); exports of results: `GET /bots/:id/results/export?format=md|html` and `GET
 * /pipelines/:id/results/export?format=md|html`.
 */
export const recipeRoutes = (engine: Engine): FastifyPluginAsync =>
  async (app) => {
    app.get('/recipes', async () => engine.recipes.list().map(recipeSummaryJson));

    app.get<{ Params: { id: string } }>('/recipes/:id', async (req, reply) => {
      const r = engine.recipes.get(req.params.id);
      return sendFile(reply, { filename: `${r.id}.recipe.json`, contentType: 'application/json; charset=utf-8', body: JSON.stringify(r, null, 2) });
    });

    app.post<{ Params: { id: string } }>('/recipes/:id/create', async (req, reply) => {
      const made = engine.recipes.create(engine.recipes.get(req.params.id));
      reply.code(201);
      return recipeCreatedJson(made);
    });

    app.post('/recipes/import', async (req, reply) => {
      const made = engine.recipes.create(req.body ?? {});
      reply.code(201);
      return recipeCreatedJson(made);
    });

    app.get<{ Params: { id: string } }>('/pipelines/:id/export', async (req, reply) => {
      const recipe = engine.recipes.exportPipeline(pathId(req.params.id, 'PIPELINE_NOT_FOUND', 'pipeline'));
      return sendFile(reply, { filename: `${slugOf(recipe.name)}.recipe.json`, contentType: 'application/json; charset=utf-8', body: JSON.stringify(recipe, null, 2) });
    });

    app.get<{ Params: { id: string }; Querystring: { format?: string } }>('/bots/:id/results/export', async (req, reply) =>
      sendFile(reply, botResultsFile(engine, pathId(req.params.id, 'BOT_NOT_FOUND', 'bot'), exportFormat(req.query.format))),
    );

    app.get<{ Params: { id: string }; Querystring: { format?: string } }>('/pipelines/:id/results/export', async (req, reply) =>
      sendFile(reply, pipelineResultsFile(engine, pathId(req.params.id, 'PIPELINE_NOT_FOUND', 'pipeline'), exportFormat(req.query.format))),
    );
  };
