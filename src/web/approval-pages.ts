import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Eta } from 'eta';
import type { ApprovalStatus } from '../engine/approvals.ts';
import { readScope, type Caller } from '../engine/access.ts';
import type { Engine } from '../engine/engine.ts';
import type { StreamHub } from './live/hub.ts';
import { isAppError } from '../engine/errors.ts';
import { pathId } from './params.ts';
import { dashboardStream } from './live/view.ts';
import { view } from './view-helpers.ts';

type Form = Record<string, string | string[] | undefined>;

/** How a decision reads in the inbox's history (plain glyphs every font has). */
const DECISION_LABELS: Record<ApprovalStatus, string> = {
  pending: '… waiting',
  approved: '✓ approved',
  rejected: '⊘ rejected',
  expired: '⊘ expired',
  cancelled: '■ cancelled',
};

/**
 * The approvals inbox (`/approvals`): drafts waiting with Approve / Edit / Reject, and the decisions
 * made (who, when, what changed); the header's bell (`/partials/approvals-bell`). Decisions made
 * here are recorded as by `dashboard`. An action answers htmx with the inbox re-rendered (and an
 * `approvals-changed` event, so the bell updates at once), a plain form post with a redirect.
 */
export const approvalPages = (engine: Engine, viewsDir: string, hub: StreamHub): FastifyPluginAsync =>
  async (app) => {
    const eta = new Eta({ views: viewsDir, cache: true, autoEscape: true, autoTrim: false });
    const inboxData = async (caller: Caller, extra: { error?: string; notice?: string } = {}) => ({
      pending: (await engine.approvals.list({ status: 'pending', ownerId: readScope(caller) })).reverse(),
      decided: await engine.approvals.list({ status: 'decided', limit: 50, ownerId: readScope(caller) }),
      readOnly: caller.role === 'viewer',
      decisionLabel: (s: ApprovalStatus) => DECISION_LABELS[s],
      h: view,
      tz: view.tz,
      ...extra,
    });
    const html = (reply: FastifyReply, name: string, data: Record<string, unknown>) => reply.type('text/html; charset=utf-8').send(eta.render(name, data));

    app.get('/approvals', async (req, reply) => html(reply, 'approvals', { ...(await inboxData(req.caller)), stream: dashboardStream(hub, req.caller) }));
    // The caller's bell: drafts waiting on the bots they may see.
    app.get('/partials/approvals-bell', async (req, reply) => html(reply, 'partials/approvals-bell', { count: await engine.approvals.pendingCount(readScope(req.caller)) }));

    const decide = async (req: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply, act: (id: number, body: Form) => Promise<string>) => {
      const htmx = Boolean(req.headers['hx-request']);
      try {
        const notice = await act((await engine.scope.approval(req.caller, pathId(req.params.id, 'APPROVAL_NOT_FOUND', 'approval'), 'write')).id, (req.body ?? {}) as Form);
        if (!htmx) return reply.redirect('/approvals', 303);
        return html(reply.header('hx-trigger', 'approvals-changed'), 'partials/approval-inbox', await inboxData(req.caller, { notice }));
      } catch (err) {
        if (!isAppError(err) || !htmx) throw err;
        return html(reply.header('hx-trigger', 'approvals-changed'), 'partials/approval-inbox', await inboxData(req.caller, { error: err.message }));
      }
    };

    app.post<{ Params: { id: string } }>('/approvals/:id/approve', async (req, reply) =>
      decide(req, reply, async (id, body) => {
        // Browsers send a textarea's line breaks as CRLF (HTML's form encoding); the draft has LF.
        const text = typeof body.text === 'string' ? body.text.replace(/\r\n?/g, '\n').replace(/^\n/, '') : undefined;
        const a = await engine.approvals.approve(id, text === undefined ? {} : { text }, 'dashboard');
        return `Approved run #${a.runId} of ${a.bot.name}${a.edited ? ' with your edit' : ''}.`;
      }),
    );

    app.post<{ Params: { id: string } }>('/approvals/:id/reject', async (req, reply) =>
      decide(req, reply, async (id, body) => {
        const a = await engine.approvals.reject(id, { reason: typeof body.reason === 'string' ? body.reason : '' }, 'dashboard');
        return `Rejected run #${a.runId} of ${a.bot.name}.`;
      }),
    );
  };

