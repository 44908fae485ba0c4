import type { Engine } from '../../engine/engine.ts';
import { ago, botButtons, botLabel, botStateIcon, statusIcon } from '../format.ts';
import { bold, code, line, say, type Block, type Button, type Message } from '../message.ts';
import type { Command } from './types.ts';

/** Bots shown at once: all of them up to this many (one row of buttons each)… */
const ONE_PAGE = 5;
/** …else this many a page, with a ◀ ▶ row (Discord takes at most 5 rows of buttons). */
const PAGE_SIZE = 4;

/** Page `page` (0-based, clamped) of the bot list, with Run / Logs / Pause buttons per bot and ◀ ▶ between pages. */
async function botsPage(engine: Engine, page: number, visible: (ownerId: number) => boolean): Promise<Message> {
  const bots = (await engine.bots.listSummaries()).filter((b) => visible(b.ownerId));
  if (bots.length === 0) return say('No bots yet. Create one: ', code('/newbot Scout find Nike Air Max under 50 €'), ', or send /newbot to start from a template.');
  const size = bots.length <= ONE_PAGE ? ONE_PAGE : PAGE_SIZE;
  const pages = Math.ceil(bots.length / size);
  const p = Math.min(Math.max(0, Number.isFinite(page) ? Math.floor(page) : 0), pages - 1);
  const shown = bots.slice(p * size, p * size + size);
  const blocks: Block[] = [line(bold(`Bots (${bots.length})`), pages > 1 ? ` · page ${p + 1} of ${pages}` : '')];
  for (const b of shown) {
    const last = b.lastRunAt != null && b.lastRunStatus ? `last run ${statusIcon(b.lastRunStatus)} ${b.lastRunStatus} ${ago(b.lastRunAt)}` : 'never run';
    blocks.push(line(`${botStateIcon(b.status)} `, bold(botLabel(b)), ` — ${b.status} · ${last}`));
  }
  const buttons: Button[][] = shown.map((b) => botButtons(b, true));
  if (pages > 1) {
    const nav: Button[] = [];
    if (p > 0) nav.push({ label: '◀ Previous', action: `bots:${p - 1}`, style: 'secondary' });
    if (p < pages - 1) nav.push({ label: 'Next ▶', action: `bots:${p + 1}`, style: 'secondary' });
    buttons.push(nav);
  }
  return { blocks, buttons };
}

/** `/bots`: the bots the account may see, with emoji, state and last run, a page at a time, with Run / Logs / Pause buttons. */
export const botsCommand: Command = {
  name: 'bots',
  description: 'List the bots with their status and last run',
  params: [],
  run: (ctx) => botsPage(ctx.engine, 0, ctx.mayRead),
  actions: { bots: { mode: 'replace', run: async (ctx, page) => ({ message: await botsPage(ctx.engine, Number(page), ctx.mayRead), toast: 'Bots' }) } },
};
