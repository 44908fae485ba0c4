/**
 * openOrchestrator swarm SDK: a small, dependency-free TypeScript client for bots that take part
 * in swarm tasks from outside the server (seed 004's "Bot SDK": register, poll for tasks, submit
 * results), and for clients that submit tasks. Node 20+ (uses the global `fetch`).
 *
 * @example
 * const agent = await SwarmAgent.register({ baseUrl: 'http://127.0.0.1:8080', name: 'Scribe', role: 'executor', skills: ['writing'] });
 * await agent.work(async (a) => ({ output: `done: ${a.subtask?.description}` }));
 *
 * The wire format is the REST API's (README "Swarm tasks"): `POST /api/agents/register`,
 * `GET /api/agents/:id/assignments/next?wait=<s>`, `POST /api/agents/:id/heartbeat`,
 * `POST /api/tasks/:id/results`. This file imports nothing of the server.
 */

/** A swarm role. */
export type AgentRole = 'planner' | 'executor' | 'evaluator';

/** One sub-task of a plan; `id` is your own short name for it, used by `depends_on`. */
export interface PlanSubtask {
  id: string;
  description: string;
  skills?: string[];
  depends_on?: string[];
}

/** What a planner hands in. */
export interface Plan {
  subtasks: PlanSubtask[];
  summary?: string;
}

/** What an evaluator hands in: `fail` needs reasons; `redo` names sub-tasks to do again (none: plan anew). */
export interface Verdict {
  verdict: 'pass' | 'fail';
  reasons?: string[];
  redo?: string[];
}

/** One turn given to the agent. */
export interface Assignment {
  id: number;
  kind: 'plan' | 'execute' | 'evaluate';
  task_id: number;
  round: number;
  /** The instructions, as text (what a bot of the server would get as its run's input). */
  input: string;
  /** When the lease ends unless renewed (every poll, heartbeat and result renews it). ISO-8601. */
  lease_expires_at: string | null;
  task: { id: number; title: string; description: string; priority: 'low' | 'normal' | 'high' };
  /** The sub-task of an `execute` turn. */
  subtask: { id: number; key: string; description: string; skills: string[]; depends_on: string[]; feedback: string | null } | null;
  /** The outputs it may use: of the sub-task's dependencies, or (evaluate) of every sub-task of the round. */
  outputs: { key: string; description: string; output: string | null }[];
}

/** What a handler returns: by kind, an output, a plan or a verdict; or a failure. */
export type WorkResult = { output: string } | { plan: Plan } | { verdict: Verdict } | { error: string };

/** A task as the API shows it (the fields a client usually reads). */
export interface TaskJson {
  id: number;
  title: string;
  description: string;
  status: 'CREATED' | 'PLANNED' | 'IN_PROGRESS' | 'COMPLETED' | 'FAILED' | 'CANCELLED' | 'ARCHIVED';
  phase: string;
  round: number;
  max_rounds: number;
  error: string | null;
  subtasks: { id: number; key: string; description: string; status: string; output: string | null; agent: { id: number; name: string } | null }[];
  verdict: { round: number; verdict: 'pass' | 'fail'; reasons: string[]; redo: string[] } | null;
  output: string | null;
  [more: string]: unknown;
}

/** An error answer of the API (`{error: {code, message}}`), or a transport failure (`status` 0). */
export class SwarmApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SwarmApiError';
  }
}

/** How to reach the server. `apiKey` goes as `X-API-Key`, `token` (the dashboard token) as a bearer. */
export interface Connection {
  baseUrl: string;
  apiKey?: string;
  token?: string;
  fetch?: typeof fetch;
}

