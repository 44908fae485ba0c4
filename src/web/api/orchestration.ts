import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Engine } from '../../engine/engine.ts';
import { assertMayCreate, readScope } from '../../engine/access.ts';
import { pathId } from '../params.ts';
import { pipelineInputSchema, pipelinePatchSchema, type PipelineRunView, type PipelineStepBot, type PipelineView } from '../../engine/pipelines.ts';
import { nextRunAt } from '../../engine/scheduler.ts';
import { triggerInputSchema, triggerPatchSchema, type TriggerView } from '../../engine/triggers.ts';
import { errorResponses, idParam, idParams, json, limitQuery, noContent, PipelineJson, PipelineRunJson, runBody, TriggerJson } from './schemas.ts';

// Triggers and pipelines over REST (mounted under /api). snake_case and ISO-8601 times, like the
// rest of the API; errors as {error: {code, message}}.

const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null | undefined) => (ms == null ? null : iso(ms));

/** A trigger as the API shows it. */
export function triggerJson(t: TriggerView): z.output<typeof TriggerJson> {
  return {
    id: t.id,
    source_bot_id: t.sourceBotId,
    source_bot: t.source,
    event: t.event,
    target_bot_id: t.targetBotId,
    target_pipeline_id: t.targetPipelineId,
    /** `bot` or `pipeline` */
    target_kind: t.targetKind,
    target_bot: t.targetKind === 'bot' ? t.target : null,
    target_pipeline: t.targetKind === 'pipeline' ? { id: t.target.id, name: t.target.name } : null,
    target_action: t.targetAction,
    enabled: t.enabled,
    label: t.label,
    created_at: iso(t.createdAt),
  };
}

/** A step as the API shows it: the shape `POST /api/pipelines` accepts, plus its bot's name and whether it is broken. */
export function stepJson(s: PipelineStepBot) {
  return { index: s.index, ...s.step, name: s.name, emoji: s.emoji, broken: s.broken };
}

/** A pipeline as the API shows it. */
export function pipelineJson(p: PipelineView): z.output<typeof PipelineJson> {
  return {
    id: p.id,
    name: p.name,
    description: p.description,
    steps: p.stepBots.map(stepJson),
    /** A step's bot was deleted: the pipeline cannot run until that step is fixed. */
    broken: p.broken,
    schedule: p.schedule,
    next_run_at: isoOrNull(nextRunAt({ schedule: p.schedule })),
    created_at: iso(p.createdAt),
    updated_at: iso(p.updatedAt),
  };
}

/** A pipeline run, with each step's bot, run, status and duration, and "k/n" progress. */
export function pipelineRunJson(r: PipelineRunView): z.output<typeof PipelineRunJson> {
  return {
    id: r.id,
    pipeline_id: r.pipelineId,
    pipeline_name: r.pipelineName,
    trigger: r.trigger,
    status: r.status,
    awaiting_approval: r.awaitingApproval,
    progress: r.progress,
    completed_steps: r.completedSteps,
    total_steps: r.totalSteps,
    current_step: r.currentStep,
    input: r.input,
    output: r.output,
    error: r.error,
    steps: r.steps.map((s) => ({
      index: s.index,
      bot_id: s.botId,
      bot_name: s.name,
      bot_emoji: s.emoji,
      run_id: s.runId,
      status: s.status,
      duration_ms: s.durationMs,
      output: s.output,
      error: s.error,
      input_source: s.step.input_source,
      output_target: s.step.output_target,
    })),
    created_at: iso(r.createdAt),
    started_at: isoOrNull(r.startedAt),
    finished_at: isoOrNull(r.finishedAt),
    duration_ms: r.finishedAt != null && r.startedAt != null ? r.finishedAt - r.startedAt : null,
  };
}

/**
 * `/triggers` (`GET`, `POST`, `GET/PUT/DELETE /:id`; `?bot=<id>` filters the list), `/pipelines`
 * (`GET`, `POST`, `GET/PUT/DELETE /:id`, `POST /:id/run`, `GET /:id/runs`) and
 * `/pipeline-runs/:id` (`GET`, `POST /:id/cancel`).
 */
