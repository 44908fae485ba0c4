import { z } from 'zod';
import { defineTool, ToolError } from './tool.ts';

/**
 * `report_result`: records one finding as a result of the bot. Always available. The parent
 * stores it once per bot: an item reported before (same normalized URL, else same title and
 * content) is not new again, and the model is told so.
 */
export const reportResult = defineTool({
  name: 'report_result',
  description:
    'Report one finding (a deal, an article, an answer) as a result of this run. Call it once per item. ' +
    'Items you reported in earlier runs are recognised by their URL (or title and content) and not counted again, so report every match you find.',
  schema: z.object({
    title: z.string().trim().min(1).max(300).describe('Short headline of the item, e.g. "Nike Air Max 90, size 43 — 35 €"'),
    content: z.string().max(20_000).optional().describe('Details (markdown allowed)'),
    url: z.string().max(2000).optional().describe('Link to the item, when it has one'),
    metadata: z.record(z.string(), z.unknown()).optional().describe('Structured fields, e.g. {"price": 35, "currency": "EUR"}'),
  }),
  async run(args, ctx) {
    const url = args.url?.trim() || undefined;
    if (url !== undefined && !/^https?:\/\//i.test(url)) throw new ToolError(`url must be an http(s) link, not "${url}"`);
    const { resultId, isNew } = await ctx.report({ title: args.title, content: args.content, url, metadata: args.metadata });
    return isNew ? `Recorded as new result #${resultId}.` : `Already reported before (result #${resultId}); not new, not recorded again.`;
  },
});
