/**
 * The swarm harness (seed 004's "lightweight harness to simulate bot interactions in-process"):
 * runs one task on a server with simulated bots, each a {@link SwarmAgent} in this process
 * talking to the real API. Tests use it; a person can point it at a running server with
 * `node --import tsx src/sdk/examples/harness.ts --url http://127.0.0.1:8080`.
 */
import { SwarmAgent, SwarmClient, type AgentRole, type Assignment, type Connection, type Plan, type TaskJson, type WorkResult } from './index.ts';

/** A simulated bot: its registration and what it does with each turn. */
export interface SimulatedBot {
  name: string;
  role: AgentRole;
  skills?: string[];
  handle(a: Assignment): Promise<WorkResult> | WorkResult;
}

/** A planner that splits every task into the same steps, each after the one before when `chain`. */
export function simulatedPlanner(name: string, steps: { description: string; skills?: string[] }[], chain = false): SimulatedBot {
  return {
    name,
    role: 'planner',
    handle: (): { plan: Plan } => ({
      plan: {
        subtasks: steps.map((s, i) => ({ id: `s${i + 1}`, description: s.description, skills: s.skills ?? [], depends_on: chain && i > 0 ? [`s${i}`] : [] })),
        summary: `${name}: ${steps.length} steps`,
      },
    }),
  };
}

/** An executor that answers `<name>: <sub-task>` (and the outputs it was given), after `workMs`. */
export function simulatedExecutor(name: string, skills: string[] = [], workMs = 0): SimulatedBot {
  return {
    name,
    role: 'executor',
    skills,
    async handle(a) {
      if (workMs) await new Promise((r) => setTimeout(r, workMs));
      const given = a.outputs.map((o) => ` [after ${o.key}: ${o.output}]`).join('');
      return { output: `${name}: ${a.subtask?.description ?? a.input}${given}` };
    },
  };
}

/** An evaluator that passes when every output is there, else fails naming the missing ones. */
export function simulatedEvaluator(name: string): SimulatedBot {
  return {
    name,
    role: 'evaluator',
    handle(a) {
      const missing = a.outputs.filter((o) => !o.output?.trim()).map((o) => o.key);
      return missing.length
        ? { verdict: { verdict: 'fail', reasons: [`no output for ${missing.join(', ')}`], redo: missing } }
        : { verdict: { verdict: 'pass', reasons: [`${name}: all ${a.outputs.length} outputs present`] } };
    },
  };
}

/**
 * Registers `bots`, starts their work loops, submits `task`, waits for it to end, then stops the
 * loops and removes the agents again.
 * @param conn where the server is, and the credentials to register agents, create the task and
 *   remove agents (a key with `admin` scope, or the dashboard token; none on an open local server)
 * @returns the task as it ended and the agents that took part.
 * @throws {SwarmApiError} from the API (e.g. SWARM_INCOMPLETE), or TIMEOUT after `timeoutMs`
 */
export async function runHarness(conn: Connection, bots: SimulatedBot[], task: { title: string; description?: string; max_rounds?: number }, timeoutMs = 60_000): Promise<{ task: TaskJson; agents: SwarmAgent[] }> {
  const client = new SwarmClient(conn);
  const stop = new AbortController();
  const agents: SwarmAgent[] = [];
  const loops: Promise<void>[] = [];
  try {
    for (const b of bots) {
      const agent = await SwarmAgent.register({ ...conn, name: b.name, role: b.role, skills: b.skills ?? [], version: 'harness' });
      agents.push(agent);
      loops.push(agent.work((a) => b.handle(a), { signal: stop.signal, waitS: 2 }));
    }
    const created = await client.createTask(task);
    return { task: await client.waitForTask(created.id, { timeoutMs, intervalMs: 100 }), agents };
  } finally {
    stop.abort();
    await Promise.allSettled(loops);
    await Promise.allSettled(agents.map((a) => client.removeAgent(a.id)));
  }
}
