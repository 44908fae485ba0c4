import Anthropic from '@anthropic-ai/sdk';
import { DEFAULT_INPUT, LineSplitter, ProviderError, type CompletionHooks, type CompletionRequest, type CompletionResult, type Provider } from './provider.ts';

/** Output limit per answer, in tokens (the Messages API requires one). */
const MAX_TOKENS = 4096;

/**
 * Anthropic Messages API, streamed (https://docs.anthropic.com/en/api/messages-streaming).
 * Usage: `input_tokens` from message_start, `output_tokens` from the final message_delta.
 */
export class AnthropicProvider implements Provider {
  private readonly client: Anthropic;

  constructor(opts: { apiKey: string; baseURL?: string }) {
    this.client = new Anthropic({ apiKey: opts.apiKey, baseURL: opts.baseURL, maxRetries: 2, timeout: 120_000 });
  }

  async complete(req: CompletionRequest, hooks: CompletionHooks): Promise<CompletionResult> {
    const lines = new LineSplitter((l) => hooks.log(l));
    try {
      const stream = this.client.messages.stream(
        {
          model: req.model,
          max_tokens: MAX_TOKENS,
          system: req.system,
          messages: [{ role: 'user', content: req.input || DEFAULT_INPUT }],
        },
        { signal: hooks.signal },
      );
      stream.on('text', (t) => lines.push(t));
      const message = await stream.finalMessage();
      lines.flush();
      const output = message.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
      return { output, tokensIn: message.usage.input_tokens, tokensOut: message.usage.output_tokens };
    } catch (err) {
      throw toProviderError(err);
    }
  }
}

function toProviderError(err: unknown): Error {
  if (err instanceof Anthropic.APIUserAbortError) return err;
  if (err instanceof Anthropic.APIConnectionError) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    return new ProviderError('anthropic', `cannot connect (${cause ?? err.message})`);
  }
  if (err instanceof Anthropic.APIError) {
    // The SDK's message is the status plus the whole JSON body; the body's own sentence reads better.
    const body = err.error as { error?: { message?: string } } | undefined;
    const message = body?.error?.message ? `${err.status} ${body.error.message}` : err.message;
    return new ProviderError('anthropic', message, err.status);
  }
  return new ProviderError('anthropic', err instanceof Error ? err.message : String(err));
}
