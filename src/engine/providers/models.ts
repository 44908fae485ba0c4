import type { Config } from '../../config.ts';

/** The model providers a bot can name: `echo`, `openai:<model>`, `anthropic:<model>`. */
export type ProviderName = 'echo' | 'openai' | 'anthropic';

/** A model string split into its provider and the provider's own model name. */
export interface ModelRef {
  provider: ProviderName;
  /** The provider's model id (`gpt-4.1-mini`); `echo` for the echo model. */
  name: string;
}

/**
 * Splits `provider:model`. `echo` (or `echo:anything`) is the offline model.
 * @returns null when the string names no known provider or has an empty model part.
 */
export function parseModel(model: string): ModelRef | null {
  const m = model.trim();
  if (m === 'echo' || m.startsWith('echo:')) return { provider: 'echo', name: 'echo' };
  const i = m.indexOf(':');
  if (i <= 0) return null;
  const provider = m.slice(0, i);
  const name = m.slice(i + 1).trim();
  if (!name) return null;
  if (provider === 'openai' || provider === 'anthropic') return { provider, name };
  return null;
}

/** Which providers have credentials in this process (echo always does). */
export function configuredProviders(config: Pick<Config, 'openai' | 'anthropic'>): ProviderName[] {
  const out: ProviderName[] = ['echo'];
  if (config.openai.apiKey) out.push('openai');
  if (config.anthropic.apiKey) out.push('anthropic');
  return out;
}

/** Model suggestions for the New-bot form, for the configured providers. */
export function suggestedModels(config: Pick<Config, 'openai' | 'anthropic'>): string[] {
  const out = ['echo'];
  if (config.openai.apiKey) out.push('openai:gpt-4.1-mini', 'openai:gpt-4.1', 'openai:gpt-4o-mini');
  if (config.anthropic.apiKey) out.push('anthropic:claude-sonnet-4-5', 'anthropic:claude-haiku-4-5');
  return out;
}
