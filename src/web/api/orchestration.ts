import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { Engine } from '../../engine/engine.ts';
import { AppError } from '../../engine/errors.ts';
import { pathId } from '../params.ts';
import type { PipelineRunView, PipelineStepBot, PipelineView } from '../../engine/pipelines.ts';
import { nextRunAt } from '../../engine/scheduler.ts';
import type { TriggerView } from '../../engine/triggers.ts';

// Triggers and pipelines over REST (mounted under /api). snake_case and ISO-8601 times, like the
// rest of the API; errors as {error: {code, message}}.

const iso = (ms: number | null | undefined) => (ms == null ? null : new Date(ms).toISOString());

const runBody = z
  .object({ input: z.string().max(100_000, 'input must be at most 100000 characters').nullable().optional() })
  .nullable()
  .optional();

/** A trigger as the API shows it. */
export function triggerJson(t: TriggerView) {
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
export function pipelineJson(p: PipelineView) {
  return {
    id: p.id,
    name: p.name,
    description: p.description,
    steps: p.stepBots.map(stepJson),
    /** A step's bot was deleted: the pipeline cannot run until that step is fixed. */
    broken: p.broken,
    schedule: p.schedule,
    next_run_at: iso(nextRunAt({ schedule: p.schedule })),
    created_at: iso(p.createdAt),
    updated_at: iso(p.updatedAt),
  };
}

/** A pipeline run, with each step's bot, run, status and duration, and "k/n" progress. */
export function pipelineRunJson(r: PipelineRunView) {
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
    started_at: iso(r.startedAt),
    finished_at: iso(r.finishedAt),
    duration_ms: r.finishedAt != null && r.startedAt != null ? r.finishedAt - r.startedAt : null,
  };
}

/**
 * `/triggers` (`GET`, `POST`, `GET/PUT/DELETE /:id`; `?bot=<id>` filters the list), `/pipelines`
 * (`GET`, `POST`, `GET/PUT/DELETE /:id`, `POST /:id/run`, `GET /:id/runs`) and
 * `/pipeline-runs/:id` (`GET`, `POST /:id/cancel`).
 */
export const orchestrationRoutes = (engine: Engine): FastifyPluginAsync =>
  async (app) => {
    app.get<{ Querystring: { bot?: string } }>('/triggers', async (req) => {
      const botId = req.query.bot ? pathId(req.query.bot, 'BOT_NOT_FOUND', 'bot') : undefined;
      return engine.triggers.list({ botId }).map(triggerJson);
    });

    app.post('/triggers', async (req, reply) => {
      const t = engine.triggers.create(req.body ?? {});
      reply.code(201).header('location', `/api/triggers/${t.id}`);
      return triggerJson(t);
    });

    app.get<{ Params: { id: string } }>('/triggers/:id', async (req) => triggerJson(engine.triggers.get(pathId(req.params.id, 'TRIGGER_NOT_FOUND', 'trigger'))));

    app.put<{ Params: { id: string } }>('/triggers/:id', async (req) =>
      triggerJson(engine.triggers.update(pathId(req.params.id, 'TRIGGER_NOT_FOUND', 'trigger'), req.body ?? {})),
    );

    app.delete<{ Params: { id: string } }>('/triggers/:id', async (req, reply) => {
      engine.triggers.delete(pathId(req.params.id, 'TRIGGER_NOT_FOUND', 'trigger'));
      return reply.code(204).send();
    });

    app.get('/pipelines', async () => engine.pipelines.list().map(pipelineJson));

    app.post('/pipelines', async (req, reply) => {
      const p = engine.pipelines.create(req.body ?? {});
      reply.code(201).header('location', `/api/pipelines/${p.id}`);
      return pipelineJson(p);
    });

    app.get<{ Params: { id: string } }>('/pipelines/:id', async (req) => pipelineJson(engine.pipelines.get(pathId(req.params.id, 'PIPELINE_NOT_FOUND', 'pipeline'))));

    app.put<{ Params: { id: string } }>('/pipelines/:id', async (req) =>
      pipelineJson(engine.pipelines.update(pathId(req.params.id, 'PIPELINE_NOT_FOUND', 'pipeline'), req.body ?? {})),
    );

    app.delete<{ Params: { id: string } }>('/pipelines/:id', async (req, reply) => {
      await engine.pipelines.delete(pathId(req.params.id, 'PIPELINE_NOT_FOUND', 'pipeline'));
      return reply.code(204).send();
    });

    app.post<{ Params: { id: string } }>('/pipelines/:id/run', async (req, reply) => {
      const id = pathId(req.params.id, 'PIPELINE_NOT_FOUND', 'pipeline');
      const body = runBody.safeParse(req.body);
      if (!body.success) throw new AppError('VALIDATION_FAILED', body.error.issues.map((i) => i.message).join('; '));
      const run = engine.pipelines.run(id, { input: body.data?.input ?? null, trigger: 'manual' });
      reply.code(202).header('location', `/api/pipeline-runs/${run.id}`);
      return pipelineRunJson(run);
    });

    app.get<{ Params: { id: string }; Querystring: { limit?: string } }>('/pipelines/:id/runs', async (req) =>
      engine.pipelines.listRuns(pathId(req.params.id, 'PIPELINE_NOT_FOUND', 'pipeline'), Number(req.query.limit) || 20).map(pipelineRunJson),
    );

    app.get<{ Params: { id: string } }>('/pipeline-runs/:id', async (req) =>
      pipelineRunJson(engine.pipelines.getRun(pathId(req.params.id, 'PIPELINE_RUN_NOT_FOUND', 'pipeline run'))),
    );

    app.post<{ Params: { id: string } }>('/pipeline-runs/:id/cancel', async (req) =>
      pipelineRunJson(await engine.pipelines.cancelRun(pathId(req.params.id, 'PIPELINE_RUN_NOT_FOUND', 'pipeline run'))),
    );
  };
