import { transaction } from '../db/database.ts';
import { approvals } from '../db/schema.ts';
import { costUsd } from '../pricing.ts';
import type { AttemptOutcome, RunAttempt } from './attempt.ts';
import type { RunEngineResources } from './resources.ts';
import { isRetryable, retryDelayMs } from './retry-policy.ts';
import { eventBot, transitionRun } from './transition.ts';

/**
 * Ends an attempt: records a plain answer as the run's one result, logs results and cost, then
 * either queues the run again as its next attempt (a failed or interrupted attempt with attempts
 * left, after the backoff), holds it for a person (a completed attempt of a run that requires
 * approval: `awaiting_approval` with its draft, nothing recorded yet), or gives it its final
 * status. Log lines are written before the status changes, so a log reader that sees the end has
 * seen every line.
 * @returns `'retrying'`, `'held'` or `'final'`, or `null` when the run had already been moved elsewhere.
 */
export async function finishAttempt(res: RunEngineResources, a: RunAttempt, outcome: AttemptOutcome, opts: { allowRetry: boolean }): Promise<'retrying' | 'held' | 'final' | null> {
  const { status } = outcome;
  const hold = status === 'completed' && a.run.requiresApproval;
  let newResults = a.newFound;
  if (hold) {
    if (a.held.length > 0) a.log('system', `${a.held.length} result${a.held.length === 1 ? '' : 's'} found, held until the draft is approved`);
  } else if (a.found.size > 0) {
    a.log('system', `${a.found.size} result${a.found.size === 1 ? '' : 's'} found, ${a.newFound} new`);
  } else if (status === 'completed' && a.toolCalls === 0 && outcome.output && outcome.output.trim()) {
    // A run that used no tool is a plain answer: the answer is its one result. A run that worked
    // with tools reports through report_result; its closing summary is not a finding.
    const { isNew } = await res.results.record(a.botId, a.runId, outputAsResult(outcome.output));
    newResults = isNew ? 1 : 0;
    a.log('system', `1 result found, ${newResults} new`);
  }
  const cost = costUsd(a.model, a.tokensIn, a.tokensOut);
  if (a.tokensIn + a.tokensOut > 0) {
    a.log('system', `tokens ${a.tokensIn} in, ${a.tokensOut} out · cost ${cost === null ? `unknown (no price for ${a.model})` : cost === 0 ? '$0' : `$${cost.toFixed(4)}`}`);
  }
  const now = res.now();
  const { attempt, maxAttempts } = a.run;
  const tokens = { tokensIn: a.tokensIn, tokensOut: a.tokensOut, costUsd: cost };
  // Only this attempt, on this process: a run taken over meanwhile (queued again, claimed elsewhere) stays as it is.
  const fence = { attempt, workerId: res.workerId };

  if (opts.allowRetry && isRetryable(status) && attempt < maxAttempts) {
    const delayMs = retryDelayMs(attempt, res.opts.retryBackoffMs);
    const reason = outcome.error ?? status;
    a.log('system', `attempt ${attempt} of ${maxAttempts} ${status}: ${reason} — attempt ${attempt + 1} in ${formatDelay(delayMs)}`);
    await res.logs.release(a.runId);
    const row = await transitionRun(res, a.runId, ['running'], 'queued', { ...tokens, attempt: attempt + 1, availableAt: now + delayMs, error: reason, output: null }, {}, fence);
    if (!row) return null;
    res.queue.push(row.id, row.availableAt);
    res.bus.emit('run.retrying', { runId: row.id, botId: row.botId, run: row, bot: await eventBot(res.db, a.botId), attempt, maxAttempts, delayMs, reason });
    return 'retrying';
  }

  const startedAt = a.run.startedAt ?? now;
  if (hold) {
    const hours = a.approvalTimeoutS / 3600;
    a.log('system', `draft ready: waiting for approval (expires in ${hours >= 1 ? `${+hours.toFixed(1)} h` : `${Math.round(a.approvalTimeoutS / 60) || 1} min`} unless decided)`);
    await res.logs.release(a.runId);
    const draft = outcome.output ?? '';
    const row = await transaction(res.db, async (tx) => {
      const held = await transitionRun({ ...res, db: tx }, a.runId, ['running'], 'awaiting_approval', { ...tokens, output: draft, error: null, durationMs: now - startedAt }, {}, fence);
      if (!held) return null;
      await tx
        .insert(approvals)
        .values({ runId: a.runId, botId: a.botId, status: 'pending', draft, heldResults: a.held, answerIsResult: a.toolCalls === 0, createdAt: now, expiresAt: now + a.approvalTimeoutS * 1000 });
      return held;
    });
    if (!row) {
      res.log.warn({ runId: a.runId }, 'run had already ended elsewhere; draft not held');
      return null;
    }
    return 'held';
  }

  if (status === 'completed') a.log('system', 'completed');
  await res.logs.release(a.runId);
  const row = await transitionRun(
    res,
    a.runId,
    ['running'],
    status,
    { ...tokens, output: outcome.output ?? null, error: outcome.error ?? null, finishedAt: now, durationMs: now - startedAt },
    { newResults },
    fence,
  );
  if (!row) {
    res.log.warn({ runId: a.runId, status }, 'run had already ended elsewhere; outcome not recorded');
    return null;
  }
  return 'final';
}

function formatDelay(ms: number): string {
  return ms < 1000 ? `${ms} ms` : ms < 60_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`;
}

/** The first non-empty line of `s`, at most 120 characters. */
export function firstLine(s: string): string {
  const line = s.split('\n').find((l) => l.trim()) ?? '';
  return line.length > 120 ? line.slice(0, 119) + '…' : line.trim();
}

/** The run's output as a result: its first line as the title, the whole output as content. */
export function outputAsResult(output: string): { title: string; content: string } {
  return { title: firstLine(output) || 'Output', content: output };
}
