import { mayWrite } from '../../engine/access.ts';
import { AppError } from '../../engine/errors.ts';
import { ago, describeSchedule } from '../format.ts';
import { bold, code, line, say, type Block, type Button } from '../message.ts';
import { startPipelineFromChat, stepsText } from './runpipeline.ts';
import type { Command } from './types.ts';

/** Pipelines given a ▶ button (Discord takes at most 5 rows); the others are named with /runpipeline. */
const MAX_BUTTONS = 5;

/** `/pipelines`: each pipeline with its steps, schedule and last run, and a ▶ button to run it. */
export const pipelinesCommand: Command = {
  name: 'pipelines',
  description: 'List the pipelines with their steps and last run',
  params: [],
  async run(ctx) {
    const list = (await ctx.engine.pipelines.list()).filter((p) => ctx.mayRead(p.ownerId));
    if (list.length === 0) return say('No pipelines yet. Create one on the dashboard (Pipelines), then run it here with ', code('/runpipeline <name>'), '.');
    const blocks: Block[] = [line(bold(`Pipelines (${list.length})`))];
    for (const p of list) {
      const last = (await ctx.engine.pipelines.listRuns(p.id, 1))[0];
      blocks.push(
        line(
          '🧩 ',
          bold(p.name),
          ` — ${stepsText(p)}`,
          p.schedule ? ` · ${describeSchedule(p.schedule)}` : '',
          ` · ${last ? `last run ${last.status} (${last.progress}) ${ago(last.createdAt)}` : 'never run'}`,
        ),
      );
    }
    if (list.length > MAX_BUTTONS) blocks.push(line('Run any of them with ', code('/runpipeline <name> [input]'), '.'));
    const buttons: Button[][] = list.slice(0, MAX_BUTTONS).map((p) => [{ label: `▶ ${p.name}`, action: `runpl:${p.id}`, style: 'primary' }]);
    return { blocks, buttons };
  },
  actions: {
    runpl: {
      mode: 'reply',
      writes: true,
      async run(ctx, id) {
        let p;
        try {
          p = await ctx.engine.pipelines.get(Number(id));
        } catch {
          throw new AppError('PIPELINE_NOT_FOUND', 'That pipeline no longer exists.');
        }
        if (!ctx.mayRead(p.ownerId)) throw new AppError('PIPELINE_NOT_FOUND', 'That pipeline no longer exists.');
        if (!mayWrite(ctx.account, p.ownerId)) throw new AppError('FORBIDDEN_ROLE', 'You may look at this pipeline, but not run it.');
        return { message: await startPipelineFromChat(ctx, p, null), toast: '▶ Started' };
      },
    },
  },
};
