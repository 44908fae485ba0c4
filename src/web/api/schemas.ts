import { z } from 'zod';
import { BOT_STATE_KINDS } from '../../engine/bot-status.ts';
import { TOOL_NAMES } from '../../engine/bots.ts';
import { ERROR_CODES, type ErrorCode } from '../../engine/errors.ts';
import { APPROVAL_STATUSES } from '../../engine/approvals.ts';
import { INPUT_SOURCES, OUTPUT_TARGETS, PIPELINE_RUN_STATUSES } from '../../engine/pipelines.ts';
import { RUN_STATUSES } from '../../engine/run-status.ts';
import { TRIGGER_EVENTS } from '../../engine/triggers.ts';
import { ERROR_DOCS } from './error-docs.ts';

// The REST API's shapes, as zod schemas. They are the routes' schemas (fastify-type-provider-zod
// validates requests and serializes responses with them) and the OpenAPI document is generated
// from them, so the description cannot drift from what the server does. A schema with a
// `meta({ id })` becomes a component (`#/components/schemas/<id>`).

/** An ISO-8601 UTC time as the API writes it (`2026-07-21T10:30:00.000Z`). */
const time = z.iso.datetime();
const nullableTime = time.nullable();

// ——— request pieces ———

/**
 * A numeric id in a path. Kept a string here: anything that is not a whole number names nothing
 * and is answered like an id that does not exist (404 `*_NOT_FOUND`, see `pathId`), not as a 400.
 */
export const idParam = z.string().meta({ description: 'numeric id', example: '1' });

/** `{ id }` path parameters. */
export const idParams = z.object({ id: idParam });

/**
 * `limit` of a list: a whole number from 1 to `max`, `def` when absent. A fraction, a negative
 * number, zero, a huge number or text is a 400 VALIDATION_FAILED (it was a 500 before: SQLite
 * refuses a fractional LIMIT).
 */
export function limitQuery(def: number, max: number) {
  return z.coerce
    .number({ error: `limit must be a whole number from 1 to ${max}` })
    .int(`limit must be a whole number from 1 to ${max}`)
    .min(1, `limit must be a whole number from 1 to ${max}`)
    .max(max, `limit must be a whole number from 1 to ${max}`)
    .default(def)
    .meta({ description: `how many to return, 1 to ${max} (default ${def})` });
}

/** A run request's optional body: `{ input }`; an empty body is a run without input. */
export const runBody = z
  .object({ input: z.string().max(100_000, 'input must be at most 100000 characters').nullable().optional().meta({ description: "the run's input (the bot reads it after its prompt)" }) })
  .nullable()
  .optional();

// ——— responses ———

/**
 * The API's one error shape. `code` is stable (clients switch on it; every code is listed in the
 * document's `x-error-codes` with its status and meaning), `message` a sentence for a person,
 * `details.fields` the fields a VALIDATION_FAILED found wrong.
 */
export const ErrorBody = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .meta({ id: 'Error', description: 'Every 4xx and 5xx answer of the API. See x-error-codes for each code.' });

/**
 * Response entries for the error statuses a route can answer with, one per status, each naming its
 * codes: `errorResponses('VALIDATION_FAILED', 'BOT_NOT_FOUND')` → `{ 400: …, 404: … }`.
 */
export function errorResponses(...codes: ErrorCode[]) {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const c of codes) byStatus.set(ERROR_CODES[c].status, [...(byStatus.get(ERROR_CODES[c].status) ?? []), c]);
  const out: Record<number, { description: string; content: { 'application/json': { schema: typeof ErrorBody } } }> = {};
  for (const [status, cs] of byStatus) {
    out[status] = { description: cs.map((c) => `${c}: ${ERROR_DOCS[c]}`).join(' · '), content: { 'application/json': { schema: ErrorBody } } };
  }
  return out;
}

