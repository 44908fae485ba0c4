import Anthropic from '@anthropic-ai/sdk';
import type { ContentBlockParam, MessageParam, Tool as AnthropicTool } from '@anthropic-ai/sdk/resources/messages/messages';
import { z } from 'zod';
import { parametersOf } from '../tools/tool.ts';
import { runAgent, systemPrompt, type ModelSession, type ModelTurn, type ToolCall, type ToolResult } from './agent.ts';
import { DEFAULT_INPUT, expectEventStream, firstIssue, LineSplitter, ProviderError, STREAM_FAULTS, streamFault, type CompletionHooks, type CompletionRequest, type CompletionResult, type Provider } from './provider.ts';

/** Output limit per answer, in tokens (the Messages API requires one). */
const MAX_TOKENS = 4096;

/**
 * Anthropic Messages API with tool use, streamed
 * (https://docs.anthropic.com/en/api/messages-streaming, https://docs.anthropic.com/en/docs/build-with-claude/tool-use).
 * Usage per round: `input_tokens` from message_start, `output_tokens` from the final message_delta.
 * Faults read as on OpenAI (see `STREAM_FAULTS`): no event stream, no `message_stop`, events that
 * are not Anthropic's JSON fail the run; tool input that is not JSON goes back to the model.
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

  /**
   * One streamed round. The events are read here rather than through the SDK's MessageStream,
   * which fails the whole stream on tool input that is not JSON; here such a call goes back to the
   * model as an error, as on OpenAI. The stream must end with `message_stop`.
   */
  async next(hooks: Pick<CompletionHooks, 'log' | 'signal'>): Promise<ModelTurn> {
    const lines = new LineSplitter((l) => hooks.log(l));
    const blocks: ({ type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; json: string } | { type: 'other' })[] = [];
    let tokensIn = 0;
    let tokensOut = 0;
    let stopped = false;
    try {
      const { data: stream, response } = await this.client.messages
        .create(
          {
            model: this.req.model,
            max_tokens: MAX_TOKENS,
            system: this.system,
            messages: this.messages,
            ...(this.tools.length ? { tools: this.tools } : {}),
            stream: true,
          },
          { signal: hooks.signal },
        )
        .withResponse();
      expectEventStream('anthropic', response);
      for await (const raw of stream) {
        const type = (raw as { type?: unknown } | null)?.type;
        if (typeof type !== 'string') throw new ProviderError('anthropic', STREAM_FAULTS.notProviderJson('an event without a type'));
        // Event types added to the API later are skipped, as the API's versioning policy asks.
        if (!KNOWN_EVENTS.has(type)) continue;
        const parsed = eventSchema.safeParse(raw);
        if (!parsed.success) throw new ProviderError('anthropic', STREAM_FAULTS.notProviderJson(`${type}: ${firstIssue(parsed.error)}`));
        const ev = parsed.data;
        switch (ev.type) {
          case 'message_start':
            tokensIn = ev.message.usage.input_tokens;
            tokensOut = ev.message.usage.output_tokens ?? 0;
            break;
          case 'content_block_start': {
            const b = ev.content_block;
            blocks[ev.index] = b.type === 'text' ? { type: 'text', text: b.text ?? '' } : b.type === 'tool_use' ? { type: 'tool_use', id: b.id ?? `toolu_${ev.index}`, name: b.name ?? '', json: '' } : { type: 'other' };
            if (b.type === 'text' && b.text) lines.push(b.text);
            break;
          }
          case 'content_block_delta': {
            const b = blocks[ev.index];
            if (ev.delta.type === 'text_delta' && b?.type === 'text' && ev.delta.text) {
              b.text += ev.delta.text;
              lines.push(ev.delta.text);
            } else if (ev.delta.type === 'input_json_delta' && b?.type === 'tool_use') b.json += ev.delta.partial_json ?? '';
            break;
          }
          case 'content_block_stop':
            break;
          case 'message_delta':
            // Cumulative (https://docs.anthropic.com/en/docs/build-with-claude/streaming#event-types).
            tokensOut = ev.usage.output_tokens;
            break;
          case 'message_stop':
            stopped = true;
            break;
        }
      }
      lines.flush();
      if (!stopped) throw new ProviderError('anthropic', STREAM_FAULTS.unfinished('no message_stop'));
    } catch (err) {
      throw toProviderError(err);
    }
    const content: ContentBlockParam[] = [];
    let text = '';
    const calls: ToolCall[] = [];
    for (const b of blocks) {
      if (b?.type === 'text') {
        text += b.text;
        // The API refuses empty text blocks in a request.
        if (b.text) content.push({ type: 'text', text: b.text });
      } else if (b?.type === 'tool_use') {
        let call: ToolCall;
        try {
          call = { id: b.id, name: b.name, args: b.json.trim() ? JSON.parse(b.json) : {} };
        } catch (err) {
          call = { id: b.id, name: b.name, argsError: (err as Error).message };
        }
        const input = call.args !== null && typeof call.args === 'object' && !Array.isArray(call.args) ? (call.args as Record<string, unknown>) : {};
        content.push({ type: 'tool_use', id: b.id, name: b.name, input });
        calls.push(call);
      }
    }
    if (content.length) this.messages.push({ role: 'assistant', content });
    return { text, calls, tokensIn, tokensOut };
  }

  addToolResults(results: ToolResult[]): void {
    this.messages.push({
      role: 'user',
      content: results.map((r) => ({ type: 'tool_result' as const, tool_use_id: r.id, content: r.content, ...(r.isError ? { is_error: true } : {}) })),
    });
  }
}

/** The stream events this provider reads (https://docs.anthropic.com/en/docs/build-with-claude/streaming). */
const KNOWN_EVENTS = new Set(['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);

/** The part of each known event this provider reads; other fields pass. */
const eventSchema = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('message_start'), message: z.looseObject({ usage: z.looseObject({ input_tokens: z.number(), output_tokens: z.number().optional() }) }) }),
  z.looseObject({
    type: z.literal('content_block_start'),
    index: z.number().int().nonnegative(),
    content_block: z.looseObject({ type: z.string(), id: z.string().optional(), name: z.string().optional(), text: z.string().optional() }),
  }),
  z.looseObject({
    type: z.literal('content_block_delta'),
    index: z.number().int().nonnegative(),
    delta: z.looseObject({ type: z.string(), text: z.string().optional(), partial_json: z.string().optional() }),
  }),
  z.looseObject({ type: z.literal('content_block_stop'), index: z.number().int().nonnegative() }),
  z.looseObject({ type: z.literal('message_delta'), usage: z.looseObject({ output_tokens: z.number() }) }),
  z.looseObject({ type: z.literal('message_stop') }),
]);

function toProviderError(err: unknown): Error {
  if (err instanceof Anthropic.APIUserAbortError) return err;
  const fault = streamFault('anthropic', err);
  if (fault) return fault;
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
