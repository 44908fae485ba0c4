import { say } from '../message.ts';
import type { Command } from './types.ts';

/** `/cancel`: ends a guided flow (like the questions of /newbot) that is waiting for an answer. */
export const cancelCommand: Command = {
  name: 'cancel',
  description: 'Cancel the question I am waiting for you to answer',
  params: [],
  run(ctx) {
    if (!ctx.flow.get()) return say('There is nothing to cancel.');
    ctx.flow.clear();
    return say('Cancelled.');
  },
};
