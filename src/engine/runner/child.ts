/**
 * Entry point of one run's child process (forked by `Runner`). It receives one `start` message,
 * calls the provider, streams log lines back and ends with `done` or `fail`; it never touches the
 * database. A provider error becomes `fail` with the provider's message, never a crash.
 */
import { providerFor } from '../providers/index.ts';
import type { ChildMessage, ParentMessage, RunJob } from './protocol.ts';

function send(msg: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(msg, undefined, {}, () => resolve());
  });
}

async function execute(job: RunJob): Promise<void> {
  const abort = new AbortController();
  process.on('SIGTERM', () => abort.abort());
  try {
    process.chdir(job.docsPath);
    const { provider, model } = providerFor(job.model, job.providers);
    void send({ type: 'log', stream: 'system', text: `model ${job.model}` });
    const result = await provider.complete(
      { model, system: job.prompt, input: job.input },
      { log: (text) => void send({ type: 'log', stream: 'stdout', text }), signal: abort.signal },
    );
    await send({ type: 'done', output: result.output, tokensIn: result.tokensIn, tokensOut: result.tokensOut });
  } catch (err) {
    await send({ type: 'fail', error: err instanceof Error ? err.message : String(err) });
  }
}

process.once('message', (msg: ParentMessage) => {
  if (msg?.type !== 'start') return;
  void execute(msg.job).finally(() => {
    process.disconnect?.();
    process.exit(0);
  });
});
