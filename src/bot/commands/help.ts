import { bold, code, line, type Block } from '../message.ts';
import type { Command } from './types.ts';

/** `/help`: every command with its usage. The command list comes from the registry. */
export function helpCommand(list: () => Command[], usage: (c: Command) => string): Command {
  return {
    name: 'help',
    description: 'What I can do',
    params: [],
    run() {
      const blocks: Block[] = [line(bold('openOrchestrator'), ' — command your bots from here. A bot is named by its name, in any case.')];
      for (const c of list()) if (!c.hidden) blocks.push(line(code(usage(c)), ` — ${c.description}`));
      blocks.push(line('Names with spaces go in quotes: ', code('/newbot "eBay Scout" find Nike Air Max under 50 €')));
      return { blocks };
    },
  };
}
