/**
 * Entry point of one run's child process (forked by `Runner`, bundled into one file and confined
 * by Node's permission model, see `tools/sandbox.ts`). It receives one `start` message, runs the
 * agent loop, streams log lines, usage and tool calls back, asks the parent to record results and
 * to run code, and ends with `done` or `fail`; it never touches the database. A provider error
 * becomes `fail` with the provider's message, never a crash. The IPC contract is `protocol.ts`.
 */
import { providerFor } from '../providers/index.ts';
import { ToolError, toolsFor, type ToolContext } from '../tools/index.ts';
import { memorySection } from '../tools/memory.ts';
import { SEARCH_UNCONFIGURED, searchProvider } from '../tools/search.ts';
import type { ChildMessage, CodeOutcome, ParentMessage, RunJob } from './protocol.ts';

function send(msg: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(msg, undefined, {}, () => resolve());
  });
}

type Reply = Exclude<ParentMessage, { type: 'start' }>;
const pending = new Map<number, (reply: Reply) => void>();
let nextRequestId = 1;

/** Sends a request to the parent and waits for the reply with its `requestId`. */
function request(msg: Extract<ChildMessage, { requestId: number }>): Promise<Reply> {
  return new Promise((resolve) => {
    pending.set(msg.requestId, resolve);
    void send(msg);
  });
}

async function execute(job: RunJob): Promise<void> {
  const abort = new AbortController();
  process.on('SIGTERM', () => abort.abort());
  try {
    process.chdir(job.docsPath);
    const { provider, model } = providerFor(job.model, job.providers);
    const tools = toolsFor(job.tools);
    const search = job.providers.search ?? {};
    void send({ type: 'log', stream: 'system', text: `model ${job.model}` });
    if (job.model !== 'echo' && !job.model.startsWith('echo:')) {
      void send({ type: 'log', stream: 'system', text: `tools: ${tools.map((t) => t.name).join(', ')} · at most ${job.maxSteps} rounds` });
    }
    if (job.tools.includes('web_search') && !searchProvider(search)) void send({ type: 'log', stream: 'system', text: SEARCH_UNCONFIGURED });
    const toolContext: ToolContext = {
      docsPath: job.docsPath,
      signal: abort.signal,
      search,
      webFetchAllowPrivate: job.providers.webFetchAllowPrivate === true,
      async report(item) {
        const reply = await request({ type: 'result', requestId: nextRequestId++, item });
        if (reply.type === 'result.recorded') return { resultId: reply.resultId, isNew: reply.isNew };
        throw new Error(reply.type === 'request.failed' ? reply.error : 'unexpected reply');
      },
      async runCode(source): Promise<CodeOutcome> {
        const reply = await request({ type: 'code', requestId: nextRequestId++, language: 'javascript', source });
        if (reply.type === 'code.finished') return reply.outcome;
        throw new Error(reply.type === 'request.failed' ? reply.error : 'unexpected reply');
      },
      async submit(kind, data) {
        const reply = await request({ type: 'submit', requestId: nextRequestId++, kind, data });
        if (reply.type === 'submit.accepted') return reply.message;
        throw new ToolError(reply.type === 'request.failed' ? reply.error : 'unexpected reply');
      },
    };
    const result = await provider.complete(
      { model, system: job.prompt, context: memorySection(job.docsPath, job.tools.includes('files')), input: job.input, tools, maxSteps: job.maxSteps },
      {
        log: (text) => void send({ type: 'log', stream: 'stdout', text }),
        signal: abort.signal,
        usage: (tokensIn, tokensOut) => void send({ type: 'usage', tokensIn, tokensOut }),
        tool: (entry) => void send({ type: 'tool', ...entry }),
        toolContext,
      },
    );
    await send({ type: 'done', output: result.output });
  } catch (err) {
    await send({ type: 'fail', error: err instanceof Error ? err.message : String(err) });
  }
}

// The parent is gone (crashed, killed): stop at once rather than keep spending tokens unobserved.
process.on('disconnect', () => process.exit(1));

process.on('message', (msg: ParentMessage) => {
  switch (msg?.type) {
    case 'start':
      void execute(msg.job).finally(() => process.exit(0));
      return;
    case 'result.recorded':
    case 'code.finished':
    case 'submit.accepted':
    case 'request.failed': {
      const resolve = pending.get(msg.requestId);
      pending.delete(msg.requestId);
      resolve?.(msg);
      return;
    }
  }
});
