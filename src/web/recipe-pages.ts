import { assertMayCreate, readScope } from '../engine/access.ts';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Eta } from 'eta';
import type { Engine } from '../engine/engine.ts';
import type { StreamHub } from './live/hub.ts';
import { AppError, isAppError } from '../engine/errors.ts';
import type { RecipeCreated } from '../engine/recipes.ts';
import { uploadedFiles } from './uploads.ts';
import { dashboardStream } from './live/view.ts';
import { view } from './view-helpers.ts';

type Form = Record<string, string | string[] | undefined>;

/** Where a person goes after creating a recipe: its pipeline, else the bot to start. */
function landing(made: RecipeCreated): string {
  if (made.pipeline) return `/pipelines/${made.pipeline.id}`;
  return `/bots/${(made.start ?? made.bots[0]!).id}`;
}

/**
 * The recipe library page (`/recipes`): each recipe with what it makes, "Use this recipe" (one
 * click creates its bots, pipeline and connections, then opens the pipeline), its file to
 * download, and an import form for a recipe file (uploaded, or pasted as JSON).
 */
export const recipePages = (engine: Engine, viewsDir: string, hub: StreamHub): FastifyPluginAsync =>
  async (app) => {
    const eta = new Eta({ views: viewsDir, cache: true, autoEscape: true, autoTrim: false });
    // "Export a pipeline" offers the caller's pipelines (all of them for an admin or viewer).
    const render = async (req: FastifyRequest, reply: FastifyReply, data: { error?: string; json?: string } = {}) =>
      reply.type('text/html; charset=utf-8').send(eta.render('recipes', { recipes: engine.recipes.list(), pipelines: await engine.pipelines.list(readScope(req.caller)), h: view, tz: view.tz, stream: dashboardStream(hub, req.caller), ...data }));

    app.get('/recipes', async (req, reply) => render(req, reply));

    app.post<{ Params: { id: string } }>('/recipes/:id/create', async (req, reply) => {
      assertMayCreate(req.caller);
      const made = await engine.recipes.create(engine.recipes.get(req.params.id), req.caller.userId);
      if (req.headers['hx-request']) return reply.header('hx-redirect', landing(made)).send('');
      return reply.redirect(landing(made), 303);
    });

    // A recipe file: uploaded (multipart, one file) or pasted (form field `json`).
    app.post('/recipes/import', async (req, reply) => {
      let text = '';
      try {
        if (req.isMultipart()) {
          for await (const file of uploadedFiles(req)) text ||= file.data.toString('utf8');
        } else {
          const json = ((req.body ?? {}) as Form).json;
          text = typeof json === 'string' ? json : '';
        }
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          throw new AppError('VALIDATION_FAILED', 'That is not JSON: pick a recipe file (.recipe.json) exported from openOrchestrator, or paste its text.');
        }
        assertMayCreate(req.caller);
        const made = await engine.recipes.create(parsed, req.caller.userId);
        return reply.redirect(landing(made), 303);
      } catch (err) {
        if (!isAppError(err)) throw err;
        return render(req, reply.code(err.status), { error: err.message, json: text.slice(0, 200_000) });
      }
    });
  };
