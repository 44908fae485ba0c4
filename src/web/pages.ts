import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { Engine } from '../engine/engine.ts';
import { mayWrite, readScope, type Caller } from '../engine/access.ts';
import { AppError, isAppError } from '../engine/errors.ts';
import type { BotRow, RunLogRow } from '../engine/db/schema.ts';
import { BOT_STATE_KINDS } from '../engine/bot-status.ts';
import { suggestedModels } from '../engine/providers/models.ts';
import { TOOL_NAMES } from '../engine/bots.ts';
import { BOT_TEMPLATES, findTemplate } from '../engine/templates.ts';
import { createBotFromForm, newBotFormDefaults, newBotFormOptions, readNewBotForm, scheduleFields, type NewBotFormValues } from './bot-form.ts';
import { pathId } from './params.ts';
import { viewRenderer } from './render.ts';
import { streamRunLog, type LogStreamFormat } from './sse.ts';
import type { StreamHub } from './live/hub.ts';
import { gridQuery, gridQueryString, PageParts, pipelineListData } from './live/parts.ts';
import { botScope, DASHBOARD_SCOPE, LiveView, TASKS_SCOPE } from './live/view.ts';
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

/** What the dashboard's live stream is made of (see live/): built by `buildApp`, used here. */
export interface Live {
  hub: StreamHub;
  parts: PageParts;
  view: LiveView;
}

/** The live stream's parts over the engine's events, rendering the templates in `viewsDir`. */
export function createLive(engine: Engine, hub: StreamHub, viewsDir: string, onError: (err: unknown) => void): Live {
  const parts = new PageParts(engine, viewRenderer(viewsDir));
  return { hub, parts, view: new LiveView(engine, hub, parts, onError) };
}

/**
 * The dashboard: server-rendered pages (eta) that htmx updates in place from one live stream per
 * page (`GET /stream` for the dashboard, `GET /bots/:id/stream` for a bot's page; see live/view.ts
 * for its events). Nothing on a page polls.
 */
