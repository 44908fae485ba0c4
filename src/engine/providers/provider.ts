import type { Tool, ToolContext } from '../tools/index.ts';

/** What a provider is asked to do for one run. */
export interface CompletionRequest {
  /** The provider's own model id (`gpt-4.1-mini`, `claude-sonnet-4-5`, `echo`). */
  model: string;
  /** The bot's prompt, sent as the system prompt. */
  system: string;
  /**
   * More system prompt, placed below the bot's prompt by agent providers: the memory section
   * (docs folder listing, always-read files). '' when there is nothing to add. Echo ignores it.
   */
  context: string;
  /** The run's input (a person's text or the previous run's output); may be empty. */
  input: string;
  /** Tools the model may call; echo ignores them. */
  tools: Tool[];
  /** Most model rounds (bots.max_steps, at least 1). */
  maxSteps: number;
}

/** One finished tool call, as the run log shows it. */
export interface ToolLogEntry {
  tool: string;
  /** Arguments, shortened for one log line. */
  args: string;
  durationMs: number;
  ok: boolean;
  /** The error message given to the model, when `ok` is false. */
  error?: string;
}

/** What the provider can do while it works. */
export interface CompletionHooks {
  /** Appends one line to the run's log. */
  log(text: string): void;
  /** Aborted when the run is cancelled or times out. */
  signal: AbortSignal;
  /** Reports the tokens of one model round, as soon as they are known (they are summed by the parent). */
  usage(tokensIn: number, tokensOut: number): void;
  /** Reports one finished tool call. */
  tool(entry: ToolLogEntry): void;
  /** What tools use while they run. */
  toolContext: ToolContext;
  /**
   * Replaces the bot's secret values in a string, or in every string of an object, by
   * `[redacted NAME]` (see `secretRedactionRules`); applied to tool calls before they are shortened
   * for the log, so a cut never leaves part of a value behind. Absent: nothing to redact.
   */
  redact?<T>(value: T): T;
}

/** A finished completion: the final answer. Token usage went out through `hooks.usage`. */
export interface CompletionResult {
  output: string;
}

/** One model provider (echo, OpenAI-compatible, Anthropic). Errors are thrown as `ProviderError`. */
export interface Provider {
  complete(req: CompletionRequest, hooks: CompletionHooks): Promise<CompletionResult>;
}

/** A provider call that failed; `message` is the provider's own words, prefixed with its name. */
export class ProviderError extends Error {
  constructor(
    readonly provider: string,
    message: string,
    readonly status?: number,
  ) {
    super(`${provider}: ${message}`);
    this.name = 'ProviderError';
  }
}

/**
 * Why a provider's answer cannot be used although the HTTP request succeeded: one wording for
 * every provider, so the same fault reads the same on OpenAI and Anthropic. Each becomes a
 * {@link ProviderError} (prefixed with the provider's name) and fails the run; a partial answer
 * is never passed off as a complete one.
 */
export const STREAM_FAULTS = {
  /** A 2xx whose body is no Server-Sent Events stream (an HTML login page of a proxy, a JSON body). */
  notEventStream: (status: number, contentType: string | null) =>
    `answered HTTP ${status} with ${contentType ? `"${contentType}"` : 'no content type'} instead of an event stream (text/event-stream)`,
  /** The stream ended (or the connection closed) before the provider's last event. */
  unfinished: (how: string) => `the answer stream ended before its final event (${how}): the answer is incomplete`,
  /** An event whose data is not JSON, or JSON not shaped as the provider's events. */
  notProviderJson: (detail: string) => `the answer stream carried an event that is not the provider's JSON (${detail})`,
} as const;

/**
 * Checks that a streamed request was answered with an event stream.
 * @throws {ProviderError} {@link STREAM_FAULTS}.notEventStream otherwise.
 */
export function expectEventStream(provider: string, response: Response): void {
  const type = response.headers.get('content-type');
  if (!type?.toLowerCase().includes('text/event-stream')) throw new ProviderError(provider, STREAM_FAULTS.notEventStream(response.status, type));
}

/**
 * The provider-independent part of turning a failure while reading a stream into a
 * {@link ProviderError}: data that is not JSON (the SDKs' `JSON.parse` throws a SyntaxError) and a
 * connection closed mid-body (undici's `TypeError: terminated`). `null` for anything else.
 */
export function streamFault(provider: string, err: unknown): ProviderError | null {
  if (err instanceof ProviderError) return err;
  if (err instanceof SyntaxError) return new ProviderError(provider, STREAM_FAULTS.notProviderJson(err.message));
  if (err instanceof TypeError && err.message === 'terminated') {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    return new ProviderError(provider, STREAM_FAULTS.unfinished(`the connection closed${cause ? `: ${cause}` : ''}`));
  }
  return null;
}

/** The first problem zod found, as `path: message`, for {@link STREAM_FAULTS}.notProviderJson. */
export function firstIssue(error: { issues: { path: PropertyKey[]; message: string }[] }): string {
  const i = error.issues[0];
  return i ? `${i.path.map(String).join('.') || 'the event'}: ${i.message}` : 'unreadable';
}

/** Splits streamed text into complete lines, calling `onLine` for each; `flush()` emits the rest. */
export class LineSplitter {
  private buf = '';
  constructor(private readonly onLine: (line: string) => void) {}
  push(chunk: string): void {
    this.buf += chunk;
    let i: number;
    while ((i = this.buf.indexOf('\n')) >= 0) {
      this.onLine(this.buf.slice(0, i));
      this.buf = this.buf.slice(i + 1);
    }
  }
  flush(): void {
    if (this.buf) this.onLine(this.buf);
    this.buf = '';
  }
}

/** The user message sent when a run has no input. */
export const DEFAULT_INPUT = 'Run your task now.';
