import { setTimeout as sleep } from 'node:timers/promises';
import type { CompletionHooks, CompletionRequest, CompletionResult, Provider } from './provider.ts';

/**
 * The offline model: deterministic, needs no key. It streams four log lines `delayMs` apart and
 * answers with the prompt and the input verbatim. Token counts are whitespace-separated words.
 * It calls no tools and ignores the memory context, so its output is exactly predictable.
 */
export class EchoProvider implements Provider {
  constructor(private readonly delayMs: number) {}

  async complete(req: CompletionRequest, hooks: CompletionHooks): Promise<CompletionResult> {
    const steps = [
      `echo: reading the prompt (${req.system.length} characters)`,
      req.input ? `echo: input received (${req.input.length} characters)` : 'echo: no input',
      'echo: composing the answer',
      'echo: done',
    ];
    for (const line of steps) {
      hooks.log(line);
      await sleep(this.delayMs, undefined, { signal: hooks.signal });
    }
    const output = `Prompt: ${req.system}\nInput: ${req.input}`;
    hooks.usage(words(req.system) + words(req.input), words(output));
    return { output };
  }
}

function words(s: string): number {
  const t = s.trim();
  return t ? t.split(/\s+/).length : 0;
}
