/**
 * A sample external executor built on the SDK. It registers, takes sub-tasks one at a time,
 * "works" on each (`--work-ms`), and reports `<name> did: <sub-task>`. It prints one JSON line per
 * step on stdout (`registered`, `took`, `reported`, `lost`, `error`) so a person or a test can
 * follow it.
 *
 *   node --import tsx src/sdk/examples/executor.ts --url http://127.0.0.1:8080 --name Scribe \
 *     --skills writing,research [--work-ms 500] [--hang-on 2] [--key <agents key> | --token <dashboard token>]
 *
 * `--hang-on N` makes it stall forever on its N-th turn (to show a lease running out when the
 * process is killed). Stops on SIGINT/SIGTERM.
 */
import { parseArgs } from 'node:util';
import { SwarmAgent } from '../index.ts';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8080' },
    name: { type: 'string', default: 'Sample executor' },
    skills: { type: 'string', default: '' },
    'work-ms': { type: 'string', default: '200' },
    'hang-on': { type: 'string', default: '0' },
    key: { type: 'string' },
    token: { type: 'string' },
  },
});

const say = (event: string, fields: Record<string, unknown> = {}) => process.stdout.write(JSON.stringify({ event, ...fields }) + '\n');
const stop = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => stop.abort());

const workMs = Number(values['work-ms']);
const hangOn = Number(values['hang-on']);
const agent = await SwarmAgent.register({
  baseUrl: values.url!,
  apiKey: values.key,
  token: values.token,
  name: values.name!,
  role: 'executor',
  skills: values.skills!.split(',').map((s) => s.trim()).filter(Boolean),
  version: 'sample-executor/1',
});
say('registered', { id: agent.id, lease_ms: agent.leaseMs });

let turns = 0;
await agent.work(
  async (a, { signal }) => {
    turns++;
    if (turns === hangOn) await new Promise(() => {}); // stalls; heartbeats go on until the process dies
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, workMs);
      signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    });
    return { output: `${values.name} did: ${a.subtask?.description ?? a.input}` };
  },
  {
    signal: stop.signal,
    waitS: 5,
    onEvent: (e) =>
      say(e.type, {
        assignment: e.assignment?.id,
        task: e.assignment?.task_id,
        subtask: e.assignment?.subtask?.key,
        ...(e.error ? { error: e.error instanceof Error ? e.error.message : String(e.error) } : {}),
      }),
  },
);
say('stopped');
