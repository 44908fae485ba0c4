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
