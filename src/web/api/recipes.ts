import { assertMayCreate } from '../../engine/access.ts';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Engine } from '../../engine/engine.ts';
import { EXPORT_FORMATS, exportResults, slugOf, type ExportFile, type ExportFormat, type ExportItem } from '../../engine/export.ts';
import { recipeSchema, type Recipe, type RecipeCreated } from '../../engine/recipes.ts';
import { pathId } from '../params.ts';
import { pipelineJson, triggerJson } from './orchestration.ts';
import { errorResponses, idParams, json, RecipeCreatedJson, RecipeSummaryJson } from './schemas.ts';
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

/** Sends a file as a download. */
export function sendFile(reply: FastifyReply, file: ExportFile) {
  return reply
    .type(file.contentType)
    .header('content-disposition', `attachment; filename="${file.filename}"`)
    .header('x-content-type-options', 'nosniff')
    .send(file.body);
}

/** A bot's results as an export (newest first, at most 500). @throws {AppError} BOT_NOT_FOUND, VALIDATION_FAILED */
export async function botResultsFile(engine: Engine, botId: number, format: ExportFormat): Promise<ExportFile> {
  const bot = await engine.bots.get(botId);
  const items: ExportItem[] = (await engine.results.list(bot.id, { limit: 500 })).map((r) => ({
    title: r.title,
    content: r.content,
    url: r.url,
    at: r.createdAt,
    meta: [r.runId ? `run #${r.runId}` : '', r.pinned ? 'pinned' : ''].filter(Boolean).join(' · '),
  }));
  return exportResults(`${bot.emoji} ${bot.name} — results`, `${slugOf(bot.name)}-results`, items, format);
}

/** A pipeline's results: the outputs of its completed runs, newest first (at most 200). @throws {AppError} PIPELINE_NOT_FOUND */
export async function pipelineResultsFile(engine: Engine, pipelineId: number, format: ExportFormat): Promise<ExportFile> {
  const p = await engine.pipelines.get(pipelineId);
  const items: ExportItem[] = (await engine.pipelines.listRuns(p.id, 200))
    .filter((r) => r.status === 'completed' && r.output)
    .map((r) => ({
      title: `${p.name} — run #${r.id}`,
      content: r.output ?? '',
      at: r.finishedAt ?? r.createdAt,
      meta: r.input ? `input: ${r.input.replace(/\s+/g, ' ').slice(0, 120)}` : '',
    }));
  return exportResults(`${p.name} — results`, `${slugOf(p.name)}-results`, items, format);
}

const formatQuery = z.object({ format: z.enum(EXPORT_FORMATS, { error: `format must be one of ${EXPORT_FORMATS.join(', ')}` }).default('md').meta({ description: 'md (Markdown) or html (a standalone page)' }) });
const recipeFile = (description: string) => ({ description, content: { 'application/json': { schema: recipeSchema } } });
const download = (description: string) => ({
  description,
  content: { 'text/markdown': { schema: z.string() }, 'text/html': { schema: z.string() } },
});
const recipeIdParams = z.object({ id: z.string().meta({ description: 'a library recipe id, e.g. answer-email' }) });

/**
 * The recipe library and recipe files: `GET /recipes`, `GET /recipes/:id` (the recipe file),
 * `POST /recipes/:id/create` (one click: its bots, pipeline and connections), `POST
 * /recipes/import` (a recipe file as the body), `GET /pipelines/:id/export` (a pipeline as a
 * recipe file); exports of results: `GET /bots/:id/results/export?format=md|html` and `GET
 * /pipelines/:id/results/export?format=md|html`.
 */
export const recipeRoutes = (engine: Engine): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<ZodTypeProvider>();
    const created = (c: RecipeCreated) => recipeCreatedJson(c);
    const createErrors = errorResponses('VALIDATION_FAILED', 'BOT_NOT_FOUND', 'TRIGGER_EXISTS', 'TRIGGER_CYCLE');

    app.get('/recipes', { schema: { tags: ['recipes'], summary: 'The recipe library', response: { 200: json(z.array(RecipeSummaryJson), 'in library order') } } }, async () => engine.recipes.list().map(recipeSummaryJson));

    app.get(
      '/recipes/:id',
      { schema: { tags: ['recipes'], summary: "A library recipe's file (a download)", params: recipeIdParams, response: { 200: recipeFile('the recipe file'), ...errorResponses('RECIPE_NOT_FOUND') } } },
      async (req, reply) => {
        const r = engine.recipes.get(req.params.id);
        return sendFile(reply, { filename: `${r.id}.recipe.json`, contentType: 'application/json; charset=utf-8', body: JSON.stringify(r, null, 2) });
      },
    );

    app.post(
      '/recipes/:id/create',
      { schema: { tags: ['recipes'], summary: "Create a library recipe's bots, pipeline and connections in one call", params: recipeIdParams, response: { 201: json(RecipeCreatedJson, 'what was made'), ...errorResponses('RECIPE_NOT_FOUND'), ...createErrors } } },
      async (req, reply) => {
        assertMayCreate(req.caller);
        const made = await engine.recipes.create(engine.recipes.get(req.params.id), req.caller.userId);
        reply.code(201);
        return created(made);
      },
    );

    app.post(
      '/recipes/import',
      { schema: { tags: ['recipes'], summary: 'Create what a recipe file describes (exported here or on another instance)', body: recipeSchema, response: { 201: json(RecipeCreatedJson, 'what was made'), ...createErrors } } },
      async (req, reply) => {
        assertMayCreate(req.caller);
        const made = await engine.recipes.create(req.body, req.caller.userId);
        reply.code(201);
        return created(made);
      },
    );

    app.get(
      '/pipelines/:id/export',
      { schema: { tags: ['recipes'], summary: 'A pipeline as a recipe file (bots, steps, connections; never secrets)', params: idParams, response: { 200: recipeFile('the recipe file (a download)'), ...errorResponses('PIPELINE_NOT_FOUND', 'PIPELINE_BROKEN') } } },
      async (req, reply) => {
        const recipe = await engine.recipes.exportPipeline((await engine.scope.pipeline(req.caller, pathId(req.params.id, 'PIPELINE_NOT_FOUND', 'pipeline'))).id);
        return sendFile(reply, { filename: `${slugOf(recipe.name)}.recipe.json`, contentType: 'application/json; charset=utf-8', body: JSON.stringify(recipe, null, 2) });
      },
    );

    app.get(
      '/bots/:id/results/export',
      { schema: { tags: ['results'], summary: "A bot's results as Markdown or HTML (a download)", params: idParams, querystring: formatQuery, response: { 200: download('the results'), ...errorResponses('VALIDATION_FAILED', 'BOT_NOT_FOUND') } } },
      async (req, reply) => sendFile(reply, await botResultsFile(engine, (await engine.scope.bot(req.caller, pathId(req.params.id, 'BOT_NOT_FOUND', 'bot'))).id, req.query.format)),
    );

    app.get(
      '/pipelines/:id/results/export',
      {
        schema: {
          tags: ['pipelines'],
          summary: "A pipeline's results (the outputs of its completed runs) as Markdown or HTML (a download)",
          params: idParams,
          querystring: formatQuery,
          response: { 200: download('the outputs'), ...errorResponses('VALIDATION_FAILED', 'PIPELINE_NOT_FOUND') },
        },
      },
      async (req, reply) => sendFile(reply, await pipelineResultsFile(engine, (await engine.scope.pipeline(req.caller, pathId(req.params.id, 'PIPELINE_NOT_FOUND', 'pipeline'))).id, req.query.format)),
    );
  };
