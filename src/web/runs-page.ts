import { readScope, type Caller } from '../engine/access.ts';
import { dashboardStream } from './live/view.ts';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Eta } from 'eta';
import type { Engine } from '../engine/engine.ts';
import { AppError, isAppError } from '../engine/errors.ts';
import { RECENT_FAILURES_MS, isRetryableRunStatus, type RunPage } from '../engine/run-history.ts';
import { isFinalRunStatus, RUN_STATUSES, type RunStatus } from '../engine/run-status.ts';
import { validationError } from '../engine/bots.ts';
import { cancelRuns, MAX_CANCEL_IDS, runFilterOf, runsQuery } from './api/runs.ts';
import { pathId } from './params.ts';
import { view } from './view-helpers.ts';

/** A query or a posted body: urlencoded forms give strings (or lists), a JSON body anything. */
type Form = Record<string, unknown>;

/** The filter fields of the Runs page, as typed (echoed back into the form and the links). */
const FILTER_FIELDS = ['bot', 'status', 'trigger', 'since', 'until'] as const;
type FilterValues = Partial<Record<(typeof FILTER_FIELDS)[number], string>>;

/** The origins the Origin select offers (a kind matches every origin of that kind). */
const ORIGIN_KINDS = [
  ['manual', 'Manual'],
  ['schedule', 'Schedule'],
  ['trigger', 'Connection'],
  ['pipeline', 'Pipeline'],
  ['telegram', 'Telegram'],
  ['discord', 'Discord'],
] as const;

/** The Status select: every status, and the ones a Retry applies to. */
const STATUS_CHOICES: [string, string][] = [
  ...RUN_STATUSES.map((s): [string, string] => [s, view.status(s).label]),
  ['failed,cancelled,interrupted', 'Failed, cancelled or interrupted'],
];

/** Runs per page. */
const PAGE_SIZE = 50;

/**
 * The Runs page (`/runs`): every run of every bot, newest first, with a filter form (bot, status,
 * origin, time), pages (links keyed on the last run's id), Retry on a failed, cancelled or
 * interrupted run, and Cancel of one or of the selected runs. htmx swaps the table (`#all-runs`)
 * in place; each row has `id="run-row-<id>"` so the live stream can replace one row. Without
 * JavaScript the forms post and redirect back.
 *
 * - `GET  /runs[?bot&status&trigger&since&until&cursor]` the page (the table alone for htmx)
 * - `POST /runs/:id/retry` retry a run, answer with the table and a notice
 * - `POST /runs/cancel` cancel the runs in `ids` (one or more), answer with the table and a notice
 */
