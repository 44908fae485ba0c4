import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { Eta } from 'eta';
import type { Engine } from '../engine/engine.ts';
import { AppError, isAppError } from '../engine/errors.ts';
import type { BotRow, RunLogRow } from '../engine/db/schema.ts';
import { isFinalRunStatus, type RunStatus } from '../engine/run-status.ts';
import { suggestedModels } from '../engine/providers/models.ts';
import { TOOL_NAMES } from '../engine/bots.ts';
import { BOT_TEMPLATES, findTemplate } from '../engine/templates.ts';
import { createBotFromForm, newBotFormDefaults, newBotFormOptions, readNewBotForm, scheduleFields, type NewBotFormValues } from './bot-form.ts';
import { pathId } from './params.ts';
import { streamRunLog, type LogStreamFormat } from './sse.ts';
import { view } from './view-helpers.ts';

interface SettingsValues {
  name: string;
  emoji: string;
  requiresApproval: boolean;
  description: string;
  prompt: string;
  model: string;
  schedule: string;
  tools: string[];
}

/** The dashboard: server-rendered pages (eta) that htmx updates in place. */
export const pageRoutes = (engine: Engine, viewsDir: string): FastifyPluginAsync =>
  async (app) => {
    const eta = new Eta({ views: viewsDir, cache: true, autoEscape: true, autoTrim: false });
    const render = (reply: FastifyReply, name: string, data: Record<string, unknown>) =>
      reply.type('text/html; charset=utf-8').send(eta.render(name, { ...data, h: view, tz: view.tz }));

    // The New-bot form's fields and what they wire up live in bot-form.ts.
    const formContext = (values: NewBotFormValues = newBotFormDefaults(engine), error?: string) => ({
      values,
      error,
      ...newBotFormOptions(engine),
      tools: TOOL_NAMES,
      templates: BOT_TEMPLATES,
    });

    const htmlFormat: LogStreamFormat = {
      line: (r) => eta.render('partials/log-line', { line: r, h: view }).trim(),
      end: (run) => eta.render('partials/run-end', { run, h: view }).trim(),
    };

    const botPageData = (botId: number, runId?: number) => {
      const bot = engine.bots.summarize(engine.bots.get(botId));
      const runs = engine.runner.listForBot(bot.id, 20);
      const current = runId ? engine.runner.get(runId) : runs[0];
      if (current && current.botId !== bot.id) throw new AppError('RUN_NOT_FOUND', `Run #${current.id} is not a run of ${bot.name}.`);
      const counts = engine.runner.statusCounts(bot.id);
      const ended = (counts.completed ?? 0) + (counts.failed ?? 0);
      return {
        bot,
        settings: settingsContext(bot),
        runs,
        current,
        currentLogs: current && isFinalRunStatus(current.status as RunStatus) ? engine.runner.logs(current.id, 0, 2000) : [],
        results: engine.results.list(bot.id, { limit: 30 }),
        docs: engine.docs.list(bot.docsPath),
        successRate: ended ? Math.round(((counts.completed ?? 0) / ended) * 100) : null,
      };
    };

    const settingsContext = (bot: BotRow, extra: { error?: string; saved?: string; values?: SettingsValues } = {}) => ({
      bot,
      values: extra.values ?? { name: bot.name, emoji: bot.emoji, requiresApproval: bot.requiresApproval, description: bot.description, prompt: bot.prompt, model: bot.model, schedule: bot.schedule ?? '', tools: bot.tools as string[] },
      error: extra.error,
      saved: extra.saved,
      models: suggestedModels(engine.config),
      tools: TOOL_NAMES,
      h: view,
      tz: view.tz,
    });

    // The bot page's settings panel: edit, pause, resume. Answers with the panel as it now is.
    app.post<{ Params: { id: string } }>('/bots/:id/settings', async (req, reply) => {
      const bot = engine.bots.get(idOf(req.params.id, 'bot'));
      const body = (req.body ?? {}) as Record<string, string | string[] | undefined>;
      const values: SettingsValues = {
        name: String(body.name ?? bot.name),
        emoji: String(body.emoji ?? bot.emoji),
        requiresApproval: String(body.requires_approval ?? '') === '1',
        description: String(body.description ?? ''),
        prompt: String(body.prompt ?? ''),
        model: String(body.model ?? ''),
        schedule: String(body.schedule ?? ''),
        tools: ([] as string[]).concat(body.tools ?? []),
      };
      try {
        const { requiresApproval, ...fields } = values;
        const updated = engine.bots.update(bot.id, { ...fields, requires_approval: requiresApproval, schedule: values.schedule.trim() || null });
        // A new name or emoji shows in the page's header too: reload it.
        if (updated.name !== bot.name || updated.emoji !== bot.emoji) reply.header('hx-refresh', 'true');
        return render(reply, 'partials/bot-settings', settingsContext(updated, { saved: 'Saved.' }));
      } catch (err) {
        if (!isAppError(err)) throw err;
        return render(reply, 'partials/bot-settings', settingsContext(bot, { error: err.message, values }));
      }
    });
    for (const [action, paused] of [['pause', true], ['resume', false]] as const) {
      app.post<{ Params: { id: string } }>(`/bots/:id/${action}`, async (req, reply) => {
        const bot = engine.bots.update(idOf(req.params.id, 'bot'), { paused });
        return render(reply, 'partials/bot-settings', settingsContext(bot, { saved: paused ? 'Paused: schedules and triggers will not start it.' : 'Resumed.' }));
      });
    }

    app.get('/', async (_req, reply) =>
      render(reply, 'dashboard', { bots: engine.bots.listSummaries(), activity: engine.activity.list(20), form: formContext() }),
    );
    // The New-bot form, empty or filled from a template (`?template=ebay-scout`).
    app.get<{ Querystring: { template?: string } }>('/partials/bot-form', async (req, reply) => {
      const tpl = req.query.template ? findTemplate(req.query.template) : undefined;
      const defaults = newBotFormDefaults(engine);
      const values = tpl ? { ...defaults, ...tpl, tools: [...tpl.tools], ...scheduleFields(tpl.schedule) } : defaults;
      return render(reply, 'partials/bot-form', { form: formContext(values) });
    });
    app.get('/partials/bots', async (_req, reply) => render(reply, 'partials/bot-grid', { bots: engine.bots.listSummaries() }));
    app.get('/partials/activity', async (_req, reply) => render(reply, 'partials/activity', { activity: engine.activity.list(20) }));

    app.post('/bots', async (req, reply) => {
      const values = readNewBotForm((req.body ?? {}) as Record<string, string | string[] | undefined>);
      try {
        const bot = await createBotFromForm(engine, values);
        if (req.headers['hx-request']) return reply.header('hx-redirect', `/bots/${bot.id}`).send('');
        return reply.redirect(`/bots/${bot.id}`, 303);
      } catch (err) {
        if (!isAppError(err)) throw err;
        return render(reply.code(req.headers['hx-request'] ? 200 : err.status), 'partials/bot-form', { form: formContext(values, err.message) });
      }
    });

    app.get<{ Params: { id: string }; Querystring: { run?: string } }>('/bots/:id', async (req, reply) =>
      render(reply, 'bot', botPageData(idOf(req.params.id, 'bot'), req.query.run ? idOf(req.query.run, 'run') : undefined)),
    );

    app.post<{ Params: { id: string } }>('/bots/:id/run', async (req, reply) => {
      const botId = idOf(req.params.id, 'bot');
      const input = String((req.body as Record<string, unknown> | undefined)?.input ?? '').trim();
      const run = engine.startRun(botId, { input: input || null, trigger: 'manual' });
      if (req.headers['hx-target'] === 'run-panel') {
        return render(reply, 'partials/run-panel', { bot: engine.bots.get(botId), current: run, currentLogs: [] });
      }
      if (req.headers['hx-request']) return reply.header('hx-redirect', `/bots/${botId}?run=${run.id}`).send('');
      return reply.redirect(`/bots/${botId}?run=${run.id}`, 303);
    });

    app.post<{ Params: { id: string } }>('/runs/:id/cancel', async (req, reply) => {
      const run = await engine.runner.cancel(idOf(req.params.id, 'run'));
      if (req.headers['hx-request']) return reply.send('');
      return reply.redirect(`/bots/${run.botId}?run=${run.id}`, 303);
    });

    app.post<{ Params: { id: string } }>('/bots/:id/delete', async (req, reply) => {
      await engine.deleteBot(idOf(req.params.id, 'bot'));
      if (req.headers['hx-request']) return reply.header('hx-redirect', '/').send('');
      return reply.redirect('/', 303);
    });

    const renderResults = (reply: FastifyReply, botId: number, onlyNew: boolean) => {
      const bot = engine.bots.get(botId);
      return render(reply, 'partials/results', { bot, onlyNew, results: engine.results.list(bot.id, { limit: 30, onlyNew }) });
    };
    app.get<{ Params: { id: string }; Querystring: { new?: string } }>('/partials/bots/:id/results', async (req, reply) =>
      renderResults(reply, idOf(req.params.id, 'bot'), req.query.new === '1'),
    );
    // Pin or unpin from the results panel; answers with the panel as it now is.
    app.post<{ Params: { id: string }; Querystring: { new?: string } }>('/results/:id/pin', async (req, reply) => {
      const id = idOf(req.params.id, 'result');
      const pinned = String((req.body as Record<string, unknown> | undefined)?.pinned ?? 'true') !== 'false';
      const result = engine.results.setPinned(id, pinned);
      return renderResults(reply, result.botId, req.query.new === '1');
    });
    app.get<{ Params: { id: string } }>('/partials/bots/:id/runs', async (req, reply) => {
      const bot = engine.bots.get(idOf(req.params.id, 'bot'));
      return render(reply, 'partials/runs', { bot, runs: engine.runner.listForBot(bot.id, 20) });
    });

    // The dashboard's live log: the same stream as /api/runs/:id/events, rendered as HTML for htmx.
    app.get<{ Params: { id: string } }>('/runs/:id/stream', async (req, reply) => {
      streamRunLog(engine, req, reply, idOf(req.params.id, 'run'), htmlFormat);
    });
  };

const NOT_FOUND = { bot: 'BOT_NOT_FOUND', run: 'RUN_NOT_FOUND', result: 'RESULT_NOT_FOUND' } as const;

function idOf(raw: string, what: keyof typeof NOT_FOUND): number {
  return pathId(raw, NOT_FOUND[what], what);
}

export type { RunLogRow };
