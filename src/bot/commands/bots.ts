import { ago, botButtons, botLabel, botStateIcon, statusIcon } from '../format.ts';
import { bold, code, line, say, type Block } from '../message.ts';
import type { Command } from './types.ts';

/** Most bots given buttons under `/bots` (each bot is one row of three). */
const MAX_BUTTON_ROWS = 20;

/** `/bots`: every bot with its emoji, state and last run, and Run / Logs / Pause buttons. */
export const botsCommand: Command = {
  name: 'bots',
  description: 'List the bots with their status and last run',
  params: [],
  run({ engine }) {
    const bots = engine.bots.listSummaries();
    if (bots.length === 0) return say('No bots yet. Create one: ', code('/newbot Scout Find Nike Air Max under 50 €'));
    const blocks: Block[] = [line(bold(`Bots (${bots.length})`))];
    for (const b of bots) {
      const last = b.lastRunAt != null && b.lastRunStatus ? `last run ${statusIcon(b.lastRunStatus)} ${b.lastRunStatus} ${ago(b.lastRunAt)}` : 'never run';
      blocks.push(line(`${botStateIcon(b.status)} `, bold(botLabel(b)), ` — ${b.status} · ${last}`));
    }
    return { blocks, buttons: bots.slice(0, MAX_BUTTON_ROWS).map((b) => botButtons(b, true)) };
  },
};
