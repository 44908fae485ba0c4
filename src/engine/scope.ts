import { eq } from 'drizzle-orm';
import { assertAccess, type Caller } from './access.ts';
import type { ApprovalService, ApprovalView } from './approvals.ts';
import type { BotService } from './bots.ts';
import type { Db } from './db/database.ts';
import { tasks, type BotRow, type ResultRow, type RunRow, type TaskRow } from './db/schema.ts';
import { AppError } from './errors.ts';
import type { PipelineRunView, PipelineService, PipelineView } from './pipelines.ts';
import type { ResultService } from './results.ts';
import type { Runner } from './runner/runner.ts';

/** What a row is asked for: to read it, or to change it (run, edit, delete, decide). */
export type Action = 'read' | 'write';

/** The services {@link Scope} reads through. */
export interface ScopeDeps {
  db: Db;
  bots: BotService;
  runner: Runner;
  results: ResultService;
  pipelines: PipelineService;
  approvals: ApprovalService;
}

/**
 * The one place rows are fetched by id on behalf of a {@link Caller}: each method reads the row,
 * finds its owner (a run, result, approval and document through their bot; a pipeline and a task
 * directly) and applies `assertAccess` (src/engine/access.ts). A row the caller may not see is its
 * usual NOT_FOUND (404, so a guessed id tells nothing); one they may see but not change with
 * `write` is FORBIDDEN_ROLE (403). Lists filter by `readScope(caller)` in their own queries.
 */
export class Scope {
  constructor(private readonly deps: ScopeDeps) {}

  /** @throws {AppError} BOT_NOT_FOUND, FORBIDDEN_ROLE */
  async bot(caller: Caller, id: number, action: Action = 'read'): Promise<BotRow> {
    const bot = await this.deps.bots.get(id);
    assertAccess(caller, bot.ownerId, action, { code: 'BOT_NOT_FOUND', message: `No bot with id ${id}.` });
    return bot;
  }

  /** @throws {AppError} RUN_NOT_FOUND, FORBIDDEN_ROLE */
  async run(caller: Caller, id: number, action: Action = 'read'): Promise<RunRow> {
    const run = await this.deps.runner.get(id);
    assertAccess(caller, await this.ownerOfBot(run.botId), action, { code: 'RUN_NOT_FOUND', message: `No run with id ${id}.` });
    return run;
  }

  /** @throws {AppError} RESULT_NOT_FOUND, FORBIDDEN_ROLE */
  async result(caller: Caller, id: number, action: Action = 'read'): Promise<ResultRow> {
    const result = await this.deps.results.get(id);
    assertAccess(caller, await this.ownerOfBot(result.botId), action, { code: 'RESULT_NOT_FOUND', message: `No result with id ${id}.` });
    return result;
  }

  /** @throws {AppError} PIPELINE_NOT_FOUND, FORBIDDEN_ROLE */
  async pipeline(caller: Caller, id: number, action: Action = 'read'): Promise<PipelineView> {
    const p = await this.deps.pipelines.get(id);
    assertAccess(caller, p.ownerId, action, { code: 'PIPELINE_NOT_FOUND', message: `No pipeline with id ${id}.` });
    return p;
  }

  /** @throws {AppError} PIPELINE_RUN_NOT_FOUND, FORBIDDEN_ROLE */
  async pipelineRun(caller: Caller, id: number, action: Action = 'read'): Promise<PipelineRunView> {
    const run = await this.deps.pipelines.getRun(id);
    assertAccess(caller, (await this.deps.pipelines.get(run.pipelineId)).ownerId, action, { code: 'PIPELINE_RUN_NOT_FOUND', message: `No pipeline run with id ${id}.` });
    return run;
  }

  /** @throws {AppError} APPROVAL_NOT_FOUND, FORBIDDEN_ROLE */
  async approval(caller: Caller, id: number, action: Action = 'read'): Promise<ApprovalView> {
    const a = await this.deps.approvals.get(id);
    assertAccess(caller, await this.ownerOfBot(a.botId), action, { code: 'APPROVAL_NOT_FOUND', message: `No approval with id ${id}.` });
    return a;
  }

  /** @throws {AppError} TASK_NOT_FOUND, FORBIDDEN_ROLE */
  async task(caller: Caller, id: number, action: Action = 'read'): Promise<TaskRow> {
    const [row] = Number.isSafeInteger(id) ? await this.deps.db.select().from(tasks).where(eq(tasks.id, id)) : [];
    const notFound = { code: 'TASK_NOT_FOUND' as const, message: `No task with id ${id}.` };
    if (!row) throw new AppError(notFound.code, notFound.message);
    assertAccess(caller, row.ownerId, action, notFound);
    return row;
  }

  /** The owner (`users.id`) of a bot. @throws {AppError} BOT_NOT_FOUND */
  async ownerOfBot(botId: number): Promise<number> {
    return (await this.deps.bots.get(botId)).ownerId;
  }
}