/**
 * A `preValidation` hook for API routes: a request without a body validates like an empty JSON
 * object, so a missing field is named ("name is required") instead of "expected object, received
 * undefined".
 */
export async function emptyBodyAsObject(req: { body: unknown }): Promise<void> {
  if (req.body === undefined || req.body === null) req.body = {};
}

/** A `204 No Content` answer. */
export const noContent = z.undefined().meta({ description: 'No content' });

export const BotJson = z
  .object({
    id: z.int(),
    name: z.string(),
    emoji: z.string(),
    description: z.string(),
    prompt: z.string(),
    model: z.string().meta({ description: '`provider:model` (`openai:gpt-4.1-mini`, `anthropic:claude-sonnet-4-5`) or `echo`' }),
    tools: z.array(z.string()).meta({ description: `tool families: ${TOOL_NAMES.join(', ')}` }),
    schedule: z.string().nullable().meta({ description: 'cron expression or `every 30m`; null: runs only when started' }),
    next_run_at: nullableTime.meta({ description: 'when the schedule fires next (server time zone); null when unscheduled or paused' }),
    notify: z.record(z.string(), z.unknown()).meta({ description: 'webhook and e-mail notifications; a webhook secret is never sent back (`has_secret` says whether one is set)' }),
    paused: z.boolean(),
    max_steps: z.int(),
    retries: z.int().meta({ description: 'a failed or interrupted run is tried again this many times, with backoff' }),
    requires_approval: z.boolean().meta({ description: "a completed run waits as awaiting_approval for a person's decision before its results count and anything downstream fires" }),
    approval_timeout_s: z.int().meta({ description: 'seconds a draft may wait before it is rejected as expired (default 86400)' }),
    docs_path: z.string(),
    created_at: time,
    updated_at: time,
    status: z
      .enum(BOT_STATE_KINDS)
      .optional()
      .meta({ description: 'what a person reads about the bot (src/engine/bot-status.ts), with the summary figures (lists and single bots)' }),
    last_run_at: nullableTime.optional(),
    last_run_status: z.enum(RUN_STATUSES).nullable().optional(),
    result_count: z.int().optional(),
    run_count: z.int().optional(),
  })
  .meta({ id: 'Bot' });

export const RunJson = z
  .object({
    id: z.int(),
    bot_id: z.int(),
    trigger: z.string().meta({ description: 'how the run came to be: manual | schedule | trigger:<bot> | pipeline:<id> | telegram:<user> | discord:<user>' }),
    status: z.enum(RUN_STATUSES),
    attempt: z.int().meta({ description: 'which attempt this is, 1..max_attempts (the bot retries a failed or interrupted run)' }),
    max_attempts: z.int(),
    input: z.string().nullable(),
    output: z.string().nullable(),
    error: z.string().nullable(),
    created_at: time,
    started_at: nullableTime,
    finished_at: nullableTime,
    duration_ms: z.int().nullable(),
    tokens_in: z.int().nullable(),
    tokens_out: z.int().nullable(),
    cost_usd: z.number().nullable().meta({ description: "null when the model's price is unknown" }),
    retry_of: z.int().nullable().meta({ description: 'the run this one retries (POST /api/runs/{id}/retry), else null' }),
    requires_approval: z.boolean().meta({ description: 'a completed attempt waits for a person (set when queued, from the bot or the pipeline step)' }),
  })
  .meta({ id: 'Run' });

/** A run in the list of all runs: with its bot's name and emoji. */
export const RunListItemJson = RunJson.extend({ bot_name: z.string(), bot_emoji: z.string() }).meta({ id: 'RunListItem' });

export const RunPageJson = z
  .object({
    runs: z.array(RunListItemJson).meta({ description: 'newest first' }),
    next_cursor: z.string().nullable().meta({ description: 'pass as `cursor` for the next (older) page; null on the last page' }),
  })
  .meta({ id: 'RunPage' });

