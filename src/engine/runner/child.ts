/**
 * Entry point of a bot's run process (its worker; forked by the runner's worker pool, bundled into
 * one file and confined by Node's permission model to that bot's folder, see `tools/sandbox.ts`).
 * It runs each `start`ed job's agent loop, several at once when the bot has several runs going,
 * streams log lines, usage and tool calls back, asks the parent to record results and to run
 * code, and ends each job with `done` or `fail`; it never touches the database. A provider error
 * becomes `fail` with the provider's message, never a crash. The IPC contract is `protocol.ts`.
 */
import { providerFor } from '../providers/index.ts';
import { ToolError, toolsFor, type ToolContext } from '../tools/index.ts';
import { memorySection } from '../tools/memory.ts';
import { SEARCH_UNCONFIGURED, searchProvider } from '../tools/search.ts';
import { redactSecrets, secretRedactionRules } from '../swarm/redaction.ts';
import type { ChildMessage, CodeOutcome, Envelope, ParentMessage, RunJob } from './protocol.ts';

type Reply = Extract<ParentMessage, { requestId: number }>;
const pending = new Map<number, (reply: Reply) => void>();
/** The abort switch of each job that is going. */
const jobs = new Map<number, AbortController>();
let nextRequestId = 1;

function sendRaw(env: Envelope<ChildMessage>): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(env, undefined, {}, () => resolve());
  });
}

async function execute(job: RunJob, abort: AbortController): Promise<void> {
  const send = (msg: ChildMessage) => sendRaw({ runId: job.runId, msg });
  /** Sends a request to the parent and waits for the reply with its `requestId`. */
  const request = (msg: Extract<ChildMessage, { requestId: number }>): Promise<Reply> =>
    new Promise((resolve) => {
      pending.set(msg.requestId, resolve);
      void send(msg);
    });
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
    const secrets = job.secrets ?? {};
    const rules = secretRedactionRules(secrets);
    const toolContext: ToolContext = {
      docsPath: job.docsPath,
      secrets,
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
      { model, system: job.prompt, context: [memorySection(job.docsPath, job.tools.includes('files')), secretsSection(job)].filter(Boolean).join('\n\n'), input: job.input, tools, maxSteps: job.maxSteps },
      {
        log: (text) => void send({ type: 'log', stream: 'stdout', text }),
        signal: abort.signal,
        usage: (tokensIn, tokensOut) => void send({ type: 'usage', tokensIn, tokensOut }),
        tool: (entry) => void send({ type: 'tool', ...entry }),
        toolContext,
        redact: <T,>(value: T): T => redactSecrets(value, rules),
      },
    );
    await send({ type: 'done', output: result.output });
  } catch (err) {
    await send({ type: 'fail', error: err instanceof Error ? err.message : String(err) });
  }
}

/** For the system prompt: the names (never the values) of the bot's secrets a tool can use; '' when none can. */
function secretsSection(job: RunJob): string {
  const names = Object.keys(job.secrets ?? {}).sort();
  if (names.length === 0 || !job.tools.includes('web_fetch')) return '';
  return `Secrets of this bot (use one as {{secret.NAME}} in a web_fetch header; you never see the values): ${names.join(', ')}`;
}

// The parent is gone (crashed, killed): stop at once rather than keep spending tokens unobserved.
process.on('disconnect', () => process.exit(1));
process.on('SIGTERM', () => {
  for (const abort of jobs.values()) abort.abort();
});

process.on('message', (env: Envelope<ParentMessage>) => {
  const msg = env?.msg;
  switch (msg?.type) {
    case 'start': {
      const abort = new AbortController();
      jobs.set(env.runId, abort);
      void execute(msg.job, abort).finally(() => jobs.delete(env.runId));
      return;
    }
    case 'cancel':
      jobs.get(env.runId)?.abort();
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
