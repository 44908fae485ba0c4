import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Eta } from 'eta';
import { assertMayCreate, readScope } from '../engine/access.ts';
import type { Engine } from '../engine/engine.ts';
import { isAppError } from '../engine/errors.ts';
import { pathId } from './params.ts';
import { pipelineListData } from './live/parts.ts';
import { TRIGGER_EVENTS } from '../engine/triggers.ts';
import { view } from './view-helpers.ts';

type Form = Record<string, string | string[] | undefined>;

/**
 * The dashboard's connections (triggers) and pipelines panels, loaded into the dashboard by htmx,
 * with their forms and toggles. Each action answers with the re-rendered panel for htmx, or a
 * redirect to `/` for a plain form post.
 */
export const orchestrationPages = (engine: Engine, viewsDir: string): FastifyPluginAsync =>
  async (app) => {
    const eta = new Eta({ views: viewsDir, cache: true, autoEscape: true, autoTrim: false });
    const html = (reply: FastifyReply, name: string, data: Record<string, unknown>) =>
      reply.type('text/html; charset=utf-8').send(eta.render(name, { ...data, h: view }));

    // What the caller may see (src/engine/access.ts): an operator's own connections, bots, pipelines.
    const connections = async (req: FastifyRequest, reply: FastifyReply, extra: { error?: string; values?: Form; listOnly?: boolean } = {}) =>
      html(reply, 'partials/connections', {
        listOnly: extra.listOnly ?? false,
        triggers: await engine.triggers.list({ ownerId: readScope(req.caller) }),
        bots: await engine.bots.list(readScope(req.caller)),
        pipelines: await engine.pipelines.list(readScope(req.caller)),
        events: TRIGGER_EVENTS,
        error: extra.error,
        values: extra.values ?? {},
      });

    const pipelines = async (req: FastifyRequest, reply: FastifyReply, extra: { error?: string; values?: Form; listOnly?: boolean } = {}) =>
      html(reply, 'partials/pipelines', {
        pipelines: await pipelineListData(engine, readScope(req.caller)),
        error: extra.error,
        values: extra.values ?? {},
        listOnly: extra.listOnly ?? false,
      });

    /** Runs `action`; an AppError becomes the panel re-rendered with the message (and what was typed). */
    const act = async (
      req: FastifyRequest,
      reply: FastifyReply,
      action: () => unknown,
      panel: (req: FastifyRequest, reply: FastifyReply, extra: { error?: string; values?: Form }) => Promise<FastifyReply>,
    ) => {
      const htmx = Boolean(req.headers['hx-request']);
      try {
        await action();
      } catch (err) {
        if (!isAppError(err)) throw err;
        if (!htmx) throw err;
        return panel(req, reply, { error: err.message, values: (req.body ?? {}) as Form });
      }
      return htmx ? panel(req, reply, {}) : reply.redirect('/', 303);
    };

    // `?list=1`: the list alone, which re-fetches itself on the live stream's `connections` event.
    app.get<{ Querystring: { list?: string } }>('/partials/connections', async (req, reply) => connections(req, reply, { listOnly: req.query.list === '1' }));
    // The pipeline form's suggestions: the names of the bots a new pipeline of the caller may use (their own).
    app.get('/partials/bot-names', async (req, reply) =>
      html(reply, 'partials/bot-names', { names: (await engine.bots.list(req.caller.userId)).map((b) => b.name) }),
    );

    app.post('/connections', async (req, reply) => {
      const body = (req.body ?? {}) as Form;
      // The target select offers bots (their ids) and pipelines (`p:<id>`).
      const target = String(Array.isArray(body.target_bot) ? body.target_bot[0] : (body.target_bot ?? ''));
      const to = /^p:\d{1,15}$/.test(target) ? { target_pipeline: Number(target.slice(2)) } : { target_bot: asRef(target) };
      return act(req, reply, () => engine.triggers.create({ source_bot: asRef(body.source_bot), event: String(body.event ?? ''), ...to }, req.caller), connections);
    });

    app.post<{ Params: { id: string } }>('/connections/:id/toggle', async (req, reply) =>
      act(
        req,
        reply,
        async () => {
          const id = pathId(req.params.id, 'TRIGGER_NOT_FOUND', 'trigger');
          await engine.triggers.update(id, { enabled: !(await engine.triggers.getFor(req.caller, id, 'write')).enabled }, req.caller);
        },
        connections,
      ),
    );

    app.post<{ Params: { id: string } }>('/connections/:id/delete', async (req, reply) =>
      act(req, reply, () => engine.triggers.delete(pathId(req.params.id, 'TRIGGER_NOT_FOUND', 'trigger'), req.caller), connections),
    );

    app.get<{ Querystring: { list?: string } }>('/partials/pipelines', async (req, reply) => pipelines(req, reply, { listOnly: req.query.list === '1' }));

    app.post('/pipelines', async (req, reply) => {
      const body = (req.body ?? {}) as Form;
      const steps = String(body.steps ?? '')
        .split(/\s*(?:,|→|->)\s*/)
        .map((s) => s.trim())
        .filter(Boolean);
      return act(
        req,
        reply,
        async () => {
          assertMayCreate(req.caller);
          return engine.pipelines.create({ name: String(body.name ?? ''), steps, schedule: String(body.schedule ?? '').trim() || null }, req.caller.userId);
        },
        pipelines,
      );
    });

    app.post<{ Params: { id: string } }>('/pipelines/:id/run', async (req, reply) => {
      const input = String(((req.body ?? {}) as Form).input ?? '').trim();
      return act(req, reply, async () => engine.pipelines.run((await engine.scope.pipeline(req.caller, pathId(req.params.id, 'PIPELINE_NOT_FOUND', 'pipeline'), 'write')).id, { input: input || null, trigger: 'manual' }), pipelines);
    });

    app.post<{ Params: { id: string } }>('/pipeline-runs/:id/cancel', async (req, reply) =>
      act(req, reply, async () => engine.pipelines.cancelRun((await engine.scope.pipelineRun(req.caller, pathId(req.params.id, 'PIPELINE_RUN_NOT_FOUND', 'pipeline run'), 'write')).id), pipelines),
    );
  };

/** A bot reference from a form field: the selects send ids (digits); anything else is a name. */
function asRef(v: string | string[] | undefined): string | number {
  const s = String(Array.isArray(v) ? v[0] : (v ?? '')).trim();
  return /^\d{1,15}$/.test(s) ? Number(s) : s;
}