async function call<T>(conn: Connection, method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (conn.apiKey) headers['x-api-key'] = conn.apiKey;
  else if (conn.token) headers.authorization = `Bearer ${conn.token}`;
  let res: Response;
  try {
    res = await (conn.fetch ?? fetch)(conn.baseUrl.replace(/\/+$/, '') + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new SwarmApiError(0, 'UNREACHABLE', `${method} ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const text = await res.text();
  let parsed: any = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  if (res.status >= 400) {
    const e = parsed?.error;
    throw new SwarmApiError(res.status, e?.code ?? 'HTTP_ERROR', e?.message ?? `${method} ${path} answered ${res.status}`);
  }
  return { status: res.status, body: parsed as T };
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

/** Options of {@link SwarmAgent.work}. */
export interface WorkOptions {
  /** Stops the loop (after the current poll or turn). */
  signal?: AbortSignal;
  /** Long-poll wait per request, in seconds (the server caps it). Default 20. */
  waitS?: number;
  /** Told about each step: `took`, `reported`, `lost` (the lease was taken back), `error`. */
  onEvent?: (event: { type: 'took' | 'reported' | 'lost' | 'error'; assignment?: Assignment; error?: unknown }) => void;
}

/** An external bot taking part in swarm tasks: registered once, then polling for its turns. */
export class SwarmAgent {
  /**
   * Registers a bot with the server and returns it, ready to poll.
   * @param opts.apiKey a key with the `agents` scope, when the server asks for credentials
   * @throws {SwarmApiError} VALIDATION_FAILED (bad name, role, skills), UNAUTHORIZED, FORBIDDEN_SCOPE
   */
  static async register(opts: Connection & { name: string; role: AgentRole; skills?: string[]; version?: string }): Promise<SwarmAgent> {
    const { body } = await call<{ id: number; key: string; lease_ms: number }>(opts, 'POST', '/api/agents/register', {
      name: opts.name,
      role: opts.role,
      skills: opts.skills ?? [],
      version: opts.version ?? '',
    });
    return new SwarmAgent({ baseUrl: opts.baseUrl, id: body.id, key: body.key, leaseMs: body.lease_ms, fetch: opts.fetch });
  }

  readonly id: number;
  /** The agent's own key (shown once by the server: keep it to poll again after a restart). */
  readonly key: string;
  /** The server's lease, in ms: heartbeats go out three times per lease. */
  readonly leaseMs: number;
  private readonly conn: Connection;

  constructor(opts: { baseUrl: string; id: number; key: string; leaseMs?: number; fetch?: typeof fetch }) {
    this.id = opts.id;
    this.key = opts.key;
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.conn = { baseUrl: opts.baseUrl, apiKey: opts.key, fetch: opts.fetch };
  }

  /** The next turn, waiting up to `waitS` seconds for one; null when none came. */
  async next(waitS = 20, signal?: AbortSignal): Promise<Assignment | null> {
    const { status, body } = await call<Assignment>(this.conn, 'GET', `/api/agents/${this.id}/assignments/next?wait=${waitS}`, undefined, signal);
    return status === 204 ? null : body;
  }

  /** Renews the leases of the agent's open turns; returns their ids (a missing one was taken back). */
  async heartbeat(): Promise<{ assignments: number[]; lease_expires_at: string }> {
    return (await call<{ assignments: number[]; lease_expires_at: string }>(this.conn, 'POST', `/api/agents/${this.id}/heartbeat`, {})).body;
  }

  /**
   * Hands in a turn's outcome: `{output}` (execute), `{plan}` (plan), `{verdict}` (evaluate), or `{error}`.
   * @throws {SwarmApiError} VALIDATION_FAILED (bad plan or verdict: fix and send again), ASSIGNMENT_NOT_ACTIVE (the lease ran out)
   */
  async report(a: Pick<Assignment, 'id' | 'task_id'>, result: WorkResult): Promise<TaskJson> {
    const body = 'error' in result ? { assignment_id: a.id, status: 'failed', error: result.error } : { assignment_id: a.id, status: 'completed', ...result };
    return (await call<TaskJson>(this.conn, 'POST', `/api/tasks/${a.task_id}/results`, body)).body;
  }

  /**
   * Takes turns until `opts.signal` aborts: polls, runs `handler` while heartbeats keep the lease,
   * reports what it returns (a thrown error is reported as a failure). When a heartbeat shows the
   * turn was taken back (the task ended, or the lease ran out), the handler's `signal` aborts and
   * its result is dropped. Transport errors are retried after a pause.
   */
  async work(handler: (a: Assignment, ctx: { signal: AbortSignal }) => Promise<WorkResult> | WorkResult, opts: WorkOptions = {}): Promise<void> {
    const stop = opts.signal;
    while (!stop?.aborted) {
      let a: Assignment | null;
      try {
        a = await this.next(opts.waitS ?? 20, stop);
      } catch (err) {
        if (stop?.aborted) return;
        opts.onEvent?.({ type: 'error', error: err });
        await sleep(Math.min(this.leaseMs / 3, 2000), stop);
        continue;
      }
      if (!a) continue;
      opts.onEvent?.({ type: 'took', assignment: a });
      const lost = new AbortController();
      const beat = setInterval(() => {
        this.heartbeat().then(
          (h) => {
            if (!h.assignments.includes(a!.id)) lost.abort();
          },
          (err) => opts.onEvent?.({ type: 'error', assignment: a!, error: err }),
        );
      }, Math.max(Math.floor(this.leaseMs / 3), 20));
      let result: WorkResult;
      try {
        result = await handler(a, { signal: lost.signal });
      } catch (err) {
        result = { error: err instanceof Error ? err.message : String(err) };
      } finally {
        clearInterval(beat);
      }
      if (lost.signal.aborted) {
        opts.onEvent?.({ type: 'lost', assignment: a });
        continue;
      }
      try {
        await this.report(a, result);
        opts.onEvent?.({ type: 'reported', assignment: a });
      } catch (err) {
        opts.onEvent?.({ type: err instanceof SwarmApiError && err.code === 'ASSIGNMENT_NOT_ACTIVE' ? 'lost' : 'error', assignment: a, error: err });
      }
    }
  }
}

/** A client that submits tasks and reads them (a key with the `tasks` scope, or the dashboard token). */
export class SwarmClient {
  constructor(private readonly conn: Connection) {}

  /** @throws {SwarmApiError} VALIDATION_FAILED, SWARM_INCOMPLETE (no planner, executor or evaluator yet) */
  async createTask(input: { title: string; description?: string; priority?: 'low' | 'normal' | 'high'; max_rounds?: number }): Promise<TaskJson> {
    return (await call<TaskJson>(this.conn, 'POST', '/api/tasks', input)).body;
  }

  async getTask(id: number): Promise<TaskJson> {
    return (await call<TaskJson>(this.conn, 'GET', `/api/tasks/${id}`)).body;
  }

  /** The task once it has ended (COMPLETED, FAILED, CANCELLED or ARCHIVED), polling every `intervalMs`. */
  async waitForTask(id: number, opts: { timeoutMs?: number; intervalMs?: number; signal?: AbortSignal } = {}): Promise<TaskJson> {
    const until = Date.now() + (opts.timeoutMs ?? 300_000);
    for (;;) {
      const t = await this.getTask(id);
      if (t.status !== 'CREATED' && t.status !== 'PLANNED' && t.status !== 'IN_PROGRESS') return t;
      if (Date.now() > until || opts.signal?.aborted) throw new SwarmApiError(0, 'TIMEOUT', `task #${id} is still ${t.status}`);
      await sleep(opts.intervalMs ?? 250, opts.signal);
    }
  }

  /** The task's audit rows (redacted), oldest first. */
  async audit(id: number): Promise<{ id: number; actor: string; event: string; payload: unknown; redacted_fields: string[]; created_at: string }[]> {
    return (await call<any[]>(this.conn, 'GET', `/api/tasks/${id}/audit`)).body;
  }

  /** Removes an agent (needs the `admin` scope or the dashboard token). */
  async removeAgent(id: number): Promise<void> {
    await call(this.conn, 'DELETE', `/api/agents/${id}`);
  }
}
