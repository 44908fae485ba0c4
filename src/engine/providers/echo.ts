import { setTimeout as sleep } from 'node:timers/promises';
import { callTool } from './agent.ts';
import type { CompletionHooks, CompletionRequest, CompletionResult, Provider } from './provider.ts';

/**
 * The offline model: deterministic, needs no key. It streams four log lines `delayMs` apart and
 * answers with the prompt and the input verbatim. Token counts are whitespace-separated words.
 * It ignores the memory context, so its output is exactly predictable. Of the tools it calls only
 * those that say what echo passes them (`Tool.offline`): a swarm planner's run hands in a fixed
 * plan, an evaluator's a passing verdict; their answers are appended to the output.
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
    const answers: string[] = [];
    for (const tool of req.tools) {
      if (!tool.offline) continue;
      const result = await callTool({ id: `echo_${tool.name}`, name: tool.name, args: tool.offline(req.input) }, req.tools, hooks);
      hooks.log(`echo: ${tool.name} → ${result.content}`);
      answers.push(`${tool.name}: ${result.content}`);
    }
    const output = [`Prompt: ${req.system}\nInput: ${req.input}`, ...answers].join('\n');
    hooks.usage(words(req.system) + words(req.input), words(output));
    return { output };
  }
}

function words(s: string): number {
  const t = s.trim();
  return t ? t.split(/\s+/).length : 0;
}
