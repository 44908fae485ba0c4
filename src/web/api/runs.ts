import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Engine } from '../../engine/engine.ts';
import { readScope, type Caller } from '../../engine/access.ts';
import { isAppError } from '../../engine/errors.ts';
import { MAX_RUN_PAGE, type RunFilter } from '../../engine/run-history.ts';
import { RUN_STATUSES, type RunStatus } from '../../engine/run-status.ts';
import { pathId } from '../params.ts';
import { CancelOutcomeJson, errorResponses, idParams, json, limitQuery, RunJson, RunPageJson } from './schemas.ts';
import { runJson, runListItemJson } from './serialize.ts';

/** Most runs one `POST /api/runs/cancel` cancels. */
export const MAX_CANCEL_IDS = 100;

const STATUS_LIST = `status must be one or more of ${RUN_STATUSES.join(', ')} (comma-separated)`;

/** A time filter: ISO 8601; without an offset it is the server's time zone (like the dashboard). */
const timeQuery = (what: string) =>
  z.iso
    .datetime({ offset: true, local: true, error: `${what} must be an ISO 8601 time, e.g. 2026-07-21T09:30:00Z (without an offset: the server's time zone)` })
    .transform((s) => Date.parse(s))
    .meta({ description: `runs created ${what === 'since' ? 'at or after' : 'at or before'} this time (ISO 8601; no offset: server time zone)` });

/**
 * The filters of the list of all runs, as query parameters; shared by `GET /api/runs` and the Runs
 * page (`/runs`). `status` may repeat or be comma-separated.
 */
export const runsQuery = z.object({
  bot: z.coerce.number({ error: 'bot must be a bot id' }).int('bot must be a bot id').positive('bot must be a bot id').max(Number.MAX_SAFE_INTEGER).optional().meta({ description: 'only runs of this bot (id)' }),
  status: z
    .union([z.string(), z.array(z.string())], { error: STATUS_LIST })
    .transform((v) => ([] as string[]).concat(v).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean))
    .pipe(z.array(z.enum(RUN_STATUSES, { error: STATUS_LIST })).min(1, STATUS_LIST))
    .optional()
    .meta({ description: `only runs in these statuses: ${RUN_STATUSES.join(', ')} (comma-separated or repeated)` }),
  trigger: z
    .string({ error: 'trigger must be text' })
    .trim()
    .min(1, 'trigger must not be empty')
    .max(200, 'trigger must be at most 200 characters')
    .optional()
    .meta({ description: 'how the runs came to be: an exact origin (`manual`, `schedule`, `telegram:42`) or a kind (`trigger`, `pipeline`, `telegram`, `discord`) for all of that kind' }),
  since: timeQuery('since').optional(),
  until: timeQuery('until').optional(),
  cursor: z.string({ error: 'cursor must be a next_cursor of this list' }).max(100, 'cursor must be a next_cursor of this list').optional().meta({ description: 'next_cursor of the previous page' }),
  limit: limitQuery(50, MAX_RUN_PAGE),
});

/**
 * The engine's filter for parsed {@link runsQuery} values;
 * `ownerId` (see `readScope` in access.ts) keeps the runs of that user's bots.
 */
export function runFilterOf(q: z.output<typeof runsQuery>, ownerId?: number): RunFilter {
  return { ownerId, botId: q.bot, statuses: q.status as RunStatus[] | undefined, trigger: q.trigger, since: q.since, until: q.until, cursor: q.cursor, limit: q.limit };
}

const cancelBody = z.object({
  ids: z
    .array(z.int('ids must be run ids').positive('ids must be run ids').max(Number.MAX_SAFE_INTEGER), { error: 'ids must be a list of run ids' })
    .min(1, 'ids needs at least one run id')
    .max(MAX_CANCEL_IDS, `ids can have at most ${MAX_CANCEL_IDS} run ids`)
    .meta({ description: 'the runs to cancel' }),
});

/** One outcome of {@link cancelRuns}. */
export type CancelOutcome = z.output<typeof CancelOutcomeJson>;

/**
 * Cancels each run (in parallel; a repeated id counts once) and says per id what became of it: `ok`
 * with the run now cancelled, or the error (RUN_NOT_FOUND, RUN_NOT_ACTIVE) that kept it going.
 * Outcomes are in the order of the first appearance of each id.
 */
export async function cancelRuns(engine: Engine, ids: readonly number[], caller: Caller): Promise<CancelOutcome[]> {
  return Promise.all(
    [...new Set(ids)].map(async (id): Promise<CancelOutcome> => {
      try {
        return { id, ok: true, run: runJson(await engine.runner.cancel((await engine.scope.run(caller, id, 'write')).id)) };
      } catch (err) {
        if (!isAppError(err)) throw err;
        return { id, ok: false, error: { code: err.code, message: err.message } };
      }
    }),
  );
}

/**
 * All runs over every bot (`GET /runs`, filtered, in pages), cancel of several runs at once
 * (`POST /runs/cancel`) and retry of one (`POST /runs/:id/retry`); mounted under `/api`.
 */
export const runRoutes = (engine: Engine): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<ZodTypeProvider>();

    app.get(
      '/runs',
      {
        schema: {
          tags: ['runs'],
          summary: 'All runs over every bot, newest first, filtered and in pages (pass next_cursor as cursor for the next page)',
          querystring: runsQuery,
          response: { 200: json(RunPageJson, 'one page of runs'), ...errorResponses('VALIDATION_FAILED', 'BOT_NOT_FOUND') },
        },
      },
      async (req) => {
        // Another user's bot is not there to filter by (404, as everywhere else).
        if (req.query.bot !== undefined) await engine.scope.bot(req.caller, req.query.bot);
        const page = await engine.runHistory.list(runFilterOf(req.query, readScope(req.caller)));
        return { runs: page.runs.map(runListItemJson), next_cursor: page.nextCursor };
      },
    );

    app.post(
      '/runs/cancel',
      {
        schema: {
          tags: ['runs'],
          summary: 'Cancel several runs at once; the answer says per id whether it was cancelled',
          body: cancelBody,
          response: { 200: json(z.object({ results: z.array(CancelOutcomeJson) }), 'one outcome per id, in the order given'), ...errorResponses('VALIDATION_FAILED') },
        },
      },
      async (req) => ({ results: await cancelRuns(engine, req.body.ids, req.caller) }),
    );

    app.post(
      '/runs/:id/retry',
      {
        schema: {
          tags: ['runs'],
          summary: 'Retry a failed, cancelled or interrupted run: a new run of the same bot with the same input (its retry_of is this run)',
          params: idParams,
          response: { 202: json(RunJson, 'the new, queued run (Location: /api/runs/{id})'), ...errorResponses('RUN_NOT_FOUND', 'RUN_NOT_RETRYABLE', 'FORBIDDEN_ROLE', 'QUEUE_FULL', 'SHUTTING_DOWN') },
        },
      },
      async (req, reply) => {
        const run = await engine.retryRun(pathId(req.params.id, 'RUN_NOT_FOUND', 'run'), req.caller);
        reply.code(202).header('location', `/api/runs/${run.id}`);
        return runJson(run);
      },
    );
  };
