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

/** List prices by `provider:model`. Dated snapshots (`gpt-4.1-2025-04-14`, `claude-sonnet-4-5-20250929`) share their model's price. */
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

/** Aliases Anthropic uses for the same models. */
const ALIASES: Readonly<Record<string, string>> = {
  'anthropic:claude-opus-4': 'anthropic:claude-opus-4-0',
  'anthropic:claude-sonnet-4': 'anthropic:claude-sonnet-4-0',
  'anthropic:claude-3-7-sonnet-latest': 'anthropic:claude-3-7-sonnet',
  'anthropic:claude-3-5-haiku-latest': 'anthropic:claude-3-5-haiku',
};

/** The price of a `provider:model`, or null when the table does not know it. */
export function priceOf(model: string): ModelPrice | null {
  const m = model.trim().toLowerCase();
  if (m === 'echo' || m.startsWith('echo:')) return PRICES.echo!;
  // A dated snapshot costs what its model costs: strip -YYYY-MM-DD or -YYYYMMDD.
  const base = m.replace(/-(\d{4}-\d{2}-\d{2}|\d{8})$/, '');
  const key = ALIASES[base] ?? base;
  return PRICES[key] ?? null;
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
