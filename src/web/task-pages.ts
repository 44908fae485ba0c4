import { assertAccess, assertMayCreate, mayRead, readScope } from '../engine/access.ts';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Eta } from 'eta';
import type { Engine } from '../engine/engine.ts';
import { isAppError } from '../engine/errors.ts';
import { API_KEY_SCOPES, AGENT_ROLES, MAX_ROUNDS } from '../engine/swarm/schemas.ts';
import { TASK_PRIORITIES, TASK_STATUS_INFO } from '../engine/swarm/task-status.ts';
import { requestActor } from './api-key-auth.ts';
import { pathId } from './params.ts';
import { dashboardStream } from './live/view.ts';
import { dataLines, openEventStream } from './sse.ts';
import { view } from './view-helpers.ts';

type Form = Record<string, string | string[] | undefined>;

/** A comment line keeps proxies from closing an idle task stream, every this many ms. */
const HEARTBEAT_MS = 15_000;
/** Changes closer together than this are sent as one re-render of the task, in ms. */
const COALESCE_MS = 40;

/** The states a task passes on its way, in order, for the diagram on its page. */
const MAIN_PATH = ['CREATED', 'PLANNED', 'IN_PROGRESS', 'COMPLETED', 'ARCHIVED'] as const;

/**
 * The dashboard's Tasks pages: `/tasks` (tasks, the new-task form, agents and their roles),
 * `/tasks/:id` (the state machine as it moves, sub-tasks per executor with their runs, verdicts,
 * audit), its live stream `/tasks/:id/stream` (SSE: the re-rendered task on each `task.changed`,
 * swapped in by htmx's SSE extension), and `/keys` (API keys: create, revoke).
 */