export const CancelOutcomeJson = z
  .object({
    id: z.int(),
    ok: z.boolean().meta({ description: 'true: the run is now cancelled' }),
    run: RunJson.optional().meta({ description: 'the run as it now is (when ok)' }),
    error: z.object({ code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]), message: z.string() }).optional().meta({ description: 'why not (RUN_NOT_FOUND, RUN_NOT_ACTIVE)' }),
  })
  .meta({ id: 'CancelOutcome' });

export const LogLineJson = z
  .object({ seq: z.int(), ts: time, stream: z.string().meta({ description: 'stdout | stderr | system | …' }), text: z.string() })
  .meta({ id: 'LogLine' });

export const ResultJson = z
  .object({
    id: z.int(),
    bot_id: z.int(),
    run_id: z.int().nullable(),
    title: z.string(),
    content: z.string(),
    url: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()),
    pinned: z.boolean(),
    is_new: z.boolean().meta({ description: 'not seen by this bot before (same url or same content)' }),
    created_at: time,
  })
  .meta({ id: 'Result' });

export const EventJson = z
  .object({
    id: z.int(),
    bot_id: z.int().nullable(),
    run_id: z.int().nullable(),
    kind: z.string(),
    message: z.string(),
    level: z.enum(['info', 'success', 'warn', 'error']),
    created_at: time,
  })
  .meta({ id: 'Event', description: 'an entry of the activity feed' });

export const DocJson = z.object({ name: z.string(), size: z.int().meta({ description: 'bytes' }), modified_at: time }).meta({ id: 'Doc' });

export const TemplateJson = z
  .object({
    id: z.string(),
    name: z.string(),
    emoji: z.string(),
    description: z.string(),
    prompt: z.string(),
    tools: z.array(z.enum(TOOL_NAMES)),
    schedule: z.string().meta({ description: "what a person would type (`every 30m`), '' for manual" }),
  })
  .meta({ id: 'Template' });

const botRefJson = z.object({ id: z.int(), name: z.string(), emoji: z.string() });

export const TriggerJson = z
  .object({
    id: z.int(),
    source_bot_id: z.int(),
    source_bot: botRefJson,
    event: z.enum(TRIGGER_EVENTS),
    target_bot_id: z.int().nullable().meta({ description: 'null when the target is a pipeline' }),
    target_pipeline_id: z.int().nullable().meta({ description: 'null when the target is a bot' }),
    target_kind: z.enum(['bot', 'pipeline']),
    target_bot: botRefJson.nullable(),
    target_pipeline: z.object({ id: z.int(), name: z.string() }).nullable(),
    target_action: z.string(),
    enabled: z.boolean(),
    label: z.string().meta({ description: 'e.g. `Dev-Bot —completed→ Test-Bot`' }),
    created_at: time,
  })
  .meta({ id: 'Trigger', description: "a connection: when the source bot's run ends with `event`, the target bot runs with its output" });

export const PipelineJson = z
  .object({
    id: z.int(),
    name: z.string(),
    description: z.string(),
    steps: z.array(
      z.object({
        index: z.int(),
        bot_id: z.int(),
        input_source: z.enum(INPUT_SOURCES).meta({ description: "previous step's output (step 1: the run's input) | the pipeline run's input | input_text | the file input_doc of the bot's documents" }),
        input_text: z.string().nullable(),
        input_doc: z.string().nullable(),
        output_target: z.enum(OUTPUT_TARGETS).meta({ description: "next: only on to the next step; results: also among the bot's results; doc: also into the file output_doc" }),
        output_doc: z.string().nullable(),
        requires_approval: z.boolean().meta({ description: "the step's draft waits for a person before the pipeline goes on" }),
        name: z.string().nullable().meta({ description: 'null when the bot was deleted' }),
        emoji: z.string().nullable(),
        broken: z.boolean().meta({ description: "the step's bot was deleted" }),
      }),
    ),
    broken: z.boolean().meta({ description: 'a step is broken: running answers 409 PIPELINE_BROKEN until it is fixed' }),
    schedule: z.string().nullable(),
    next_run_at: nullableTime,
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'Pipeline' });

