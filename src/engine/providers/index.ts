import { AnthropicProvider } from './anthropic.ts';
import { EchoProvider } from './echo.ts';
import { parseModel } from './models.ts';
import { OpenAIProvider } from './openai.ts';
import { ProviderError, type Provider } from './provider.ts';
import type { SearchSettings } from '../tools/tool.ts';

/** Provider settings handed to the run's child process (never logged). */
export interface ProviderSettings {
  openai: { apiKey?: string; baseURL?: string };
  anthropic: { apiKey?: string; baseURL?: string };
  echoDelayMs: number;
  /** Where `web_search` searches (`SEARXNG_URL`, `BRAVE_API_KEY`); absent or empty: not configured. */
  search?: SearchSettings;
  /** `web_fetch` may reach loopback and private-network addresses (`WEB_FETCH_ALLOW_PRIVATE`). */
  webFetchAllowPrivate?: boolean;
}

/**
 * The bot secret that holds a bot's own key for each provider: named like the server's variable,
 * so `OPENAI_API_KEY` on a bot means for its runs what `OPENAI_API_KEY` in the environment means
 * for every bot's. The base URL stays the server's.
 */
export const PROVIDER_KEY_SECRETS = { openai: 'OPENAI_API_KEY', anthropic: 'ANTHROPIC_API_KEY' } as const;

/**
 * `settings` for one bot's run: each provider key the bot has as a secret
 * ({@link PROVIDER_KEY_SECRETS}) replaces the server's; the rest is the server's. Never changes `settings`.
 */
export function providerSettingsFor(settings: ProviderSettings, secrets: Readonly<Record<string, string>>): ProviderSettings {
  const openai = secrets[PROVIDER_KEY_SECRETS.openai];
  const anthropic = secrets[PROVIDER_KEY_SECRETS.anthropic];
  return {
    ...settings,
    openai: openai ? { ...settings.openai, apiKey: openai } : settings.openai,
    anthropic: anthropic ? { ...settings.anthropic, apiKey: anthropic } : settings.anthropic,
  };
}

/**
 * The provider for a `provider:model` string, with the provider's model id.
 * @throws {ProviderError} when the model names no known or configured provider.
 */
export function providerFor(model: string, settings: ProviderSettings): { provider: Provider; model: string } {
  const ref = parseModel(model);
  if (!ref) throw new ProviderError('runner', `unknown model "${model}"`);
  switch (ref.provider) {
    case 'echo':
      return { provider: new EchoProvider(settings.echoDelayMs), model: 'echo' };
    case 'openai':
      if (!settings.openai.apiKey) throw new ProviderError('openai', 'OPENAI_API_KEY is not set');
      return { provider: new OpenAIProvider({ apiKey: settings.openai.apiKey, baseURL: settings.openai.baseURL }), model: ref.name };
    case 'anthropic':
      if (!settings.anthropic.apiKey) throw new ProviderError('anthropic', 'ANTHROPIC_API_KEY is not set');
      return { provider: new AnthropicProvider({ apiKey: settings.anthropic.apiKey, baseURL: settings.anthropic.baseURL }), model: ref.name };
  }
}
