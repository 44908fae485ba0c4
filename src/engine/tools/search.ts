import { z } from 'zod';
import { defineTool, ToolError, type SearchSettings } from './tool.ts';

/** Brave Search web endpoint (https://api-dashboard.search.brave.com/app/documentation/web-search/get-started). */
const BRAVE_URL = 'https://api.search.brave.com/res/v1/web/search';
const SEARCH_TIMEOUT_MS = 15_000;

/** One search hit. */
export interface SearchHit {
  title: string;
  url: string;
  snippet: string;
}

/** The message given to the model (and shown in the run log) when no search provider is set. */
export const SEARCH_UNCONFIGURED = 'web search is not configured on this server (set SEARXNG_URL or BRAVE_API_KEY); use web_fetch on a known URL instead';

/** Which provider `settings` select: SearXNG first, then Brave; null when neither is set. */
export function searchProvider(settings: SearchSettings): 'searxng' | 'brave' | null {
  return settings.searxngUrl ? 'searxng' : settings.braveApiKey ? 'brave' : null;
}

/**
 * Searches the web through SearXNG's JSON API (`GET <SEARXNG_URL>/search?q=…&format=json`, see
 * https://docs.searxng.org/dev/search_api.html; the instance must allow the `json` format) or Brave
 * Search (`X-Subscription-Token`).
 * @throws {ToolError} when unconfigured or the provider answers with an error.
 */
export async function webSearchHits(query: string, count: number, settings: SearchSettings, signal: AbortSignal): Promise<SearchHit[]> {
  const provider = searchProvider(settings);
  if (!provider) throw new ToolError(SEARCH_UNCONFIGURED);
  const both = AbortSignal.any([signal, AbortSignal.timeout(SEARCH_TIMEOUT_MS)]);
  let res: Response;
  try {
    if (provider === 'searxng') {
      const u = new URL('search', settings.searxngUrl!.endsWith('/') ? settings.searxngUrl : settings.searxngUrl + '/');
      u.searchParams.set('q', query);
      u.searchParams.set('format', 'json');
      res = await fetch(u, { signal: both, headers: { accept: 'application/json' } });
    } else {
      const u = new URL(BRAVE_URL);
      u.searchParams.set('q', query);
      u.searchParams.set('count', String(Math.min(count, 20)));
      res = await fetch(u, { signal: both, headers: { accept: 'application/json', 'x-subscription-token': settings.braveApiKey! } });
    }
  } catch (err) {
    if (signal.aborted) throw err;
    throw new ToolError(`the ${provider} search did not answer: ${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}`);
  }
  if (!res.ok) {
    const hint = provider === 'searxng' && res.status === 403 ? ' (enable the json format under search.formats in SearXNG settings.yml)' : '';
    throw new ToolError(`the ${provider} search answered HTTP ${res.status}${hint}`);
  }
  const body = (await res.json()) as Record<string, any>;
  const raw: any[] = provider === 'searxng' ? (body.results ?? []) : (body.web?.results ?? []);
  return raw
    .filter((r) => typeof r?.url === 'string')
    .slice(0, count)
    .map((r) => ({ title: String(r.title ?? ''), url: r.url, snippet: String(r.content ?? r.description ?? '').replace(/<[^>]+>/g, '') }));
}

/** `web_search`: search the web through the configured provider. */
export const webSearch = defineTool({
  name: 'web_search',
  description: 'Search the web. Returns titles, URLs and snippets; open a page with web_fetch.',
  schema: z.object({
    query: z.string().trim().min(1).max(400).describe('Search terms'),
    count: z.number().int().min(1).max(20).optional().describe('How many hits (default 10)'),
  }),
  async run(args, ctx) {
    const hits = await webSearchHits(args.query, args.count ?? 10, ctx.search, ctx.signal);
    if (hits.length === 0) return `No results for "${args.query}".`;
    return hits.map((h, i) => `${i + 1}. ${h.title}\n   ${h.url}${h.snippet ? `\n   ${h.snippet}` : ''}`).join('\n');
  },
});
