import type { FastifyPluginAsync } from 'fastify';
import { APPROVAL_STATUSES, type ApprovalStatus, type ApprovalView } from '../../engine/approvals.ts';
import type { Engine } from '../../engine/engine.ts';
import { AppError } from '../../engine/errors.ts';
import { pathId } from '../params.ts';
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
    /** The approved text (the draft, or the person's edit); null until approved. */
    final_text: a.finalText,
    edited: a.edited,
    reason: a.reason,
    decided_by: a.decidedBy,
    decided_at: iso(a.decidedAt),
    held_results: a.heldResults.length,
    created_at: iso(a.createdAt),
    expires_at: iso(a.expiresAt),
    pipeline: a.pipeline && { id: a.pipeline.id, name: a.pipeline.name, pipeline_run_id: a.pipeline.pipelineRunId, step: a.pipeline.step, total_steps: a.pipeline.totalSteps },
    run: runJson(a.run),
  };
}

/**
 * `/approvals` (`GET ?status=pending|decided|approved|rejected|expired|cancelled|all`, default
 * pending; `?bot=<id>`), `/approvals/:id` (`GET`), `POST /approvals/:id/approve` `{text?}` and
 * `POST /approvals/:id/reject` `{reason}`. The decider is recorded as `api`.
 */
export const approvalRoutes = (engine: Engine): FastifyPluginAsync =>
  async (app) => {
    app.get<{ Querystring: { status?: string; bot?: string; limit?: string } }>('/approvals', async (req) => {
      const raw = req.query.status ?? 'pending';
      if (raw !== 'all' && raw !== 'decided' && !(APPROVAL_STATUSES as readonly string[]).includes(raw)) {
        throw new AppError('VALIDATION_FAILED', `status must be one of all, decided, ${APPROVAL_STATUSES.join(', ')}`);
      }
      const status = raw === 'all' ? undefined : (raw as ApprovalStatus | 'decided');
      const botId = req.query.bot ? pathId(req.query.bot, 'BOT_NOT_FOUND', 'bot') : undefined;
      return engine.approvals.list({ status, botId, limit: Number(req.query.limit) || 100 }).map(approvalJson);
    });

    app.get<{ Params: { id: string } }>('/approvals/:id', async (req) => approvalJson(engine.approvals.get(pathId(req.params.id, 'APPROVAL_NOT_FOUND', 'approval'))));

    app.post<{ Params: { id: string } }>('/approvals/:id/approve', async (req) =>
      approvalJson(engine.approvals.approve(pathId(req.params.id, 'APPROVAL_NOT_FOUND', 'approval'), req.body ?? {}, 'api')),
    );

    app.post<{ Params: { id: string } }>('/approvals/:id/reject', async (req) =>
      approvalJson(engine.approvals.reject(pathId(req.params.id, 'APPROVAL_NOT_FOUND', 'approval'), req.body ?? {}, 'api')),
    );
  };