export const pageRoutes = (engine: Engine, live: Live): FastifyPluginAsync =>
  async (app) => {
    const { hub, parts } = live;
    const html = (reply: FastifyReply, body: string) => reply.type('text/html; charset=utf-8').send(body);
    const render = (reply: FastifyReply, name: string, data: Record<string, unknown>) => html(reply, parts.render(name, data));

    // The New-bot form's fields and what they wire up live in bot-form.ts.
    const formContext = async (caller: Caller, values: NewBotFormValues = newBotFormDefaults(engine), error?: string) => ({
      values,
      error,
      ...(await newBotFormOptions(engine, caller)),
      tools: TOOL_NAMES,
      templates: BOT_TEMPLATES,
    });

    const htmlFormat: LogStreamFormat = {
      line: (r) => parts.render('partials/log-line', { line: r }).trim(),
      // The run's state line (live/view.ts) shows how it ended; the event only closes the stream.
      end: () => parts.render('partials/run-end', {}).trim(),
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
      const bot = await engine.scope.bot(req.caller, idOf(req.params.id, 'bot'), 'write');
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
        const updated = await engine.bots.update(bot.id, { ...fields, requires_approval: requiresApproval, schedule: values.schedule.trim() || null });
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
        const bot = await engine.bots.update((await engine.scope.bot(req.caller, idOf(req.params.id, 'bot'), 'write')).id, { paused });
        return render(reply, 'partials/bot-settings', settingsContext(bot, { saved: paused ? 'Paused: schedules and triggers will not start it.' : 'Resumed.' }));
      });
    }

    app.get<{ Querystring: Record<string, string> }>('/', async (req, reply) => {
      // The id first: whatever happens after it is replayed by the stream.
      const stream = `/stream?after=${hub.lastEventId}`;
      hub.noteInterest(DASHBOARD_SCOPE, req.caller);
      const query = gridQuery(req.query);
      const owner = readScope(req.caller);
      return render(reply, 'dashboard', {
        stream,
        query,
        readOnly: req.caller.role === 'viewer',
        states: BOT_STATE_KINDS,
        grid: await parts.grid(query, owner),
        activity: await parts.activity(owner),
        pipelines: { pipelines: await pipelineListData(engine, owner), values: {}, listOnly: false },
        form: await formContext(req.caller),
      });
    });
    app.get('/stream', async (req, reply) => hub.serve(req, reply, DASHBOARD_SCOPE));
    app.get('/stream/tasks', async (req, reply) => hub.serve(req, reply, TASKS_SCOPE));
    app.get<{ Params: { id: string } }>('/bots/:id/stream', async (req, reply) => {
      const bot = await engine.scope.bot(req.caller, idOf(req.params.id, 'bot'));
      hub.serve(req, reply, botScope(bot.id));
    });

    // The New-bot form, empty or filled from a template (`?template=ebay-scout`).
    app.get<{ Querystring: { template?: string } }>('/partials/bot-form', async (req, reply) => {
      const tpl = req.query.template ? findTemplate(req.query.template) : undefined;
      const defaults = newBotFormDefaults(engine);
      const values = tpl ? { ...defaults, ...tpl, tools: [...tpl.tools], ...scheduleFields(tpl.schedule) } : defaults;
      return render(reply, 'partials/bot-form', { form: await formContext(req.caller, values) });
    });
    // One page of the grid for a search, a status filter or a page link (asked by a person, or
    // once by the stream when a bot was created or deleted); the address bar follows.
    app.get<{ Querystring: Record<string, string> }>('/partials/bots', async (req, reply) => {
      const query = gridQuery(req.query);
      const qs = gridQueryString(query);
      if (req.headers['hx-request']) reply.header('hx-replace-url', qs ? `/?${qs}` : '/');
      return html(reply, await parts.grid(query, readScope(req.caller)));
    });
    app.get('/partials/activity', async (req, reply) => html(reply, await parts.activity(readScope(req.caller))));

    app.post('/bots', async (req, reply) => {
      const values = readNewBotForm((req.body ?? {}) as Record<string, string | string[] | undefined>);
      try {
        const bot = await createBotFromForm(engine, values, req.caller);
        if (req.headers['hx-request']) return reply.header('hx-redirect', `/bots/${bot.id}`).send('');
        return reply.redirect(`/bots/${bot.id}`, 303);
      } catch (err) {
        if (!isAppError(err)) throw err;
        return render(reply.code(req.headers['hx-request'] ? 200 : err.status), 'partials/bot-form', { form: await formContext(req.caller, values, err.message) });
      }
    });

    app.get<{ Params: { id: string }; Querystring: { run?: string } }>('/bots/:id', async (req, reply) => {
      const botId = idOf(req.params.id, 'bot');
      const stream = `/bots/${botId}/stream?after=${hub.lastEventId}`;
      const row = await engine.scope.bot(req.caller, botId);
      hub.noteInterest(botScope(botId), req.caller);
      const bot = await engine.bots.summarize(row);
      // A page opened on a given run stays on it; otherwise it follows the bot's current run.
      const pinned = req.query.run ? await engine.scope.run(req.caller, idOf(req.query.run, 'run')) : undefined;
      if (pinned && pinned.botId !== bot.id) throw new AppError('RUN_NOT_FOUND', `Run #${pinned.id} is not a run of ${bot.name}.`);
      return render(reply, 'bot', {
        stream,
        bot,
        canChange: mayWrite(req.caller, row.ownerId),
        head: parts.head(bot),
        stats: await parts.stats(bot),
        runPanel: await parts.runPanel(row, pinned ?? (await parts.currentRun(bot.id)), !pinned),
        results: await parts.results(row, false),
        runs: await parts.runs(row),
        settings: settingsContext(row),
        docs: engine.docs.list(bot.docsPath),
      });
    });
    // The parts of a bot page, each as the stream sends it (a page re-fetches them after a resync).
    app.get<{ Params: { id: string } }>('/partials/bots/:id/head', async (req, reply) =>
      html(reply, parts.head(await engine.bots.summarize(await engine.scope.bot(req.caller, idOf(req.params.id, 'bot'))))),
    );
    app.get<{ Params: { id: string } }>('/partials/bots/:id/stats', async (req, reply) =>
      html(reply, await parts.stats(await engine.bots.summarize(await engine.scope.bot(req.caller, idOf(req.params.id, 'bot'))))),
    );
    app.get<{ Params: { id: string } }>('/partials/bots/:id/run-panel', async (req, reply) => {
      const bot = await engine.scope.bot(req.caller, idOf(req.params.id, 'bot'));
      return html(reply, await parts.runPanel(bot, await parts.currentRun(bot.id), true));
    });

    app.post<{ Params: { id: string } }>('/bots/:id/run', async (req, reply) => {
      const botId = idOf(req.params.id, 'bot');
      const body = (req.body ?? {}) as Record<string, unknown>;
      const input = String(body.input ?? '').trim();
      const run = await engine.startRun(botId, { input: input || null, trigger: 'manual' }, req.caller);
      // From a card: stay on the dashboard; the card follows the run over the stream.
      if (req.headers['hx-request'] && body.from === 'card') return reply.code(204).send();
      if (req.headers['hx-target'] === 'run-panel') return html(reply, await parts.runPanel(await engine.bots.get(botId), run, true));
      if (req.headers['hx-request']) return reply.header('hx-redirect', `/bots/${botId}?run=${run.id}`).send('');
      return reply.redirect(`/bots/${botId}?run=${run.id}`, 303);
    });

    app.post<{ Params: { id: string } }>('/runs/:id/cancel', async (req, reply) => {
      const run = await engine.runner.cancel((await engine.scope.run(req.caller, idOf(req.params.id, 'run'), 'write')).id);
      if (req.headers['hx-request']) return reply.send('');
      return reply.redirect(`/bots/${run.botId}?run=${run.id}`, 303);
    });

    app.post<{ Params: { id: string } }>('/bots/:id/delete', async (req, reply) => {
      await engine.deleteBot(idOf(req.params.id, 'bot'), req.caller);
      if (req.headers['hx-request']) return reply.header('hx-redirect', '/').send('');
      return reply.redirect('/', 303);
    });

    const renderResults = async (reply: FastifyReply, bot: BotRow, onlyNew: boolean) => html(reply, await parts.results(bot, onlyNew));
    app.get<{ Params: { id: string }; Querystring: { new?: string } }>('/partials/bots/:id/results', async (req, reply) =>
      renderResults(reply, await engine.scope.bot(req.caller, idOf(req.params.id, 'bot')), req.query.new === '1'),
    );
    // Pin or unpin from the results panel; answers with the panel as it now is.
    app.post<{ Params: { id: string }; Querystring: { new?: string } }>('/results/:id/pin', async (req, reply) => {
      const id = idOf(req.params.id, 'result');
      const pinned = String((req.body as Record<string, unknown> | undefined)?.pinned ?? 'true') !== 'false';
      const result = await engine.results.setPinned((await engine.scope.result(req.caller, id, 'write')).id, pinned);
      return renderResults(reply, await engine.bots.get(result.botId), req.query.new === '1');
    });
    app.get<{ Params: { id: string } }>('/partials/bots/:id/runs', async (req, reply) => html(reply, await parts.runs(await engine.scope.bot(req.caller, idOf(req.params.id, 'bot')))));

    // The dashboard's live log: the same stream as /api/runs/:id/events, rendered as HTML for htmx.
    app.get<{ Params: { id: string } }>('/runs/:id/stream', async (req, reply) => {
      await streamRunLog(engine, req, reply, (await engine.scope.run(req.caller, idOf(req.params.id, 'run'))).id, htmlFormat);
    });
  };

const NOT_FOUND = { bot: 'BOT_NOT_FOUND', run: 'RUN_NOT_FOUND', result: 'RESULT_NOT_FOUND' } as const;

function idOf(raw: string, what: keyof typeof NOT_FOUND): number {
  return pathId(raw, NOT_FOUND[what], what);
}

export type { RunLogRow };
