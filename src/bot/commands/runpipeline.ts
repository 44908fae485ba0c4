import { mayWrite } from '../../engine/access.ts';
import { AppError } from '../../engine/errors.ts';
import type { PipelineView } from '../../engine/pipelines.ts';
import { bold, line, type Message } from '../message.ts';
import type { Command, CommandContext } from './types.ts';

/** `🔎 Researcher → ✍️ Writer` */
export function stepsText(p: PipelineView): string {
  return p.stepBots.map((s) => (s.name ? `${s.emoji} ${s.name}` : `(deleted bot #${s.botId})`)).join(' → ');
}

/**
 * Starts a run of the pipeline from this chat; once the answer is posted, each step's live card
 * follows in this chat as the step starts.
 */
export async function startPipelineFromChat(ctx: CommandContext, p: PipelineView, input: string | null): Promise<Message> {
  const pr = await ctx.engine.pipelines.run(p.id, { input, trigger: `${ctx.caller.platform}:${ctx.caller.userId}` });
  ctx.watchPipeline(pr.id);
  return {
    blocks: [
      line('🧩 Started ', bold(p.name), ` · pipeline run #${pr.id}: ${stepsText(p)}.`),
      line(`Each of its ${pr.totalSteps} step${pr.totalSteps === 1 ? '' : 's'} posts its card here as it starts.`),
    ],
    buttons: [[{ label: '⏹ Stop pipeline', action: `plstop:${pr.id}`, style: 'danger' }]],
    steps: { pipelineRunId: pr.id },
  };
}

/** `/runpipeline <pipeline> [input]`: runs a pipeline's steps one after another, each step with its live card here. */
export const runpipelineCommand: Command = {
  name: 'runpipeline',
  writes: true,
  description: 'Run a pipeline (its bots one after another) with an optional input',
  params: [
    { name: 'pipeline', kind: 'pipeline', required: true, description: 'Which pipeline' },
    { name: 'input', kind: 'text', required: false, description: 'Input for its first step (optional)' },
  ],
  run: async (ctx, args) => startPipelineFromChat(ctx, await ctx.pipeline(args.pipeline), args.input ?? null),
  actions: {
    plstop: {
      mode: 'reply',
      writes: true,
      async run(ctx, id) {
        const owner = (await ctx.engine.pipelines.get((await ctx.engine.pipelines.getRun(Number(id))).pipelineId)).ownerId;
        if (!ctx.mayRead(owner)) throw new AppError('PIPELINE_RUN_NOT_FOUND', `No pipeline run with id ${id}.`);
        if (!mayWrite(ctx.account, owner)) throw new AppError('FORBIDDEN_ROLE', 'You may look at this pipeline, but not stop it.');
        const pr = await ctx.engine.pipelines.cancelRun(Number(id), `stopped from ${ctx.caller.platform} by user ${ctx.caller.userId}`);
        return { message: { blocks: [line('⏹ Stopped ', bold(pr.pipelineName), ` · pipeline run #${pr.id} at step ${pr.completedSteps + 1}/${pr.totalSteps}.`)] }, toast: '⏹ Stopped' };
      },
    },
  },
};
