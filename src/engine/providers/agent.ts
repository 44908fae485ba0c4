import { shortArgs, ToolError, type Tool } from '../tools/index.ts';
import type { CompletionHooks, CompletionRequest, CompletionResult } from './provider.ts';

/** A tool call the model asked for. `args` is undefined when its JSON did not parse (`argsError`). */
export interface ToolCall {
  /** The provider's call id (OpenAI `tool_calls[].id`, Anthropic `tool_use.id`). */
  id: string;
  name: string;
  args?: unknown;
  argsError?: string;
}

/** One model round: streamed text, the tool calls it ended with, and its token usage. */
export interface ModelTurn {
  text: string;
  calls: ToolCall[];
  tokensIn: number;
  tokensOut: number;
}

/** What a tool call gave back, as the model will read it. */
export interface ToolResult {
  id: string;
  name: string;
  content: string;
  isError: boolean;
}

/**
 * One conversation with a model, in the provider's own message format. `next` sends the
 * conversation so far (streamed; text lines go to `hooks.log`) and appends the model's answer;
 * `addToolResults` appends the results of that answer's tool calls.
 */
export interface ModelSession {
  next(hooks: Pick<CompletionHooks, 'log' | 'signal'>): Promise<ModelTurn>;
  addToolResults(results: ToolResult[]): void;
}

/** Longest tool result sent back to the model, in characters. */
const MAX_TOOL_RESULT = 50_000;

/** The system prompt an agent provider sends: the bot's prompt, then the context (memory) below it. */
export function systemPrompt(req: Pick<CompletionRequest, 'system' | 'context'>): string {
  return req.context ? `${req.system}\n\n${req.context}` : req.system;
}

/**
 * The agent loop: up to `req.maxSteps` model rounds; after each round that asked for tools, runs
 * them one by one (each logged through `hooks.tool`) and sends the results back. Ends when a round
 * asks for no tool, or after the last allowed round (its tool calls are still carried out, so
 * results it reports count). Tool errors go back to the model; they never end the run.
 * @returns the last round's text (or, when it has none, all rounds' text).
 * @throws whatever the session throws (provider errors, aborts).
 */
export async function runAgent(session: ModelSession, req: CompletionRequest, hooks: CompletionHooks): Promise<CompletionResult> {
  const texts: string[] = [];
  const maxSteps = Math.max(1, req.maxSteps);
  for (let round = 1; ; round++) {
    const turn = await session.next(hooks);
    hooks.usage(turn.tokensIn, turn.tokensOut);
    if (turn.text.trim()) texts.push(turn.text);
    if (turn.calls.length === 0) return { output: turn.text.trim() ? turn.text : texts.join('\n\n') };
    const results: ToolResult[] = [];
    for (const call of turn.calls) {
      hooks.signal.throwIfAborted();
      results.push(await callTool(call, req.tools, hooks));
    }
    if (round >= maxSteps) {
      hooks.log(`stopped after ${round} model rounds (max_steps ${maxSteps})`);
      return { output: texts.join('\n\n') };
    }
    session.addToolResults(results);
  }
}

/**
 * Runs one tool call: finds the tool, validates the arguments, runs it, and reports it through
 * `hooks.tool`. Every failure (unknown tool, bad arguments, the tool's own error) becomes an error
 * result for the model. Only an abort of the run is thrown.
 */
export async function callTool(call: ToolCall, tools: Tool[], hooks: Pick<CompletionHooks, 'tool' | 'toolContext' | 'signal' | 'redact'>): Promise<ToolResult> {
  const started = Date.now();
  const finish = (content: string, isError: boolean): ToolResult => {
    const durationMs = Date.now() - started;
    const text = content.length > MAX_TOOL_RESULT ? `${content.slice(0, MAX_TOOL_RESULT)}\n[… truncated]` : content;
    const clean = hooks.redact ?? (<T>(v: T) => v);
    hooks.tool({ tool: call.name, args: call.args === undefined ? '(unreadable arguments)' : shortArgs(clean(call.args)), durationMs, ok: !isError, ...(isError ? { error: firstLine(clean(content)) } : {}) });
    return { id: call.id, name: call.name, content: isError ? `Error: ${text}` : text, isError };
  };
  const tool = tools.find((t) => t.name === call.name);
  if (!tool) return finish(`there is no tool "${call.name}"; available: ${tools.map((t) => t.name).join(', ')}`, true);
  if (call.argsError !== undefined) return finish(`the arguments are not valid JSON (${call.argsError})`, true);
  const parsed = tool.schema.safeParse(call.args ?? {});
  if (!parsed.success) {
    return finish(`invalid arguments: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(arguments)'}: ${i.message}`).join('; ')}`, true);
  }
  try {
    return finish(await tool.run(parsed.data, hooks.toolContext), false);
  } catch (err) {
    if (hooks.signal.aborted) throw err;
    if (err instanceof ToolError) return finish(err.message, true);
    const code = (err as NodeJS.ErrnoException).code;
    return finish(`${call.name} failed: ${code ? `${code} ` : ''}${err instanceof Error ? err.message : String(err)}`, true);
  }
}

function firstLine(s: string): string {
  const l = s.split('\n')[0] ?? '';
  return l.length > 200 ? `${l.slice(0, 199)}…` : l;
}
