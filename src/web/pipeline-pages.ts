import type { Action } from '../engine/scope.ts';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Eta } from 'eta';
import type { Engine } from '../engine/engine.ts';
import type { StreamHub } from './live/hub.ts';
import { AppError, isAppError } from '../engine/errors.ts';
import { markdownToHtml } from '../engine/export.ts';
import { INPUT_SOURCES, OUTPUT_TARGETS, type PipelineRunStep, type PipelineStep, type PipelineView } from '../engine/pipelines.ts';
import { assertNever } from '../engine/run-status.ts';
import { nextRunAt } from '../engine/scheduler.ts';
import { pathId } from './params.ts';
import { dashboardStream } from './live/view.ts';
import { view } from './view-helpers.ts';

type Form = Record<string, string | string[] | undefined>;

/** A step's state in a run as people read it: a plain glyph (every font has it) and a word. */
export function stepGlyph(status: PipelineRunStep['status']): { glyph: string; word: string; cls: string } {
  switch (status) {
    case 'completed':
      return { glyph: '✓', word: 'done', cls: 'done' };
    case 'running':
      return { glyph: '↻', word: 'running', cls: 'running' };
    case 'queued':
    case 'pending':
      return { glyph: '○', word: 'waiting', cls: 'waiting' };
    case 'awaiting_approval':
      return { glyph: '‖', word: 'awaiting approval', cls: 'approval' };
    case 'failed':
    case 'interrupted':
      return { glyph: '✗', word: status === 'failed' ? 'failed' : 'interrupted', cls: 'failed' };
    case 'rejected':
      return { glyph: '⊘', word: 'rejected', cls: 'rejected' };
    case 'cancelled':
      return { glyph: '■', word: 'cancelled', cls: 'cancelled' };
    default:
      return assertNever(status);
  }
}

const SOURCE_LABELS: Record<(typeof INPUT_SOURCES)[number], string> = {
  previous: 'the previous step’s output',
  pipeline_input: 'the pipeline run’s input',
  text: 'this text',
  doc: 'a file of its documents',
};
const TARGET_LABELS: Record<(typeof OUTPUT_TARGETS)[number], string> = {
  next: 'the next step',
  results: 'the bot’s results',
  doc: 'a file of its documents',
};

