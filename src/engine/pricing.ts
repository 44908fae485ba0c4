/**
 * What a run cost, from a price table per model. Prices are list prices in USD per million tokens
 * (input, output), as published on https://openai.com/api/pricing and
 * https://docs.anthropic.com/en/docs/about-claude/pricing (checked 2025). Cached-input discounts
 * and batch prices are not modelled: the figure is what the tokens cost at list price.
 * A model not in the table has no cost (null), never a guess.
 */

/** USD per 1M tokens. */
export interface ModelPrice {
  input: number;
  output: number;
}

/** List prices by `provider:model`; dated snapshots are priced through {@link ALIASES} only. */
export const PRICES: Readonly<Record<string, ModelPrice>> = {
  echo: { input: 0, output: 0 },
  'openai:gpt-5': { input: 1.25, output: 10 },
  'openai:gpt-5-mini': { input: 0.25, output: 2 },
  'openai:gpt-5-nano': { input: 0.05, output: 0.4 },
  'openai:gpt-4.1': { input: 2, output: 8 },
  'openai:gpt-4.1-mini': { input: 0.4, output: 1.6 },
  'openai:gpt-4.1-nano': { input: 0.1, output: 0.4 },
  'openai:gpt-4o': { input: 2.5, output: 10 },
  'openai:gpt-4o-mini': { input: 0.15, output: 0.6 },
  'openai:o3': { input: 2, output: 8 },
  'openai:o4-mini': { input: 1.1, output: 4.4 },
  'anthropic:claude-opus-4-1': { input: 15, output: 75 },
  'anthropic:claude-opus-4-0': { input: 15, output: 75 },
  'anthropic:claude-sonnet-4-5': { input: 3, output: 15 },
  'anthropic:claude-sonnet-4-0': { input: 3, output: 15 },
  'anthropic:claude-3-7-sonnet': { input: 3, output: 15 },
  'anthropic:claude-haiku-4-5': { input: 1, output: 5 },
  'anthropic:claude-3-5-haiku': { input: 0.8, output: 4 },
};

/**
 * Other names of priced models: aliases and the dated snapshots known to cost what their model
 * costs. A snapshot not listed here has no price: old snapshots were priced differently (the first
 * gpt-4o snapshot, 2024-05-13, cost $5/$15), so stripping the date would be a guess.
 */
const ALIASES: Readonly<Record<string, string>> = {
  'anthropic:claude-opus-4': 'anthropic:claude-opus-4-0',
  'anthropic:claude-sonnet-4': 'anthropic:claude-sonnet-4-0',
  'anthropic:claude-3-7-sonnet-latest': 'anthropic:claude-3-7-sonnet',
  'anthropic:claude-3-5-haiku-latest': 'anthropic:claude-3-5-haiku',
  'anthropic:claude-opus-4-1-20250805': 'anthropic:claude-opus-4-1',
  'anthropic:claude-opus-4-20250514': 'anthropic:claude-opus-4-0',
  'anthropic:claude-sonnet-4-5-20250929': 'anthropic:claude-sonnet-4-5',
  'anthropic:claude-sonnet-4-20250514': 'anthropic:claude-sonnet-4-0',
  'anthropic:claude-3-7-sonnet-20250219': 'anthropic:claude-3-7-sonnet',
  'anthropic:claude-haiku-4-5-20251001': 'anthropic:claude-haiku-4-5',
  'anthropic:claude-3-5-haiku-20241022': 'anthropic:claude-3-5-haiku',
  'openai:gpt-5-2025-08-07': 'openai:gpt-5',
  'openai:gpt-5-mini-2025-08-07': 'openai:gpt-5-mini',
  'openai:gpt-5-nano-2025-08-07': 'openai:gpt-5-nano',
  'openai:gpt-4.1-2025-04-14': 'openai:gpt-4.1',
  'openai:gpt-4.1-mini-2025-04-14': 'openai:gpt-4.1-mini',
  'openai:gpt-4.1-nano-2025-04-14': 'openai:gpt-4.1-nano',
  'openai:gpt-4o-2024-08-06': 'openai:gpt-4o',
  'openai:gpt-4o-2024-11-20': 'openai:gpt-4o',
  'openai:gpt-4o-mini-2024-07-18': 'openai:gpt-4o-mini',
  'openai:o3-2025-04-16': 'openai:o3',
  'openai:o4-mini-2025-04-16': 'openai:o4-mini',
};

/** The price of a `provider:model`, or null when the table does not know it. */
export function priceOf(model: string): ModelPrice | null {
  const m = model.trim().toLowerCase();
  if (m === 'echo' || m.startsWith('echo:')) return PRICES.echo!;
  return PRICES[ALIASES[m] ?? m] ?? null;
}

/**
 * The cost of `tokensIn` input and `tokensOut` output tokens on `model`, in USD (rounded to a
 * millionth of a dollar).
 * @returns null when the model's price is unknown.
 */
export function costUsd(model: string, tokensIn: number, tokensOut: number): number | null {
  const p = priceOf(model);
  if (!p) return null;
  return Math.round(((tokensIn * p.input + tokensOut * p.output) / 1_000_000) * 1e6) / 1e6;
}