export const taskPages = (engine: Engine, viewsDir: string): FastifyPluginAsync =>
  async (app) => {
    const swarm = engine.swarm;
    const eta = new Eta({ views: viewsDir, cache: true, autoEscape: true, autoTrim: false });
    const helpers = { ...view, taskStatus: (s: keyof typeof TASK_STATUS_INFO) => TASK_STATUS_INFO[s], mainPath: MAIN_PATH };
    // Full pages join the dashboards' live stream (their header's bell); partials ignore `stream`.
    const render = (name: string, data: Record<string, unknown>) => eta.render(name, { ...data, h: helpers, tz: view.tz, stream: dashboardStream(app.live.hub) });
    // What the caller may see: an operator's own tasks and keys, their own bots to enrol.
    const ownTasks = (req: FastifyRequest) => swarm.tasks.list({ archived: true, limit: 100, ownerId: readScope(req.caller) });
    const html = (reply: FastifyReply, body: string, code = 200) => reply.code(code).type('text/html; charset=utf-8').send(body);
    const form = (req: FastifyRequest) => (req.body ?? {}) as Form;
    const str = (v: string | string[] | undefined) => String(Array.isArray(v) ? v[0] : (v ?? '')).trim();
    const list = (v: string | string[] | undefined) => (Array.isArray(v) ? v : v ? [v] : []).map((s) => s.trim()).filter(Boolean);

    const tasksPage = async (req: FastifyRequest, extra: { error?: string; values?: Form; agentError?: string; agentValues?: Form } = {}) =>
      render('tasks', {
        tasks: await ownTasks(req),
        agents: await swarm.agentStates(),
        bots: await engine.bots.list(readScope(req.caller)),
        roles: AGENT_ROLES,
        priorities: TASK_PRIORITIES,
        maxRounds: MAX_ROUNDS,
        error: extra.error,
        values: extra.values ?? {},
        agentError: extra.agentError,
        agentValues: extra.agentValues ?? {},
      });

    const detail = async (id: number) => render('partials/task-detail', { v: await swarm.tasks.view(id), audit: await swarm.audit.forTask(id, 0, 1000) });

    app.get('/tasks', async (req, reply) => html(reply, await tasksPage(req)));

    app.get('/partials/tasks', async (req, reply) => html(reply, render('partials/task-list', { tasks: await ownTasks(req) })));

    app.post('/tasks', async (req, reply) => {
      const f = form(req);
      try {
        assertMayCreate(req.caller);
        const task = await swarm.createTask(
          { title: str(f.title), description: str(f.description), priority: str(f.priority) || undefined, max_rounds: Number(str(f.max_rounds)) || undefined },
          requestActor(req),
          { ownerId: req.caller.userId },
        );
        return reply.redirect(`/tasks/${task.id}`, 303);
      } catch (err) {
        if (!isAppError(err)) throw err;
        return html(reply, await tasksPage(req, { error: err.message, values: f }), err.status);
      }
    });

    app.post('/tasks/agents', async (req, reply) => {
      const f = form(req);
      const bot = str(f.bot);
      try {
        await swarm.enrol({ bot: /^\d{1,15}$/.test(bot) ? Number(bot) : bot, role: str(f.role), skills: str(f.skills).split(',').map((s) => s.trim()).filter(Boolean) }, requestActor(req), req.caller);
        return reply.redirect('/tasks#agents', 303);
      } catch (err) {
        if (!isAppError(err)) throw err;
        return html(reply, await tasksPage(req, { agentError: err.message, agentValues: f }), err.status);
      }
    });

    app.post<{ Params: { id: string } }>('/tasks/agents/:id/remove', async (req, reply) => {
      await swarm.removeAgent(pathId(req.params.id, 'AGENT_NOT_FOUND', 'agent'), requestActor(req));
      return reply.redirect('/tasks#agents', 303);
    });

    app.get<{ Params: { id: string } }>('/tasks/:id', async (req, reply) => {
      const id = (await engine.scope.task(req.caller, pathId(req.params.id, 'TASK_NOT_FOUND', 'task'))).id;
      return html(reply, render('task', { task: await swarm.tasks.get(id), detail: await detail(id) }));
    });

    for (const action of ['cancel', 'archive'] as const) {
      app.post<{ Params: { id: string } }>(`/tasks/:id/${action}`, async (req, reply) => {
        const id = (await engine.scope.task(req.caller, pathId(req.params.id, 'TASK_NOT_FOUND', 'task'), 'write')).id;
        if (action === 'cancel') await swarm.cancelTask(id, requestActor(req));
        else await swarm.archiveTask(id, requestActor(req));
        // htmx: the page's stream shows the change; a plain form post goes back to the page.
        return req.headers['hx-request'] ? html(reply, await detail(id)) : reply.redirect(`/tasks/${id}`, 303);
      });
    }

    // The task's page stays live: on every change of the task, its detail is rendered again and
    // sent as one `task` event; an archived task gets a last render and `end`.
    app.get<{ Params: { id: string } }>('/tasks/:id/stream', async (req, reply) => {
      const id = (await engine.scope.task(req.caller, pathId(req.params.id, 'TASK_NOT_FOUND', 'task'))).id;
      const res = openEventStream(reply);
      let timer: NodeJS.Timeout | null = null;
      let closed = false;
      // Renders take turns, so the page gets them in the order the changes were heard.
      let sending: Promise<void> = Promise.resolve();
      const send = () => {
        timer = null;
        sending = sending.then(renderAndSend);
      };
      // Never rejects: a failed read or write ends the stream.
      const renderAndSend = async () => {
        if (closed) return;
        try {
          res.write(`event: task\ndata: ${dataLines(await detail(id))}\n\n`);
          if ((await swarm.tasks.get(id)).status === 'ARCHIVED') {
            res.write('event: end\ndata: archived\n\n');
            cleanup();
            res.end();
          }
        } catch {
          cleanup();
          res.end();
        }
      };
      const off = engine.bus.on('task.changed', (e) => {
        if (e.taskId === id && !timer) timer = setTimeout(send, COALESCE_MS);
      }, { remote: true });
      const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
      const cleanup = () => {
        if (closed) return;
        closed = true;
        off();
        clearInterval(heartbeat);
        if (timer) clearTimeout(timer);
      };
      res.on('close', cleanup);
      // What changed between the page's render and this connection is sent at once.
      send();
    });

    const keysPage = async (req: FastifyRequest, extra: { created?: { name: string; key: string }; error?: string; values?: Form } = {}) =>
      render('keys', { keys: (await swarm.keys.list()).filter((k) => mayRead(req.caller, k.userId)), scopes: API_KEY_SCOPES, created: extra.created, error: extra.error, values: extra.values ?? {} });

    app.get('/keys', async (req, reply) => html(reply, await keysPage(req)));

    app.post('/keys', async (req, reply) => {
      const f = form(req);
      try {
        // A key acts as the user who made it (a viewer makes none).
        assertMayCreate(req.caller);
        const { row, key } = await swarm.keys.create({ name: str(f.name), scopes: list(f.scopes) }, requestActor(req), null, req.caller.userId);
        // The key is shown on this answer only; it is never stored or shown again.
        return html(reply.header('cache-control', 'no-store'), await keysPage(req, { created: { name: row.name, key } }), 201);
      } catch (err) {
        if (!isAppError(err)) throw err;
        return html(reply, await keysPage(req, { error: err.message, values: f }), err.status);
      }
    });

    app.post<{ Params: { id: string } }>('/keys/:id/revoke', async (req, reply) => {
      const keyId = pathId(req.params.id, 'API_KEY_NOT_FOUND', 'API key');
      assertAccess(req.caller, (await swarm.keys.get(keyId)).userId, 'write', { code: 'API_KEY_NOT_FOUND', message: `No API key with id ${keyId}.` });
      await swarm.keys.revoke(keyId, requestActor(req));
      return reply.redirect('/keys', 303);
    });
  };