/** Values of a repeated form field, in order (one value arrives as a string). */
function list(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/**
 * Steps as the steps form sends them: one value per step for each field, in the order the steps
 * stand on the page (so a drag and drop is a new order of the same fields).
 * @throws {AppError} VALIDATION_FAILED when a step has no bot picked (a broken step not yet fixed)
 */
export function stepsFromForm(body: Form): Record<string, unknown>[] {
  const bots = list(body.bot_id);
  const f = (name: string) => list(body[name]);
  return bots.map((bot, i) => {
    if (!/^\d{1,15}$/.test(bot)) throw new AppError('VALIDATION_FAILED', `Step ${i + 1}: pick a bot for it (its bot was deleted), or remove the step.`);
    const source = f('input_source')[i] || 'previous';
    const target = f('output_target')[i] || 'next';
    return {
      bot_id: Number(bot),
      input_source: source,
      ...(source === 'text' ? { input_text: f('input_text')[i] ?? '' } : {}),
      ...(source === 'doc' ? { input_doc: (f('input_doc')[i] ?? '').trim() || null } : {}),
      output_target: target,
      ...(target === 'doc' ? { output_doc: (f('output_doc')[i] ?? '').trim() || null } : {}),
      requires_approval: f('requires_approval')[i] === '1',
    };
  });
}

/** The steps as they are, to send back with one change. */
function stepsOf(p: PipelineView): PipelineStep[] {
  return p.steps.map((s) => ({ ...s }));
}

/**
 * A pipeline's own page (`/pipelines/:id`): rename and delete; its steps, each with its bot, where
 * its input comes from and where its output goes, reordered by drag and drop (SortableJS) or the
 * keyboard (↑/↓, or the arrow keys on a step's handle); add and remove steps; fix a broken step;
 * a run form with an input; the run history with each step's state, duration and output; the
 * Result view of the last output; export as a recipe file and of its results.
 */
export const pipelinePages = (engine: Engine, viewsDir: string, hub: StreamHub): FastifyPluginAsync =>
  async (app) => {
    const eta = new Eta({ views: viewsDir, cache: true, autoEscape: true, autoTrim: false });
    const helpers = { h: view, tz: view.tz, stepGlyph, SOURCE_LABELS, TARGET_LABELS, INPUT_SOURCES, OUTPUT_TARGETS };
    const html = (reply: FastifyReply, name: string, data: Record<string, unknown>) => reply.type('text/html; charset=utf-8').send(eta.render(name, { ...helpers, ...data }));
    const idOf = (raw: string) => pathId(raw, 'PIPELINE_NOT_FOUND', 'pipeline');

    // A step may only use a bot of the pipeline's owner (src/engine/pipelines.ts).
    const editorData = async (p: PipelineView, extra: { error?: string; saved?: string; focus?: number } = {}) => ({ pipeline: p, bots: await engine.bots.list(p.ownerId), ...extra });
    /** The pipeline of the path as the caller may see it (`write`: change it). */
    const pipelineOf = (req: FastifyRequest<{ Params: { id: string } }>, action: Action = 'read') => engine.scope.pipeline(req.caller, idOf(req.params.id), action);
    const historyData = async (p: PipelineView, extra: { error?: string } = {}) => ({ pipeline: p, runs: await engine.pipelines.listRuns(p.id, 20), ...extra });

    app.get<{ Params: { id: string } }>('/pipelines/:id', async (req, reply) => {
      const p = await pipelineOf(req);
      return html(reply, 'pipeline', {
        ...(await editorData(p)),
        ...(await historyData(p)),
        nextRunAt: nextRunAt({ schedule: p.schedule }),
        stream: dashboardStream(hub, req.caller),
        connections: (await engine.triggers.list()).filter((t) => t.targetKind === 'pipeline' && t.target.id === p.id),
      });
    });

    /** Runs `change` and answers with the steps editor (htmx) or the page (a plain post). */
    const editSteps = async (req: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply, change: (p: PipelineView, body: Form) => Promise<{ focus?: number; saved: string }>) => {
      const id = (await pipelineOf(req, 'write')).id;
      const body = (req.body ?? {}) as Form;
      const htmx = Boolean(req.headers['hx-request']);
      try {
        const { focus, saved } = await change(await engine.pipelines.get(id), body);
        if (!htmx) return reply.redirect(`/pipelines/${id}`, 303);
        return html(reply, 'partials/pipeline-steps', await editorData(await engine.pipelines.get(id), { saved, focus }));
      } catch (err) {
        if (!isAppError(err) || !htmx) throw err;
        return html(reply, 'partials/pipeline-steps', await editorData(await engine.pipelines.get(id), { error: err.message }));
      }
    };

    // The steps form: saves the steps in the order they stand; `move` (`<i>:up|down`) or `remove`
    // (`<i>`) change that order first (the ↑ ↓ ✕ buttons).
    app.post<{ Params: { id: string } }>('/pipelines/:id/steps', async (req, reply) =>
      editSteps(req, reply, async (p, body) => {
        const steps = stepsFromForm(body);
        let focus: number | undefined;
        let saved = 'Steps saved.';
        const move = /^(\d{1,3}):(up|down)$/.exec(String(body.move ?? ''));
        const remove = /^\d{1,3}$/.test(String(body.remove ?? '')) ? Number(body.remove) : null;
        if (move) {
          const i = Number(move[1]);
          const j = move[2] === 'up' ? i - 1 : i + 1;
          if (i < steps.length && j >= 0 && j < steps.length) {
            [steps[i], steps[j]] = [steps[j]!, steps[i]!];
            focus = j;
            saved = `Step moved to place ${j + 1}.`;
          }
        } else if (remove !== null && remove < steps.length) {
          if (steps.length === 1) throw new AppError('VALIDATION_FAILED', 'A pipeline needs at least one step; delete the pipeline instead.');
          steps.splice(remove, 1);
          saved = `Step ${remove + 1} removed.`;
        }
        await engine.pipelines.update(p.id, { steps });
        return { focus, saved };
      }),
    );

    app.post<{ Params: { id: string } }>('/pipelines/:id/steps/add', async (req, reply) =>
      editSteps(req, reply, async (p, body) => {
        const bot = await engine.bots.get(pathId(String(body.bot_id ?? ''), 'BOT_NOT_FOUND', 'bot'));
        await engine.pipelines.update(p.id, { steps: [...stepsOf(p), { bot_id: bot.id }] });
        return { saved: `${bot.name} added as step ${p.steps.length + 1}.`, focus: p.steps.length };
      }),
    );

    app.post<{ Params: { id: string } }>('/pipelines/:id/rename', async (req, reply) => {
      const id = (await pipelineOf(req, 'write')).id;
      const body = (req.body ?? {}) as Form;
      try {
        await engine.pipelines.update(id, { name: String(body.name ?? ''), description: String(body.description ?? '') });
      } catch (err) {
        if (!isAppError(err) || !req.headers['hx-request']) throw err;
        return reply.type('text/html; charset=utf-8').send(`<div class="form-error" role="alert">${escapeHtml(err.message)}</div>`);
      }
      if (req.headers['hx-request']) return reply.header('hx-redirect', `/pipelines/${id}`).send('');
      return reply.redirect(`/pipelines/${id}`, 303);
    });

    app.post<{ Params: { id: string } }>('/pipelines/:id/delete', async (req, reply) => {
      await engine.pipelines.delete((await pipelineOf(req, 'write')).id);
      if (req.headers['hx-request']) return reply.header('hx-redirect', '/').send('');
      return reply.redirect('/', 303);
    });

    // The run form: starts a run with the input typed; answers with the history.
    app.post<{ Params: { id: string } }>('/pipelines/:id/runs', async (req, reply) => {
      const p = await pipelineOf(req, 'write');
      const input = String(((req.body ?? {}) as Form).input ?? '').replace(/\r\n?/g, '\n').trim();
      const htmx = Boolean(req.headers['hx-request']);
      try {
        await engine.pipelines.run(p.id, { input: input || null, trigger: 'manual' });
      } catch (err) {
        if (!isAppError(err) || !htmx) throw err;
        return html(reply, 'partials/pipeline-history', await historyData(await engine.pipelines.get(p.id), { error: err.message }));
      }
      if (!htmx) return reply.redirect(`/pipelines/${p.id}`, 303);
      return html(reply, 'partials/pipeline-history', await historyData(await engine.pipelines.get(p.id)));
    });

    app.get<{ Params: { id: string } }>('/partials/pipelines/:id/history', async (req, reply) => html(reply, 'partials/pipeline-history', await historyData(await pipelineOf(req))));

    // The Result view: the last completed run's output, its Markdown rendered (raw HTML shown as text).
    app.get<{ Params: { id: string } }>('/pipelines/:id/result', async (req, reply) => {
      const p = await pipelineOf(req);
      const last = (await engine.pipelines.listRuns(p.id, 200)).find((r) => r.status === 'completed');
      return html(reply, 'pipeline-result', { pipeline: p, last: last ?? null, rendered: last?.output ? markdownToHtml(last.output) : '', stream: dashboardStream(hub, req.caller) });
    });
  };

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