export const runsPage = (engine: Engine, viewsDir: string): FastifyPluginAsync =>
  async (app) => {
    const eta = new Eta({ views: viewsDir, cache: true, autoEscape: true, autoTrim: false });

    /** The page's state for `values` (filters as typed) and an optional cursor; a bad filter is `error`. */
    const tableData = async (caller: Caller, values: FilterValues, cursor?: string, extra: { notice?: string; error?: string } = {}) => {
      let page: RunPage = { runs: [], nextCursor: null };
      let error = extra.error;
      const parsed = runsQuery.safeParse({ ...values, ...(cursor ? { cursor } : {}), limit: PAGE_SIZE });
      if (!parsed.success) error = validationError(parsed.error).message;
      else {
        try {
          page = await engine.runHistory.list(runFilterOf(parsed.data, readScope(caller)));
        } catch (err) {
          if (!isAppError(err)) throw err;
          error = err.message;
        }
      }
      const query = (more: Record<string, string> = {}) => new URLSearchParams({ ...cleanValues(values), ...more }).toString();
      return {
        values,
        runs: page.runs.map((r) => ({
          ...r,
          active: !isFinalRunStatus(r.status as RunStatus),
          retryable: isRetryableRunStatus(r.status as RunStatus),
        })),
        olderHref: page.nextCursor ? `/runs?${query({ cursor: page.nextCursor })}` : null,
        newestHref: cursor ? `/runs?${query()}` : null,
        hidden: Object.entries(cleanValues(values)),
        notice: extra.notice,
        error,
        h: view,
      };
    };

    const pageData = async (caller: Caller, values: FilterValues, cursor?: string, extra: { notice?: string; error?: string } = {}) => ({
      ...(await tableData(caller, values, cursor, extra)),
      bots: await engine.bots.list(readScope(caller)),
      statuses: STATUS_CHOICES,
      origins: ORIGIN_KINDS,
      tz: view.tz,
    });

    /** htmx asking for the table (not a history restore, which wants the whole page). */
    const wantsTable = (req: FastifyRequest) => Boolean(req.headers['hx-request']) && !req.headers['hx-history-restore-request'];

    const html = (reply: FastifyReply, name: string, data: object) => reply.type('text/html; charset=utf-8').send(eta.render(name, data));

    // The header's failures count: the caller's runs that failed in the last 24 h (links to them).
    app.get('/partials/failures-badge', async (req, reply) => {
      return html(reply, 'partials/failures-badge', { count: await engine.runHistory.failedSince(Date.now() - RECENT_FAILURES_MS, readScope(req.caller)) });
    });

    app.get('/runs', async (req, reply) => {
      const q = (req.query ?? {}) as Form;
      const values = filterValues(q);
      const cursor = first(q.cursor) || undefined;
      if (wantsTable(req)) return html(reply, 'partials/all-runs', await tableData(req.caller, values, cursor));
      const data = await pageData(req.caller, values, cursor);
      return html(reply.code(data.error ? 400 : 200), 'all-runs', { ...data, stream: dashboardStream(req.server.live.hub, req.caller) });
    });

    /** After an action: htmx gets the table (first page, same filters) with `notice`; a form post a redirect. */
    const after = async (req: FastifyRequest, reply: FastifyReply, values: FilterValues, notice: string) => {
      if (req.headers['hx-request']) return html(reply, 'partials/all-runs', await tableData(req.caller, values, undefined, { notice }));
      const q = new URLSearchParams(cleanValues(values)).toString();
      return reply.redirect(`/runs${q ? `?${q}` : ''}`, 303);
    };

    app.post<{ Params: { id: string } }>('/runs/:id/retry', async (req, reply) => {
      const values = filterValues((req.body ?? {}) as Form);
      const id = pathId(req.params.id, 'RUN_NOT_FOUND', 'run');
      try {
        const run = await engine.retryRun(id, req.caller);
        return await after(req, reply, values, `Retrying run #${id} as run #${run.id}.`);
      } catch (err) {
        if (!isAppError(err) || !req.headers['hx-request']) throw err;
        return html(reply, 'partials/all-runs', await tableData(req.caller, values, undefined, { error: err.message }));
      }
    });

    app.post('/runs/cancel', async (req, reply) => {
      const body = (req.body ?? {}) as Form;
      const values = filterValues(body);
      const raw = ([] as unknown[]).concat(body.ids ?? []).map((v) => (typeof v === 'string' || typeof v === 'number' ? String(v) : ''));
      const ids = raw.filter((s) => /^\d{1,15}$/.test(s)).map(Number);
      if (ids.length === 0 || ids.length > MAX_CANCEL_IDS || ids.length !== raw.length) {
        const e = new AppError('VALIDATION_FAILED', ids.length > MAX_CANCEL_IDS ? `Select at most ${MAX_CANCEL_IDS} runs.` : 'Select the runs to cancel.');
        if (!req.headers['hx-request']) throw e;
        return html(reply, 'partials/all-runs', await tableData(req.caller, values, undefined, { error: e.message }));
      }
      const outcomes = await cancelRuns(engine, ids, req.caller);
      const done = outcomes.filter((o) => o.ok).map((o) => `#${o.id}`);
      const notDone = outcomes.filter((o) => !o.ok).map((o) => `#${o.id} (${o.error?.message})`);
      const notice = [done.length ? `Cancelled ${done.join(', ')}.` : '', notDone.length ? `Not cancelled: ${notDone.join('; ')}` : ''].filter(Boolean).join(' ');
      return await after(req, reply, values, notice);
    });
  };

/** The (first) value of a field as text; anything but text or a number counts as absent. */
function first(v: unknown): string {
  const x = Array.isArray(v) ? v[0] : v;
  return typeof x === 'string' || typeof x === 'number' ? String(x) : '';
}

/** The filter fields of a query or form, trimmed. */
function filterValues(q: Form): FilterValues {
  const out: FilterValues = {};
  for (const f of FILTER_FIELDS) {
    const v = first(q[f]).trim();
    if (v) out[f] = v;
  }
  return out;
}

function cleanValues(values: FilterValues): Record<string, string> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v)) as Record<string, string>;
}