export const orchestrationRoutes = (engine: Engine): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<ZodTypeProvider>();
    const triggerId = (raw: string) => pathId(raw, 'TRIGGER_NOT_FOUND', 'trigger');
    const pipelineId = (raw: string) => pathId(raw, 'PIPELINE_NOT_FOUND', 'pipeline');
    const pipelineRunId = (raw: string) => pathId(raw, 'PIPELINE_RUN_NOT_FOUND', 'pipeline run');

    app.get(
      '/triggers',
      {
        schema: {
          tags: ['connections'],
          summary: 'All connections (triggers) between bots',
          querystring: z.object({ bot: idParam.optional().meta({ description: 'only connections from or to this bot (id)' }) }),
          response: { 200: json(z.array(TriggerJson), 'oldest first'), ...errorResponses('BOT_NOT_FOUND') },
        },
      },
      async (req) => {
        const botId = req.query.bot ? (await engine.scope.bot(req.caller, pathId(req.query.bot, 'BOT_NOT_FOUND', 'bot'))).id : undefined;
        return (await engine.triggers.list({ botId, ownerId: readScope(req.caller) })).map(triggerJson);
      },
    );

    app.post(
      '/triggers',
      {
        schema: {
          tags: ['connections'],
          summary: "Connect two bots: when the source's run ends with `event`, the target runs with its output",
          body: triggerInputSchema,
          response: { 201: json(TriggerJson, 'the new connection (Location: /api/triggers/{id})'), ...errorResponses('VALIDATION_FAILED', 'BOT_NOT_FOUND', 'FORBIDDEN_ROLE', 'TRIGGER_EXISTS', 'TRIGGER_CYCLE') },
        },
      },
      async (req, reply) => {
        const t = await engine.triggers.create(req.body, req.caller);
        reply.code(201).header('location', `/api/triggers/${t.id}`);
        return triggerJson(t);
      },
    );

    app.get('/triggers/:id', { schema: { tags: ['connections'], summary: 'One connection', params: idParams, response: { 200: json(TriggerJson, 'the connection'), ...errorResponses('TRIGGER_NOT_FOUND') } } }, async (req) =>
      triggerJson(await engine.triggers.getFor(req.caller, triggerId(req.params.id))),
    );

    app.put(
      '/triggers/:id',
      {
        schema: {
          tags: ['connections'],
          summary: 'Change a connection (e.g. {"enabled": false})',
          params: idParams,
          body: triggerPatchSchema,
          response: { 200: json(TriggerJson, 'the connection as it now is'), ...errorResponses('VALIDATION_FAILED', 'TRIGGER_NOT_FOUND', 'BOT_NOT_FOUND', 'FORBIDDEN_ROLE', 'TRIGGER_EXISTS', 'TRIGGER_CYCLE') },
        },
      },
      async (req) => triggerJson(await engine.triggers.update(triggerId(req.params.id), req.body, req.caller)),
    );

    app.delete('/triggers/:id', { schema: { tags: ['connections'], summary: 'Remove a connection', params: idParams, response: { 204: noContent, ...errorResponses('TRIGGER_NOT_FOUND', 'FORBIDDEN_ROLE') } } }, async (req, reply) => {
      await engine.triggers.delete(triggerId(req.params.id), req.caller);
      return reply.code(204).send();
    });

    app.get('/pipelines', { schema: { tags: ['pipelines'], summary: 'All pipelines', response: { 200: json(z.array(PipelineJson), 'oldest first') } } }, async (req) => (await engine.pipelines.list(readScope(req.caller))).map(pipelineJson));

    app.post(
      '/pipelines',
      {
        schema: {
          tags: ['pipelines'],
          summary: "Create a pipeline: bots run one after another, each step's output the next one's input",
          body: pipelineInputSchema,
          response: { 201: json(PipelineJson, 'the new pipeline (Location: /api/pipelines/{id})'), ...errorResponses('VALIDATION_FAILED', 'BOT_NOT_FOUND', 'PIPELINE_NAME_TAKEN', 'FORBIDDEN_ROLE') },
        },
      },
      async (req, reply) => {
        assertMayCreate(req.caller);
        const p = await engine.pipelines.create(req.body, req.caller.userId);
        reply.code(201).header('location', `/api/pipelines/${p.id}`);
        return pipelineJson(p);
      },
    );

    app.get('/pipelines/:id', { schema: { tags: ['pipelines'], summary: 'One pipeline', params: idParams, response: { 200: json(PipelineJson, 'the pipeline'), ...errorResponses('PIPELINE_NOT_FOUND') } } }, async (req) =>
      pipelineJson(await engine.scope.pipeline(req.caller, pipelineId(req.params.id))),
    );

    app.put(
      '/pipelines/:id',
      {
        schema: {
          tags: ['pipelines'],
          summary: 'Change some fields of a pipeline',
          params: idParams,
          body: pipelinePatchSchema,
          response: { 200: json(PipelineJson, 'the pipeline as it now is'), ...errorResponses('VALIDATION_FAILED', 'PIPELINE_NOT_FOUND', 'BOT_NOT_FOUND', 'PIPELINE_NAME_TAKEN', 'FORBIDDEN_ROLE') },
        },
      },
      async (req) => pipelineJson(await engine.pipelines.update((await engine.scope.pipeline(req.caller, pipelineId(req.params.id), 'write')).id, req.body)),
    );

    app.delete(
      '/pipelines/:id',
      { schema: { tags: ['pipelines'], summary: 'Delete a pipeline (its active run is cancelled)', params: idParams, response: { 204: noContent, ...errorResponses('PIPELINE_NOT_FOUND', 'FORBIDDEN_ROLE') } } },
      async (req, reply) => {
        await engine.pipelines.delete((await engine.scope.pipeline(req.caller, pipelineId(req.params.id), 'write')).id);
        return reply.code(204).send();
      },
    );

    app.post(
      '/pipelines/:id/run',
      {
        schema: {
          tags: ['pipelines'],
          summary: 'Start a pipeline run (its first step is queued)',
          params: idParams,
          body: runBody,
          response: { 202: json(PipelineRunJson, 'the pipeline run (Location: /api/pipeline-runs/{id})'), ...errorResponses('VALIDATION_FAILED', 'PIPELINE_NOT_FOUND', 'BOT_NOT_FOUND', 'FORBIDDEN_ROLE', 'QUEUE_FULL', 'SHUTTING_DOWN') },
        },
      },
      async (req, reply) => {
        const run = await engine.pipelines.run((await engine.scope.pipeline(req.caller, pipelineId(req.params.id), 'write')).id, { input: req.body?.input ?? null, trigger: 'manual' });
        reply.code(202).header('location', `/api/pipeline-runs/${run.id}`);
        return pipelineRunJson(run);
      },
    );

    app.get(
      '/pipelines/:id/runs',
      {
        schema: {
          tags: ['pipelines'],
          summary: "The pipeline's runs, newest first",
          params: idParams,
          querystring: z.object({ limit: limitQuery(20, 200) }),
          response: { 200: json(z.array(PipelineRunJson), 'newest first'), ...errorResponses('VALIDATION_FAILED', 'PIPELINE_NOT_FOUND') },
        },
      },
      async (req) => (await engine.pipelines.listRuns((await engine.scope.pipeline(req.caller, pipelineId(req.params.id))).id, req.query.limit)).map(pipelineRunJson),
    );

    app.get(
      '/pipeline-runs/:id',
      { schema: { tags: ['pipelines'], summary: 'One pipeline run with its steps', params: idParams, response: { 200: json(PipelineRunJson, 'the pipeline run'), ...errorResponses('PIPELINE_RUN_NOT_FOUND') } } },
      async (req) => pipelineRunJson(await engine.scope.pipelineRun(req.caller, pipelineRunId(req.params.id))),
    );

    app.post(
      '/pipeline-runs/:id/cancel',
      {
        schema: {
          tags: ['pipelines'],
          summary: 'Cancel a pipeline run (and its running step)',
          params: idParams,
          response: { 200: json(PipelineRunJson, 'the pipeline run, now cancelled'), ...errorResponses('PIPELINE_RUN_NOT_FOUND', 'PIPELINE_RUN_NOT_ACTIVE', 'FORBIDDEN_ROLE') },
        },
      },
      async (req) => pipelineRunJson(await engine.pipelines.cancelRun((await engine.scope.pipelineRun(req.caller, pipelineRunId(req.params.id), 'write')).id)),
    );
  };
