import OpenAI from 'openai';
import type { ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { z } from 'zod';
import { parametersOf, type Tool } from '../tools/tool.ts';
import { runAgent, systemPrompt, type ModelSession, type ModelTurn, type ToolCall, type ToolResult } from './agent.ts';
import { DEFAULT_INPUT, expectEventStream, firstIssue, LineSplitter, ProviderError, STREAM_FAULTS, streamFault, type CompletionHooks, type CompletionRequest, type CompletionResult, type Provider } from './provider.ts';

/**
 * OpenAI chat completions with function calling, streamed; also any OpenAI-compatible server
 * (Ollama, vLLM, llama.cpp) through `baseURL`. Tool calls arrive as `delta.tool_calls` pieces,
 * joined by index (https://platform.openai.com/docs/guides/function-calling#streaming); usage comes
 * from the last chunk (`stream_options.include_usage`, see
 * https://platform.openai.com/docs/api-reference/chat/create#chat-create-stream_options).
 * Faults read as on Anthropic (see `STREAM_FAULTS`): no event stream, no chunk with a
 * `finish_reason`, chunks that are not OpenAI's JSON fail the run; tool arguments that are not
 * JSON go back to the model.
 */
export class OpenAIProvider implements Provider {
  private readonly client: OpenAI;

  constructor(opts: { apiKey: string; baseURL?: string }) {
    this.client = new OpenAI({ apiKey: opts.apiKey, baseURL: opts.baseURL, maxRetries: 2, timeout: 120_000 });
  }

  complete(req: CompletionRequest, hooks: CompletionHooks): Promise<CompletionResult> {
    return runAgent(new OpenAISession(this.client, req), req, hooks);
  }
}

/** One run's conversation in Chat Completions messages. */
class OpenAISession implements ModelSession {
  private readonly messages: ChatCompletionMessageParam[];
  private readonly tools: ChatCompletionTool[];

  constructor(
    private readonly client: OpenAI,
    private readonly req: CompletionRequest,
  ) {
    this.messages = [
      { role: 'system', content: systemPrompt(req) },
      { role: 'user', content: req.input || DEFAULT_INPUT },
    ];
    this.tools = req.tools.map((t: Tool) => ({ type: 'function', function: { name: t.name, description: t.description, parameters: parametersOf(t) } }));
  }

  async next(hooks: Pick<CompletionHooks, 'log' | 'signal'>): Promise<ModelTurn> {
    let text = '';
    let tokensIn = 0;
    let tokensOut = 0;
    let finished = false;
    const pieces = new Map<number, { id: string; name: string; args: string }>();
    const lines = new LineSplitter((l) => hooks.log(l));
    try {
      const { data: stream, response } = await this.client.chat.completions
        .create(
          {
            model: this.req.model,
            messages: this.messages,
            ...(this.tools.length ? { tools: this.tools } : {}),
            stream: true,
            stream_options: { include_usage: true },
          },
          { signal: hooks.signal },
        )
        .withResponse();
      // The SDK reads any 200 body as events; an HTML page would pass as an empty answer.
      expectEventStream('openai', response);
      for await (const raw of stream) {
        const parsed = chunkSchema.safeParse(raw);
        if (!parsed.success) throw new ProviderError('openai', STREAM_FAULTS.notProviderJson(firstIssue(parsed.error)));
        const chunk = parsed.data;
        const choice = chunk.choices[0];
        if (choice?.finish_reason) finished = true;
        const delta = choice?.delta;
        if (delta?.content) {
          text += delta.content;
          lines.push(delta.content);
        }
        for (const tc of delta?.tool_calls ?? []) {
          const index = tc.index ?? 0;
          const p = pieces.get(index) ?? { id: '', name: '', args: '' };
          if (tc.id) p.id = tc.id;
          if (tc.function?.name) p.name += tc.function.name;
          if (tc.function?.arguments) p.args += tc.function.arguments;
          pieces.set(index, p);
        }
        if (chunk.usage) {
          tokensIn = chunk.usage.prompt_tokens;
          tokensOut = chunk.usage.completion_tokens;
        }
      }
      lines.flush();
      // The SDK ends quietly when the body ends, [DONE] or not: only finish_reason says it is whole.
      if (!finished) throw new ProviderError('openai', STREAM_FAULTS.unfinished('no chunk with a finish_reason'));
    } catch (err) {
      throw toProviderError(err);
    }
    const ordered = [...pieces.entries()].sort(([a], [b]) => a - b).map(([i, p]) => ({ ...p, id: p.id || `call_${i}` }));
    const calls: ToolCall[] = ordered.map((p) => {
      try {
        return { id: p.id, name: p.name, args: p.args.trim() ? JSON.parse(p.args) : {} };
      } catch (err) {
        return { id: p.id, name: p.name, argsError: (err as Error).message };
      }
    });
    this.messages.push({
      role: 'assistant',
      content: text || null,
      ...(ordered.length ? { tool_calls: ordered.map((p) => ({ id: p.id, type: 'function' as const, function: { name: p.name, arguments: p.args || '{}' } })) } : {}),
    });
    return { text, calls, tokensIn, tokensOut };
  }

  addToolResults(results: ToolResult[]): void {
    for (const r of results) this.messages.push({ role: 'tool', tool_call_id: r.id, content: r.content });
  }
}

/**
 * The part of a chat completion chunk this provider reads
 * (https://platform.openai.com/docs/api-reference/chat-streaming/streaming); other fields pass.
 * OpenAI-compatible servers differ in what they leave out, so only what is read is required.
 */
const chunkSchema = z.looseObject({
  choices: z.array(
    z.looseObject({
      delta: z
        .looseObject({
          content: z.string().nullish(),
          tool_calls: z
            .array(
              z.looseObject({
                index: z.number().int().nonnegative().optional(),
                id: z.string().nullish(),
                function: z.looseObject({ name: z.string().nullish(), arguments: z.string().nullish() }).nullish(),
              }),
            )
            .nullish(),
        })
        .nullish(),
      finish_reason: z.string().nullish(),
    }),
  ),
  usage: z.looseObject({ prompt_tokens: z.number(), completion_tokens: z.number() }).nullish(),
});

function toProviderError(err: unknown): Error {
  if (err instanceof OpenAI.APIUserAbortError) return err;
  const fault = streamFault('openai', err);
  if (fault) return fault;
  if (err instanceof OpenAI.APIConnectionError) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    return new ProviderError('openai', `cannot connect (${cause ?? err.message})`);
  }
  if (err instanceof OpenAI.APIError) return new ProviderError('openai', err.message, err.status);
  return new ProviderError('openai', err instanceof Error ? err.message : String(err));
}
