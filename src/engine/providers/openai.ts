import OpenAI from 'openai';
import { DEFAULT_INPUT, LineSplitter, ProviderError, type CompletionHooks, type CompletionRequest, type CompletionResult, type Provider } from './provider.ts';

/**
 * OpenAI chat completions, streamed; also any OpenAI-compatible server (Ollama, vLLM, llama.cpp)
 * through `baseURL`. Usage comes from the last chunk (`stream_options.include_usage`, see
 * https://platform.openai.com/docs/api-reference/chat/create#chat-create-stream_options).
 */
export class OpenAIProvider implements Provider {
  private readonly client: OpenAI;

  constructor(opts: { apiKey: string; baseURL?: string }) {
    this.client = new OpenAI({ apiKey: opts.apiKey, baseURL: opts.baseURL, maxRetries: 2, timeout: 120_000 });
  }

  async complete(req: CompletionRequest, hooks: CompletionHooks): Promise<CompletionResult> {
    let output = '';
    let tokensIn = 0;
    let tokensOut = 0;
    const lines = new LineSplitter((l) => hooks.log(l));
    try {
      const stream = await this.client.chat.completions.create(
        {
          model: req.model,
          messages: [
            { role: 'system', content: req.system },
            { role: 'user', content: req.input || DEFAULT_INPUT },
          ],
          stream: true,
          stream_options: { include_usage: true },
        },
        { signal: hooks.signal },
      );
      for await (const chunk of stream) {
        const text = chunk.choices[0]?.delta?.content ?? '';
        if (text) {
          output += text;
          lines.push(text);
        }
        if (chunk.usage) {
          tokensIn = chunk.usage.prompt_tokens;
          tokensOut = chunk.usage.completion_tokens;
        }
      }
      lines.flush();
    } catch (err) {
      throw toProviderError(err);
    }
    return { output, tokensIn, tokensOut };
  }
}

function toProviderError(err: unknown): Error {
  if (err instanceof OpenAI.APIUserAbortError) return err;
  if (err instanceof OpenAI.APIConnectionError) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    return new ProviderError('openai', `cannot connect (${cause ?? err.message})`);
  }
  if (err instanceof OpenAI.APIError) return new ProviderError('openai', err.message, err.status);
  return new ProviderError('openai', err instanceof Error ? err.message : String(err));
}
