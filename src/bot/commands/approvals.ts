/**
 * Approvals in chat: the message that delivers a draft carries ✅ Approve / 🚫 Reject buttons
 * (`approve:<approval id>`, `reject:<approval id>`), and `/approvals` lists what waits. A press is
 * a decision recorded as by `telegram:<user id>` / `discord:<user id>`; the command core refuses
 * people who are not on the allow list before any of this runs, so their presses change nothing.
 *
 * Delivery calls {@link approvalDraftMessage} when it hears `run.awaiting_approval` (the draft of
 * run `e.runId`; its approval is `engine.approvals.byRun(e.runId)`), and sends it to the chat that
 * started the run and to the chats subscribed to the bot. A press comes back through
 * {@link approvalAction}.
 */
import type { ApprovalView } from '../../engine/approvals.ts';
import type { Engine } from '../../engine/engine.ts';
import { isAppError } from '../../engine/errors.ts';
import { botLabel, MAX_OUTPUT_CHARS } from '../format.ts';
import { bold, excerpt, line, pre, say, type Message } from '../message.ts';
import type { Caller, Command } from './types.ts';

/** What a press produces: the message that replaces the one with the buttons, and a toast. */
export interface ApprovalActionReply {
  message: Message;
  mode: 'replace' | 'reply';
  toast: string;
}

/** The draft as its delivery message shows it: bot, run, pipeline step, draft text, buttons. */
export function approvalDraftMessage(a: ApprovalView): Message {
  const draft = a.draft.trim();
  return {
    blocks: [
      line('⏸ ', bold(botLabel(a.bot)), ` · run #${a.runId} wrote a draft that waits for your approval`, a.pipeline ? ` (pipeline ${a.pipeline.name}, step ${a.pipeline.step}/${a.pipeline.totalSteps})` : '', ':'),
      pre(draft.length > MAX_OUTPUT_CHARS ? draft.slice(0, MAX_OUTPUT_CHARS) + '\n… (cut; the whole draft is in the dashboard, where it can also be edited)' : draft || '(empty)'),
      line(`Approval #${a.id} · expires ${new Date(a.expiresAt).toISOString().slice(0, 16).replace('T', ' ')} UTC`),
    ],
    buttons: [
      [
        { label: '✅ Approve', action: `approve:${a.id}`, style: 'success' },
        { label: '🚫 Reject', action: `reject:${a.id}`, style: 'danger' },
      ],
    ],
  };
}

/** The draft message once decided: the same draft, what was decided and by whom, no buttons. */
function decidedMessage(a: ApprovalView): Message {
  const verdict =
    a.status === 'approved'
      ? `✅ Approved by ${a.decidedBy}${a.edited ? ' (edited)' : ''}`
      : a.status === 'rejected'
        ? `🚫 Rejected by ${a.decidedBy}: ${a.reason ?? ''}`
        : a.status === 'expired'
          ? '⌛ Expired: nobody decided in time'
          : a.status === 'cancelled'
            ? `⏹ Cancelled: ${a.reason ?? 'the run was cancelled'}`
            : '⏸ Waiting';
  return { blocks: [line(verdict, ' · ', bold(botLabel(a.bot)), ` · run #${a.runId}`), pre(excerpt(a.finalText ?? a.draft, 1500) || '(empty)')] };
}

/**
 * A press of an approval button (`approve:<id>` or `reject:<id>`), by an allowed caller.
 * @returns the reply, or null when `data` is no approval button.
 */
export function approvalAction(engine: Engine, caller: Caller, data: string): ApprovalActionReply | null {
  const m = /^(approve|reject):(\d{1,15})$/.exec(data);
  if (!m) return null;
  const id = Number(m[2]);
  const by = `${caller.platform}:${caller.userId}`;
  try {
    const a =
      m[1] === 'approve'
        ? engine.approvals.approve(id, {}, by)
        : engine.approvals.reject(id, { reason: `rejected from ${caller.platform === 'telegram' ? 'Telegram' : 'Discord'}` }, by);
    return { message: decidedMessage(a), mode: 'replace', toast: a.status === 'approved' ? '✅ Approved' : '🚫 Rejected' };
  } catch (err) {
    if (!isAppError(err)) throw err;
    if (err.code === 'APPROVAL_DECIDED' || err.code === 'APPROVAL_NOT_FOUND') {
      let shown: Message = say(`⚠️ ${err.message}`);
      try {
        shown = decidedMessage(engine.approvals.get(id));
      } catch {
        // gone with its bot
      }
      return { message: shown, mode: 'replace', toast: excerpt(err.message, 190) };
    }
    return { message: say(`⚠️ ${err.message}`), mode: 'reply', toast: excerpt(err.message, 190) };
  }
}

/**
 * `/approvals`: the drafts that wait, each with its buttons (at most 10; the rest are in the
 * dashboard's inbox).
 */
export const approvalsCommand: Command & {
  /** The buttons of this command, in the shape commands that own their buttons use. */
  actions: Record<'approve' | 'reject', { mode: 'replace'; run(ctx: { engine: Engine; caller: Caller }, args: string): { message: Message; toast: string } }>;
} = {
  name: 'approvals',
  description: 'Drafts waiting for your approval, with Approve / Reject buttons',
  params: [],
  run(ctx) {
    const waiting = ctx.engine.approvals.list({ status: 'pending', limit: 10 }).reverse();
    if (waiting.length === 0) return say('Nothing waits for your approval.');
    const total = ctx.engine.approvals.pendingCount();
    return {
      blocks: [
        line(`⏸ ${total} draft${total === 1 ? '' : 's'} wait${total === 1 ? 's' : ''} for your approval${total > waiting.length ? ` (the oldest ${waiting.length} here; all in the dashboard)` : ''}:`),
        ...waiting.map((a) => line(`#${a.id} `, bold(botLabel(a.bot)), ` · run #${a.runId}: `, excerpt(a.draft.replace(/\s+/g, ' '), 160))),
      ],
      buttons: waiting.map((a) => [
        { label: `✅ Approve #${a.id}`, action: `approve:${a.id}`, style: 'success' as const },
        { label: `🚫 Reject #${a.id}`, action: `reject:${a.id}`, style: 'danger' as const },
      ]),
    };
  },
  actions: {
    approve: { mode: 'replace', run: (ctx, args) => approvalAction(ctx.engine, ctx.caller, `approve:${args}`)! },
    reject: { mode: 'replace', run: (ctx, args) => approvalAction(ctx.engine, ctx.caller, `reject:${args}`)! },
  },
};
