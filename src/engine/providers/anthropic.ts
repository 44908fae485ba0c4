import Anthropic from '@anthropic-ai/sdk';
import type { ContentBlockParam, MessageParam, Tool as AnthropicTool } from '@anthropic-ai/sdk/resources/messages/messages';
import { parametersOf } from '../tools/tool.ts';
import { runAgent, systemPrompt, type ModelSession, type ModelTurn, type ToolResult } from './agent.ts';
import { DEFAULT_INPUT, LineSplitter, ProviderError, type CompletionHooks, type CompletionRequest, type CompletionResult, type Provider } from './provider.ts';

/** Output limit per answer, in tokens (the Messages API requires one). */
const MAX_TOKENS = 4096;

/**
 * Anthropic Messages API with tool use, streamed
 * (https://docs.anthropic.com/en/api/messages-streaming, https://docs.anthropic.com/en/docs/build-with-claude/tool-use).
 * Usage per round: `input_tokens` from message_start, `output_tokens` from the final message_delta.
 */
export class AnthropicProvider implements Provider {
  private readonly client: Anthropic;

  constructor(opts: { apiKey: string; baseURL?: string }) {
    this.client = new Anthropic({ apiKey: opts.apiKey, baseURL: opts.baseURL, maxRetries: 2, timeout: 120_000 });
  }

  complete(req: CompletionRequest, hooks: CompletionHooks): Promise<CompletionResult> {
    return runAgent(new AnthropicSession(this.client, req), req, hooks);
  }
}

/** One run's conversation in Messages API content blocks. */
class AnthropicSession implements ModelSession {
  private readonly messages: MessageParam[];
  private readonly tools: AnthropicTool[];
  private readonly system: string;

  constructor(
    private readonly client: Anthropic,
    private readonly req: CompletionRequest,
  ) {
    this.system = systemPrompt(req);
    this.messages = [{ role: 'user', content: req.input || DEFAULT_INPUT }];
    this.tools = req.tools.map((t) => ({ name: t.name, description: t.description, input_schema: parametersOf(t) as AnthropicTool['input_schema'] }));
  }

  async next(hooks: Pick<CompletionHooks, 'log' | 'signal'>): Promise<ModelTurn> {
    const lines = new LineSplitter((l) => hooks.log(l));
    try {
      const stream = this.client.messages.stream(
        {
          model: this.req.model,
          max_tokens: MAX_TOKENS,
          system: this.system,
          messages: this.messages,
          ...(this.tools.length ? { tools: this.tools } : {}),
        },
        { signal: hooks.signal },
      );
      stream.on('text', (t) => lines.push(t));
      const message = await stream.finalMessage();
      lines.flush();
      const content: ContentBlockParam[] = [];
      let text = '';
      const calls: ModelTurn['calls'] = [];
      for (const b of message.content) {
        if (b.type === 'text') {
          text += b.text;
          // The API refuses empty text blocks in a request.
          if (b.text) content.push({ type: 'text', text: b.text });
        } else if (b.type === 'tool_use') {
          content.push({ type: 'tool_use', id: b.id, name: b.name, input: b.input });
          calls.push({ id: b.id, name: b.name, args: b.input });
        }
      }
      if (content.length) this.messages.push({ role: 'assistant', content });
      return { text, calls, tokensIn: message.usage.input_tokens, tokensOut: message.usage.output_tokens };
    } catch (err) {
      throw toProviderError(err);
    }
  }

  addToolResults(results: ToolResult[]): void {
    this.messages.push({
      role: 'user',
      content: results.map((r) => ({ type: 'tool_result' as const, tool_use_id: r.id, content: r.content, ...(r.isError ? { is_error: true } : {}) })),
    });
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
