/**
 * Runs one task on a running server with simulated bots (a planner of two chained steps, two
 * executors, an evaluator), all in this process, and prints the task as it ended.
 *
 *   node --import tsx src/sdk/examples/harness.ts --url http://127.0.0.1:8080 [--key <admin key> | --token <dashboard token>] [--title "…"]
 */
import { parseArgs } from 'node:util';
import { runHarness, simulatedEvaluator, simulatedExecutor, simulatedPlanner } from '../harness.ts';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8080' },
    key: { type: 'string' },
    token: { type: 'string' },
    title: { type: 'string', default: 'Harness: outline and write a short note' },
  },
});

const { task } = await runHarness(
  { baseUrl: values.url!, apiKey: values.key, token: values.token },
  [
    simulatedPlanner('Sim planner', [{ description: 'Outline the note', skills: ['outline'] }, { description: 'Write the note from the outline', skills: ['writing'] }], true),
    simulatedExecutor('Sim outliner', ['outline'], 100),
    simulatedExecutor('Sim writer', ['writing'], 100),
    simulatedEvaluator('Sim evaluator'),
  ],
  { title: values.title! },
);
process.stdout.write(JSON.stringify({ id: task.id, status: task.status, verdict: task.verdict, subtasks: task.subtasks.map((s) => ({ key: s.key, agent: s.agent?.name, output: s.output })) }, null, 2) + '\n');