export const PipelineRunJson = z
  .object({
    id: z.int(),
    pipeline_id: z.int(),
    pipeline_name: z.string(),
    trigger: z.string(),
    status: z.enum(PIPELINE_RUN_STATUSES),
    awaiting_approval: z.boolean().meta({ description: "a step's draft waits for a person (the run is running)" }),
    progress: z.string().meta({ description: '"k/n": k steps completed of n' }),
    completed_steps: z.int(),
    total_steps: z.int(),
    current_step: z.int(),
    input: z.string().nullable(),
    output: z.string().nullable(),
    error: z.string().nullable(),
    steps: z.array(
      z.object({
        index: z.int(),
        bot_id: z.int(),
        bot_name: z.string().nullable().meta({ description: 'null when the bot was deleted' }),
        bot_emoji: z.string().nullable(),
        run_id: z.int().nullable(),
        status: z.enum([...RUN_STATUSES, 'pending']),
        duration_ms: z.int().nullable(),
        output: z.string().nullable().meta({ description: "the step run's output (a draft while it awaits approval)" }),
        error: z.string().nullable(),
        input_source: z.enum(INPUT_SOURCES),
        output_target: z.enum(OUTPUT_TARGETS),
      }),
    ),
    created_at: time,
    started_at: nullableTime,
    finished_at: nullableTime,
    duration_ms: z.int().nullable(),
  })
  .meta({ id: 'PipelineRun' });

export const ApprovalJson = z
  .object({
    id: z.int(),
    status: z.enum(APPROVAL_STATUSES),
    run_id: z.int(),
    bot: botRefJson,
    draft: z.string().meta({ description: "the run's output as the bot wrote it" }),
    final_text: z.string().nullable().meta({ description: 'the approved text (the draft, or the edit); null until approved' }),
    edited: z.boolean().meta({ description: 'the person changed the draft before approving' }),
    reason: z.string().nullable().meta({ description: 'why it was rejected (or expired, or cancelled)' }),
    decided_by: z.string().nullable().meta({ description: 'dashboard | api | telegram:<user id> | discord:<user id> | timeout' }),
    decided_at: nullableTime,
    held_results: z.int().meta({ description: 'items the run reported, recorded once approved' }),
    created_at: time,
    expires_at: time,
    pipeline: z.object({ id: z.int(), name: z.string(), pipeline_run_id: z.int(), step: z.int(), total_steps: z.int() }).nullable(),
    run: RunJson,
  })
  .meta({ id: 'Approval', description: "a run's draft waiting for a person's decision, and the decision" });

export const RecipeSummaryJson = z
  .object({
    id: z.string().optional(),
    name: z.string(),
    description: z.string(),
    bots: z.array(z.object({ ref: z.string(), name: z.string(), emoji: z.string(), requires_approval: z.boolean() })),
    pipeline: z.object({ name: z.string(), steps: z.array(z.object({ bot: z.string(), requires_approval: z.boolean() })) }).nullable(),
    connections: z.array(z.object({ source: z.string(), event: z.enum(TRIGGER_EVENTS), target: z.string().optional(), target_pipeline: z.literal(true).optional() })),
  })
  .meta({ id: 'RecipeSummary' });

export const RecipeCreatedJson = z
  .object({
    bots: z.array(BotJson),
    pipeline: PipelineJson.nullable(),
    connections: z.array(TriggerJson),
    start_bot_id: z.int().nullable().meta({ description: 'the bot to start when the recipe has no pipeline' }),
    notes: z.array(z.string()).meta({ description: 'a name that was taken, a model this instance has no key for' }),
  })
  .meta({ id: 'RecipeCreated' });

/** A JSON answer of `schema` with a description, for `response` entries. */
export function json<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { 'application/json': { schema } } };
}
