import * as pg from './schema-pg.ts';
import * as sqlite from './schema-sqlite.ts';

/**
 * The tables the engine queries, of the dialect this process runs on. Both dialects define the same
 * tables with the same columns (src/engine/db/schema-sqlite.ts, the one documented;
 * src/engine/db/schema-pg.ts; test/schema-parity.test.ts keeps them equal), and both read back the
 * same JavaScript values (numbers for times and ids, booleans, parsed JSON). The bindings below are
 * the SQLite tables until {@link useDialect} switches the process to Postgres, once, at start and
 * before the first query (`openDatabase`); an importer reads the binding at query time, so it sees
 * the switch (ES module exports are live bindings). The types are the SQLite tables' types: the
 * query builder calls the engine makes are the same on both dialects.
 */

export type { HeldResult, StoredPipelineStep } from './schema-sqlite.ts';

export let users = sqlite.users;
export let sessions = sqlite.sessions;
export let bots = sqlite.bots;
export let triggers = sqlite.triggers;
export let pipelines = sqlite.pipelines;
export let pipelineRuns = sqlite.pipelineRuns;
export let runs = sqlite.runs;
export let workers = sqlite.workers;
export let runLogs = sqlite.runLogs;
export let results = sqlite.results;
export let events = sqlite.events;
export let subscriptions = sqlite.subscriptions;
export let approvals = sqlite.approvals;
export let agents = sqlite.agents;
export let apiKeys = sqlite.apiKeys;
export let tasks = sqlite.tasks;
export let subtasks = sqlite.subtasks;
export let assignments = sqlite.assignments;
export let verdicts = sqlite.verdicts;
export let audit = sqlite.audit;
export let chatIdentities = sqlite.chatIdentities;
export let pairingCodes = sqlite.pairingCodes;

export type UserRow = typeof sqlite.users.$inferSelect;
export type SessionRow = typeof sqlite.sessions.$inferSelect;
export type BotRow = typeof sqlite.bots.$inferSelect;
export type RunRow = typeof sqlite.runs.$inferSelect;
export type WorkerRow = typeof sqlite.workers.$inferSelect;
export type RunLogRow = typeof sqlite.runLogs.$inferSelect;
export type ResultRow = typeof sqlite.results.$inferSelect;
export type EventRow = typeof sqlite.events.$inferSelect;
export type TriggerRow = typeof sqlite.triggers.$inferSelect;
export type PipelineRow = typeof sqlite.pipelines.$inferSelect;
export type PipelineRunRow = typeof sqlite.pipelineRuns.$inferSelect;
export type SubscriptionRow = typeof sqlite.subscriptions.$inferSelect;
export type ApprovalRow = typeof sqlite.approvals.$inferSelect;
export type AgentRow = typeof sqlite.agents.$inferSelect;
export type ApiKeyRow = typeof sqlite.apiKeys.$inferSelect;
export type TaskRow = typeof sqlite.tasks.$inferSelect;
export type SubtaskRow = typeof sqlite.subtasks.$inferSelect;
export type AssignmentRow = typeof sqlite.assignments.$inferSelect;
export type VerdictRow = typeof sqlite.verdicts.$inferSelect;
export type AuditRow = typeof sqlite.audit.$inferSelect;
export type ChatIdentityRow = typeof sqlite.chatIdentities.$inferSelect;
export type PairingCodeRow = typeof sqlite.pairingCodes.$inferSelect;

/** The SQL dialect of the database a process uses: SQLite (embedded, the default) or Postgres (`DATABASE_URL`). */
export type Dialect = 'sqlite' | 'postgres';

let current: Dialect = 'sqlite';

/** The dialect the table bindings are of now. */
export function currentDialect(): Dialect {
  return current;
}

/**
 * Points every table binding at `dialect`'s tables. A process uses one database: call it before
 * the first query (`openDatabase` does), not while queries are under way.
 */
export function useDialect(dialect: Dialect): void {
  current = dialect;
  const s = (dialect === 'postgres' ? pg : sqlite) as unknown as typeof sqlite;
  users = s.users;
  sessions = s.sessions;
  bots = s.bots;
  triggers = s.triggers;
  pipelines = s.pipelines;
  pipelineRuns = s.pipelineRuns;
  runs = s.runs;
  workers = s.workers;
  runLogs = s.runLogs;
  results = s.results;
  events = s.events;
  subscriptions = s.subscriptions;
  approvals = s.approvals;
  agents = s.agents;
  apiKeys = s.apiKeys;
  tasks = s.tasks;
  subtasks = s.subtasks;
  assignments = s.assignments;
  verdicts = s.verdicts;
  audit = s.audit;
  chatIdentities = s.chatIdentities;
  pairingCodes = s.pairingCodes;
}
