/**
 * Approvals in chat: the message that delivers a draft carries ✅ Approve / 🚫 Reject buttons
 * (`approve:<approval id>`, `reject:<approval id>`), and `/approvals` lists what waits. A press is
 * a decision recorded as by `telegram:<user id>` / `discord:<user id>`; the command core refuses
 * people who are not on the allow list before an action runs, so their presses change nothing.
 *
 * Delivery calls {@link approvalDraftMessage} with `engine.approvals.get(engine.approvals.byRun(runId).id)`
 * when it hears `run.awaiting_approval`, and posts it to the chats that see the run (its card's
 * chat, the bot's subscribers). A press comes back as this command's `approve` / `reject` action.
 */
import type { ApprovalView } from '../../engine/approvals.ts';
import { AppError, isAppError } from '../../engine/errors.ts';
import { botLabel } from '../format.ts';
import { bold, excerpt, failure, line, output, say, type Message } from '../message.ts';
import type { ActionResult, Command, CommandContext } from './types.ts';

/** The draft as its delivery message shows it: bot, run, pipeline step, draft text, buttons. */
export function approvalDraftMessage(a: ApprovalView): Message {
  const draft = a.draft.trim();
  return {
    blocks: [
      line('⏸ ', bold(botLabel(a.bot)), ` · run #${a.runId} wrote a draft that waits for your approval`, a.pipeline ? ` (pipeline ${a.pipeline.name}, step ${a.pipeline.step}/${a.pipeline.totalSteps})` : '', ':'),
      output(draft || '(empty)'),
      line(`Approval #${a.id} · expires ${new Date(a.expiresAt).toISOString().slice(0, 16).replace('T', ' ')} UTC · to edit it first, use the dashboard's Approvals`),
    ],
    buttons: [
      [
        { label: '✅ Approve', action: `approve:${a.id}`, style: 'success' },
        { label: '🚫 Reject', action: `reject:${a.id}`, style: 'danger' },
      ],
    ],
  };
}

/** The draft message once decided: what was decided and by whom, the text, no buttons. */
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
  return { blocks: [line(verdict, ' · ', bold(botLabel(a.bot)), ` · run #${a.runId}`), output(excerpt(a.finalText ?? a.draft, 1500) || '(empty)')] };
}

/** A press of Approve or Reject: decides, and answers with the decided draft in place of the buttons. */
async function decide(ctx: CommandContext, verdict: 'approve' | 'reject', rawId: string): Promise<ActionResult> {
  const { engine, caller } = ctx;
  if (!/^\d{1,15}$/.test(rawId)) throw new AppError('APPROVAL_NOT_FOUND', `No approval with id ${rawId}.`);
  const id = Number(rawId);
  let botId: number | undefined;
  try {
    botId = (await engine.approvals.get(id)).botId;
  } catch {
    // unknown: the engine's answer below says so
  }
  if (botId !== undefined) await ctx.botById(String(botId)); // may the account decide for this bot?
  const by = `${caller.platform}:${caller.userId}`;
  try {
    const a =
      verdict === 'approve'
        ? await engine.approvals.approve(id, {}, by)
        : await engine.approvals.reject(id, { reason: `rejected from ${caller.platform === 'telegram' ? 'Telegram' : 'Discord'}` }, by);
    return { message: decidedMessage(a), toast: a.status === 'approved' ? '✅ Approved' : '🚫 Rejected' };
  } catch (err) {
    if (!isAppError(err) || (err.code !== 'APPROVAL_DECIDED' && err.code !== 'APPROVAL_NOT_FOUND')) throw err;
    // Decided already (say, from the dashboard): the message shows how, and nothing changes.
    let shown: Message = failure(err.message);
    try {
      shown = decidedMessage(await engine.approvals.get(id));
    } catch {
      // gone with its bot
    }
    return { message: shown, toast: excerpt(err.message, 190) };
  }
}

/**
 * `/approvals`: the drafts that wait, each with its buttons (at most 10; the rest are in the
 * dashboard's inbox). Its actions are the buttons of every draft message.
 */
export const approvalsCommand: Command = {
  name: 'approvals',
  description: 'Drafts waiting for your approval, with Approve / Reject buttons',
  params: [],
  async run(ctx) {
    const owners = new Set((await ctx.engine.bots.list()).filter((b) => ctx.mayRead(b.ownerId)).map((b) => b.id));
    const visible = (await ctx.engine.approvals.list({ status: 'pending', limit: 500 })).filter((a) => owners.has(a.botId));
    const waiting = visible.slice(0, 10).reverse();
    if (waiting.length === 0) return say('Nothing waits for your approval.');
    const total = visible.length;
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
    // The decision replaces the buttons, so a draft message is pressed once.
    approve: { mode: 'replace', writes: true, run: (ctx, id) => decide(ctx, 'approve', id) },
    reject: { mode: 'replace', writes: true, run: (ctx, id) => decide(ctx, 'reject', id) },
  },
};
