import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { APPROVAL_STATUSES, approveInputSchema, rejectInputSchema, type ApprovalStatus, type ApprovalView } from '../../engine/approvals.ts';
import { readScope } from '../../engine/access.ts';
import type { Engine } from '../../engine/engine.ts';
import { pathId } from '../params.ts';
import { ApprovalJson, errorResponses, idParams, json, limitQuery } from './schemas.ts';
import { runJson } from './serialize.ts';

const iso = (ms: number | null | undefined) => (ms == null ? null : new Date(ms).toISOString());

/** An approval as the API shows it: the draft, and once decided who decided what, when, and what changed. */
export function approvalJson(a: ApprovalView) {
  return {
    id: a.id,
    status: a.status,
    run_id: a.runId,
    bot: a.bot,
    draft: a.draft,
    final_text: a.finalText,
    edited: a.edited,
    reason: a.reason,
    decided_by: a.decidedBy,
    decided_at: iso(a.decidedAt),
    held_results: a.heldResults.length,
    created_at: iso(a.createdAt)!,
    expires_at: iso(a.expiresAt)!,
    pipeline: a.pipeline && { id: a.pipeline.id, name: a.pipeline.name, pipeline_run_id: a.pipeline.pipelineRunId, step: a.pipeline.step, total_steps: a.pipeline.totalSteps },
    run: runJson(a.run),
  };
}

const listQuery = z.object({
  status: z
    .enum(['all', 'decided', ...APPROVAL_STATUSES], { error: `status must be one of all, decided, ${APPROVAL_STATUSES.join(', ')}` })
    .default('pending')
    .meta({ description: 'pending (default, the inbox), decided (all but pending), one status, or all' }),
  bot: z.string().optional().meta({ description: "only this bot's (numeric id)" }),
  limit: limitQuery(100, 500),
});

/**
 * `/approvals` (`GET ?status=pending|decided|approved|rejected|expired|cancelled|all`, default
 * pending; `?bot=<id>`), `/approvals/:id` (`GET`), `POST /approvals/:id/approve` `{text?}` and
 * `POST /approvals/:id/reject` `{reason}`. The decider is recorded as `api`.
 */
export const approvalRoutes = (engine: Engine): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<ZodTypeProvider>();
    const id = (raw: string) => pathId(raw, 'APPROVAL_NOT_FOUND', 'approval');

    app.get(
      '/approvals',
      { schema: { tags: ['approvals'], summary: 'Drafts waiting for a decision (or decided), newest first', querystring: listQuery, response: { 200: json(z.array(ApprovalJson), 'newest first'), ...errorResponses('VALIDATION_FAILED', 'BOT_NOT_FOUND') } } },
      async (req) => {
        const status = req.query.status === 'all' ? undefined : (req.query.status as ApprovalStatus | 'decided');
        const botId = req.query.bot ? (await engine.scope.bot(req.caller, pathId(req.query.bot, 'BOT_NOT_FOUND', 'bot'))).id : undefined;
        return (await engine.approvals.list({ status, botId, limit: req.query.limit, ownerId: readScope(req.caller) })).map(approvalJson);
      },
    );

    app.get('/approvals/:id', { schema: { tags: ['approvals'], summary: 'One approval', params: idParams, response: { 200: json(ApprovalJson, 'the approval'), ...errorResponses('APPROVAL_NOT_FOUND') } } }, async (req) =>
      approvalJson(await engine.scope.approval(req.caller, id(req.params.id))),
    );

    app.post(
      '/approvals/:id/approve',
      {
        schema: {
          tags: ['approvals'],
          summary: 'Approve a draft (optionally the edited text instead): the run completes with it, then what follows a completed run fires',
          params: idParams,
          body: approveInputSchema,
          response: { 200: json(ApprovalJson, 'the approval, approved'), ...errorResponses('VALIDATION_FAILED', 'APPROVAL_NOT_FOUND', 'FORBIDDEN_ROLE', 'APPROVAL_DECIDED') },
        },
      },
      async (req) => approvalJson(await engine.approvals.approve((await engine.scope.approval(req.caller, id(req.params.id), 'write')).id, req.body ?? {}, 'api')),
    );

    app.post(
      '/approvals/:id/reject',
      {
        schema: {
          tags: ['approvals'],
          summary: 'Reject a draft with a reason: the run ends rejected and nothing downstream fires',
          params: idParams,
          body: rejectInputSchema,
          response: { 200: json(ApprovalJson, 'the approval, rejected'), ...errorResponses('VALIDATION_FAILED', 'APPROVAL_NOT_FOUND', 'FORBIDDEN_ROLE', 'APPROVAL_DECIDED') },
        },
      },
      async (req) => approvalJson(await engine.approvals.reject((await engine.scope.approval(req.caller, id(req.params.id), 'write')).id, req.body, 'api')),
    );
  };
