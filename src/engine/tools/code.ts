import { z } from 'zod';
import { defineTool, ToolError } from './tool.ts';

/** Limits of one `run_code` process: wall time (ms), V8 heap (MB), characters kept of stdout and of stderr. */
export const CODE_LIMITS = { timeoutMs: 10_000, memoryMb: 128, outputChars: 8_000 } as const;

/**
 * `run_code`: runs JavaScript in a separate Node process under the permission model (see
 * `runSandboxedCode`), started by the parent on the child's request. A non-zero exit or the time
 * limit is a tool error; stdout and stderr go back to the model either way.
 */
export const runCode = defineTool({
  name: 'run_code',
  description:
    `Run JavaScript (Node.js ${process.versions.node.split('.')[0]}) in a sandbox whose working directory is your documents folder: ` +
    `it may read and write only there, has ${CODE_LIMITS.timeoutMs / 1000} s and ${CODE_LIMITS.memoryMb} MB, and no child processes. ` +
    'Print what you need with console.log; stdout and stderr are returned (truncated). ' +
    'CommonJS (require) unless the source uses import/export; top-level await needs import/export.',
  schema: z.object({
    language: z.enum(['javascript']).describe('Only "javascript"'),
    source: z.string().min(1).max(200_000).describe('The program'),
  }),
  async run(args, ctx) {
    const o = await ctx.runCode(args.source);
    const streams = `--- stdout ---\n${o.stdout || '(empty)'}\n--- stderr ---\n${o.stderr || '(empty)'}`;
    if (o.timedOut) throw new ToolError(`killed after ${CODE_LIMITS.timeoutMs / 1000} s (time limit)\n${streams}`);
    if (o.exitCode !== 0) throw new ToolError(`exited with ${o.exitCode === null ? `signal ${o.signal}` : `code ${o.exitCode}`} after ${o.durationMs} ms\n${streams}`);
    return `exit code 0 after ${o.durationMs} ms\n${streams}`;
  },
});
