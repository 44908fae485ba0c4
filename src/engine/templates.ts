import type { TOOL_NAMES } from './bots.ts';

/** A ready-made bot a person can start from (seed 001: "Vorlagen (eBay-Scout, Dev+Test, …)"). */
export interface BotTemplate {
  id: string;
  name: string;
  emoji: string;
  description: string;
  prompt: string;
  tools: (typeof TOOL_NAMES)[number][];
  /** What a person would type for the schedule (`every 30m`), or '' for manual. */
  schedule: string;
}

/** The templates offered in the New-bot form and at `GET /api/templates`. */
export const BOT_TEMPLATES: readonly BotTemplate[] = [
  {
    id: 'ebay-scout',
    name: 'eBay-Scout',
    emoji: '🛒',
    description: 'Finds new deals under your price and reports each one once',
    prompt: [
      'You scout eBay Kleinanzeigen for Nike Air Max in size 43 under 50 €.',
      'Search with web_search (or open a known search page with web_fetch), read the listings, and',
      'call report_result once for every offer under the price, with the title "<model> — <price>",',
      'the listing URL and the price in metadata. Offers you already reported are recognised by their',
      'URL, so report freely. Keep notes on what you looked at in memory.md and read it first.',
    ].join(' '),
    tools: ['web_search', 'web_fetch', 'files'],
    schedule: 'every 30m',
  },
  {
    id: 'dev-bot',
    name: 'Dev-Bot',
    emoji: '💻',
    description: 'Builds code from the spec in its folder',
    prompt: 'Read spec.md in your folder, write the code it asks for into files next to it, run it with run_code to check it works, and report what you built with report_result.',
    tools: ['files', 'code'],
    schedule: '',
  },
  {
    id: 'test-bot',
    name: 'Test-Bot',
    emoji: '🧪',
    description: 'Tests what Dev-Bot built (link it: Dev-Bot —completed→ Test-Bot)',
    prompt: "Your input is Dev-Bot's summary of what it built. Write tests for it, run them with run_code, and report each failure with report_result; say plainly when all pass.",
    tools: ['files', 'code'],
    schedule: '',
  },
  {
    id: 'researcher',
    name: 'Researcher',
    emoji: '🔎',
    description: 'Collects sources on a topic (first step of a blog pipeline)',
    prompt: 'Research the topic given as input: search the web, read the best 3–5 sources, and answer with a short brief that lists each source with its URL and the key facts from it.',
    tools: ['web_search', 'web_fetch'],
    schedule: '',
  },
];

/** The template with this id, or undefined. */
export function findTemplate(id: string): BotTemplate | undefined {
  return BOT_TEMPLATES.find((t) => t.id === id);
}
