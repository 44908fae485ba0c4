/** What a provider is asked to do for one run. */
export interface CompletionRequest {
  /** The provider's own model id (`gpt-4.1-mini`, `claude-sonnet-4-5`, `echo`). */
  model: string;
  /** The bot's prompt, sent as the system prompt. */
  system: string;
  /** The run's input (a person's text or the previous run's output); may be empty. */
  input: string;
}

/** What the provider can do while it works. */
export interface CompletionHooks {
  /** Appends one line to the run's log. */
  log(text: string): void;
  /** Aborted when the run is cancelled or times out. */
  signal: AbortSignal;
}

/** A finished completion; token counts are the provider's own usage figures (0 when none). */
export interface CompletionResult {
  output: string;
  tokensIn: number;
  tokensOut: number;
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
