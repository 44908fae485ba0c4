import { sql } from 'drizzle-orm';
import { bigint, boolean, doublePrecision, index, jsonb, pgTable, primaryKey, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { ROLES } from '../access.ts';
import { RUN_STATUSES } from '../run-status.ts';
import type { HeldResult, StoredPipelineStep } from './schema-sqlite.ts';

// The Postgres dialect of src/engine/db/schema-sqlite.ts, table for table and column for column (the
// parity test, test/schema-parity.test.ts, holds them together; docstrings live in that file). All
// times are Unix epoch milliseconds (bigint, read as numbers); JSON columns are jsonb; booleans are
// boolean. Migrations: drizzle-pg/, made by `npm run db:generate`.

/**
 * The people who use the dashboard, the API and the chats. User 1 is the first admin: on a
 * loopback server it exists without a password (the quickstart opens as that user until a
 * password is set); rows made before accounts (bots, pipelines, tasks, API keys) belong to it.
 */
export const users = pgTable(
  'users',
  {
    // Id 1 is the first admin, inserted with its id: generated ids start after it.
    id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity({ startWith: 2 }),
    username: text('username').notNull(),
    /** `username` lower-cased: user names are unique case-insensitively. */
    usernameKey: text('username_key').notNull(),
    /** The password's hash (argon2id, PHC string); null until one is set (the loopback admin). */
    passwordHash: text('password_hash'),
    role: text('role', { enum: ROLES }).notNull(),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    updatedAt: bigint('updated_at', { mode: 'number' }).notNull(),
  },
  (t) => [uniqueIndex('users_username_key_unique').on(t.usernameKey)],
);

/** Signed-in browser sessions: only the SHA-256 of the session cookie's token is kept. */
export const sessions = pgTable(
  'sessions',
  {
    /** Hex SHA-256 of the cookie's random token. */
    id: text('id').primaryKey(),
    userId: bigint('user_id', { mode: 'number' })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    expiresAt: bigint('expires_at', { mode: 'number' }).notNull(),
    lastSeenAt: bigint('last_seen_at', { mode: 'number' }).notNull(),
  },
  (t) => [index('sessions_user_idx').on(t.userId)],
);

export const bots = pgTable(
  'bots',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    name: text('name').notNull(),
    /** `name` lower-cased: names are unique case-insensitively. */
    nameKey: text('name_key').notNull(),
    /** The user it belongs to ({@link users}; rows from before accounts belong to user 1). */
    ownerId: bigint('owner_id', { mode: 'number' }).notNull().default(1),
    emoji: text('emoji').notNull().default('🤖'),
    description: text('description').notNull().default(''),
    prompt: text('prompt').notNull(),
    model: text('model').notNull().default('echo'),
    tools: jsonb('tools').$type<string[]>().notNull().default(sql`'[]'`),
    schedule: text('schedule'),
    docsPath: text('docs_path').notNull(),
    notify: jsonb('notify').$type<Record<string, unknown>>().notNull().default(sql`'{}'`),
    paused: boolean('paused').notNull().default(false),
    maxSteps: bigint('max_steps', { mode: 'number' }).notNull().default(8),
    /** How many times a failed or interrupted run is tried again (0..5), with exponential backoff. */
    retries: bigint('retries', { mode: 'number' }).notNull().default(0),
    /** A completed run waits for a person's approval (status `awaiting_approval`) before it counts. */
    requiresApproval: boolean('requires_approval').notNull().default(false),
    /** A draft not decided within this many seconds is rejected as expired (default 24 h). */
    approvalTimeoutS: bigint('approval_timeout_s', { mode: 'number' }).notNull().default(86_400),
    /** The last schedule occurrence (ms) that was claimed, so a restart never fires it twice. */
    scheduleClaimedAt: bigint('schedule_claimed_at', { mode: 'number' }),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    updatedAt: bigint('updated_at', { mode: 'number' }).notNull(),
  },
  (t) => [uniqueIndex('bots_owner_name_key_unique').on(t.ownerId, t.nameKey)],
);

export const triggers = pgTable(
  'triggers',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    sourceBotId: bigint('source_bot_id', { mode: 'number' })
      .notNull()
      .references(() => bots.id, { onDelete: 'cascade' }),
    event: text('event', { enum: ['completed', 'failed', 'result'] }).notNull(),
    /** The bot to start; null when the target is a pipeline. */
    targetBotId: bigint('target_bot_id', { mode: 'number' }).references(() => bots.id, { onDelete: 'cascade' }),
    /** The pipeline to run; null when the target is a bot. */
    targetPipelineId: bigint('target_pipeline_id', { mode: 'number' }).references(() => pipelines.id, { onDelete: 'cascade' }),
    targetAction: text('target_action').notNull().default('start'),
    enabled: boolean('enabled').notNull().default(true),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  },
  (t) => [index('triggers_source_idx').on(t.sourceBotId)],
);

export const pipelines = pgTable(
  'pipelines',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    name: text('name').notNull(),
    nameKey: text('name_key').notNull(),
    /** The user it belongs to ({@link users}; rows from before accounts belong to user 1). */
    ownerId: bigint('owner_id', { mode: 'number' }).notNull().default(1),
    description: text('description').notNull().default(''),
    /** Ordered steps (see `PipelineStep` in pipelines.ts); rows stored before steps were objects hold bot ids. */
    steps: jsonb('steps').$type<StoredPipelineStep[]>().notNull(),
    schedule: text('schedule'),
    scheduleClaimedAt: bigint('schedule_claimed_at', { mode: 'number' }),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    updatedAt: bigint('updated_at', { mode: 'number' }).notNull(),
  },
  (t) => [uniqueIndex('pipelines_owner_name_key_unique').on(t.ownerId, t.nameKey)],
);

export const pipelineRuns = pgTable('pipeline_runs', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
  pipelineId: bigint('pipeline_id', { mode: 'number' })
    .notNull()
    .references(() => pipelines.id, { onDelete: 'cascade' }),
  trigger: text('trigger').notNull(),
  status: text('status').notNull(),
  input: text('input'),
  output: text('output'),
  error: text('error'),
  currentStep: bigint('current_step', { mode: 'number' }).notNull().default(0),
  /** The pipeline's steps when this run started; later edits do not change a run. */
  steps: jsonb('steps').$type<StoredPipelineStep[]>().notNull().default(sql`'[]'`),
  createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  startedAt: bigint('started_at', { mode: 'number' }),
  finishedAt: bigint('finished_at', { mode: 'number' }),
});

export const runs = pgTable(
  'runs',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    botId: bigint('bot_id', { mode: 'number' })
      .notNull()
      .references(() => bots.id, { onDelete: 'cascade' }),
    /** manual | schedule | trigger:<bot> | pipeline:<id> | telegram:<user> | discord:<user> */
    trigger: text('trigger').notNull(),
    status: text('status', { enum: RUN_STATUSES }).notNull(),
    /** Which attempt this is (1..maxAttempts); a retry is a new attempt of the same run. */
    attempt: bigint('attempt', { mode: 'number' }).notNull().default(1),
    /** 1 + the bot's `retries` when the run was queued. */
    maxAttempts: bigint('max_attempts', { mode: 'number' }).notNull().default(1),
    /** A queued run does not start before this time (ms): its creation, or a retry's backoff. */
    availableAt: bigint('available_at', { mode: 'number' }).notNull().default(0),
    input: text('input'),
    output: text('output'),
    error: text('error'),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    startedAt: bigint('started_at', { mode: 'number' }),
    finishedAt: bigint('finished_at', { mode: 'number' }),
    durationMs: bigint('duration_ms', { mode: 'number' }),
    tokensIn: bigint('tokens_in', { mode: 'number' }),
    tokensOut: bigint('tokens_out', { mode: 'number' }),
    /** Cost in USD, null when the model's price is unknown. */
    costUsd: doublePrecision('cost_usd'),
    /** How many trigger hops led to this run (0 for a run nobody chained). */
    chainDepth: bigint('chain_depth', { mode: 'number' }).notNull().default(0),
    parentRunId: bigint('parent_run_id', { mode: 'number' }),
    pipelineRunId: bigint('pipeline_run_id', { mode: 'number' }).references(() => pipelineRuns.id, { onDelete: 'set null' }),
    pipelineStep: bigint('pipeline_step', { mode: 'number' }),
    /** Set when queued (the bot's or the pipeline step's setting): a completed attempt waits for a person. */
    requiresApproval: boolean('requires_approval').notNull().default(false),
    /** The run this one retries (a new run of the same bot with the same input), else null. */
    retryOf: bigint('retry_of', { mode: 'number' }),
    /** A scheduled run's occurrence (epoch ms of its second), else null: one run per bot and occurrence. */
    occurrence: bigint('occurrence', { mode: 'number' }),
    /** The process (`workers.id`) whose child runs it, while it is running; null on SQLite. */
    workerId: text('worker_id'),
  },
  (t) => [
    index('runs_bot_idx').on(t.botId, t.id),
    uniqueIndex('runs_bot_occurrence_unique').on(t.botId, t.occurrence),
    index('runs_worker_idx').on(t.workerId),
    index('runs_status_idx').on(t.status),
    index('runs_queue_idx').on(t.status, t.availableAt, t.id),
    index('runs_retry_of_idx').on(t.retryOf),
    // Retention finds old runs by when they ended (engine/retention.ts).
    index('runs_finished_idx').on(t.finishedAt),
  ],
);

/**
 * The processes of a cluster on one Postgres (unused on SQLite): each renews its row while alive
 * (a lease); a survivor takes over the running runs of a process whose lease ran out.
 */
export const workers = pgTable('workers', {
  /** `<host>:<pid>:<random>`, new at each start. */
  id: text('id').primaryKey(),
  host: text('host').notNull(),
  pid: bigint('pid', { mode: 'number' }).notNull(),
  startedAt: bigint('started_at', { mode: 'number' }).notNull(),
  /** The last renewal (epoch ms); the lease ends `CLUSTER_LEASE_MS` after it. */
  seenAt: bigint('seen_at', { mode: 'number' }).notNull(),
});

export const runLogs = pgTable(
  'run_logs',
  {
    runId: bigint('run_id', { mode: 'number' })
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    ts: bigint('ts', { mode: 'number' }).notNull(),
    stream: text('stream').notNull(),
    text: text('text').notNull(),
  },
  // ts: retention deletes old lines in batches without scanning the table (engine/retention.ts).
  (t) => [primaryKey({ columns: [t.runId, t.seq] }), index('run_logs_ts_idx').on(t.ts)],
);

export const results = pgTable(
  'results',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    botId: bigint('bot_id', { mode: 'number' })
      .notNull()
      .references(() => bots.id, { onDelete: 'cascade' }),
    runId: bigint('run_id', { mode: 'number' }).references(() => runs.id, { onDelete: 'set null' }),
    title: text('title').notNull(),
    content: text('content').notNull().default(''),
    url: text('url'),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default(sql`'{}'`),
    pinned: boolean('pinned').notNull().default(false),
    isNew: boolean('is_new').notNull().default(true),
    /** Identity of the item (normalized URL, else a hash of title and content). */
    dedupeKey: text('dedupe_key').notNull(),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  },
  (t) => [
    index('results_bot_idx').on(t.botId, t.id),
    index('results_dedupe_idx').on(t.botId, t.dedupeKey),
    // Deleting a run looks up its results (pinned ones keep it; ON DELETE SET NULL).
    index('results_run_idx').on(t.runId),
  ],
);

export const events = pgTable(
  'events',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    botId: bigint('bot_id', { mode: 'number' }).references(() => bots.id, { onDelete: 'set null' }),
    runId: bigint('run_id', { mode: 'number' }).references(() => runs.id, { onDelete: 'set null' }),
    kind: text('kind').notNull(),
    message: text('message').notNull(),
    level: text('level', { enum: ['info', 'success', 'warn', 'error'] }).notNull().default('info'),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  },
  (t) => [
    index('events_created_idx').on(t.id),
    // Retention: old activity by time, and a deleted run's events (ON DELETE SET NULL).
    index('events_created_at_idx').on(t.createdAt),
    index('events_run_idx').on(t.runId),
  ],
);

export const subscriptions = pgTable(
  'subscriptions',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    botId: bigint('bot_id', { mode: 'number' })
      .notNull()
      .references(() => bots.id, { onDelete: 'cascade' }),
    platform: text('platform', { enum: ['telegram', 'discord'] }).notNull(),
    chatId: text('chat_id').notNull(),
    /** A Telegram forum topic (`message_thread_id`) the outcomes go to; null: the chat itself. */
    threadId: text('thread_id'),
    /** Which runs the chat gets: every run, only failures, or only runs with new results. */
    policy: text('policy', { enum: ['all', 'failures', 'new'] }).notNull().default('all'),
    /** Nothing is posted before this time (ms since the epoch); null: not muted. */
    mutedUntil: bigint('muted_until', { mode: 'number' }),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  },
  (t) => [uniqueIndex('subscriptions_unique').on(t.botId, t.platform, t.chatId)],
);

/**
 * A run's draft waiting for a person (seed 001: "the user reviews it in the dashboard → release"),
 * and once decided, who decided what and when. One per run.
 */
export const approvals = pgTable(
  'approvals',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    runId: bigint('run_id', { mode: 'number' })
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    botId: bigint('bot_id', { mode: 'number' })
      .notNull()
      .references(() => bots.id, { onDelete: 'cascade' }),
    /** pending, then approved | rejected | expired | cancelled (see APPROVAL_STATUSES). */
    status: text('status', { enum: ['pending', 'approved', 'rejected', 'expired', 'cancelled'] }).notNull(),
    /** The run's output as the bot wrote it. */
    draft: text('draft').notNull(),
    /** Items the run reported with `report_result`, recorded only once approved. */
    heldResults: jsonb('held_results').$type<HeldResult[]>().notNull().default(sql`'[]'`),
    /** The run used no tool: once approved, the approved text is its one result (a plain answer). */
    answerIsResult: boolean('answer_is_result').notNull().default(true),
    /** The text that was approved (the draft, or the person's edit of it). */
    finalText: text('final_text'),
    /** Whether the person changed the draft before approving. */
    edited: boolean('edited').notNull().default(false),
    /** Why it was rejected (the person's words, or the expiry). */
    reason: text('reason'),
    /** `dashboard`, `api`, `telegram:<user id>`, `discord:<user id>`, or `timeout`. */
    decidedBy: text('decided_by'),
    decidedAt: bigint('decided_at', { mode: 'number' }),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    /** After this (ms) an undecided draft is rejected as expired. */
    expiresAt: bigint('expires_at', { mode: 'number' }).notNull(),
  },
  (t) => [uniqueIndex('approvals_run_unique').on(t.runId), index('approvals_status_idx').on(t.status, t.expiresAt)],
);

/** A bot in a swarm role: an enrolled bot of this server (`bot_id`) or a registered external bot. */
export const agents = pgTable(
  'agents',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    name: text('name').notNull(),
    role: text('role', { enum: ['planner', 'executor', 'evaluator'] }).notNull(),
    /** Lower-case skills (executors): a sub-task goes to an executor holding all its skills. */
    skills: jsonb('skills').$type<string[]>().notNull().default(sql`'[]'`),
    version: text('version').notNull().default(''),
    kind: text('kind', { enum: ['bot', 'external'] }).notNull(),
    /** The enrolled bot (kind `bot`); a bot has at most one role. */
    botId: bigint('bot_id', { mode: 'number' }).references(() => bots.id, { onDelete: 'cascade' }),
    /** Last request of an external agent (poll, heartbeat, result). */
    lastSeenAt: bigint('last_seen_at', { mode: 'number' }),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    /** Set when removed; its past assignments keep naming it. */
    removedAt: bigint('removed_at', { mode: 'number' }),
  },
  (t) => [uniqueIndex('agents_bot_unique').on(t.botId)],
);

/** API keys for clients and external agents: only the SHA-256 of the key is kept. */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    name: text('name').notNull(),
    /** The user the key acts as ({@link users}; keys from before accounts act as user 1). */
    userId: bigint('user_id', { mode: 'number' }).notNull().default(1),
    /** The key's first characters, to tell keys apart (`oo_AbCd1234…`). */
    prefix: text('prefix').notNull(),
    /** Hex SHA-256 of the whole key. */
    hash: text('hash').notNull(),
    /** Any of `tasks`, `agents`, `admin`. */
    scopes: jsonb('scopes').$type<string[]>().notNull(),
    /** The external agent this key identifies (its registration key). */
    agentId: bigint('agent_id', { mode: 'number' }).references(() => agents.id, { onDelete: 'set null' }),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    lastUsedAt: bigint('last_used_at', { mode: 'number' }),
    revokedAt: bigint('revoked_at', { mode: 'number' }),
  },
  (t) => [uniqueIndex('api_keys_hash_unique').on(t.hash)],
);

export const tasks = pgTable(
  'tasks',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    title: text('title').notNull(),
    /** The user it belongs to ({@link users}; rows from before accounts belong to user 1). */
    ownerId: bigint('owner_id', { mode: 'number' }).notNull().default(1),
    description: text('description').notNull().default(''),
    priority: text('priority', { enum: ['low', 'normal', 'high'] }).notNull().default('normal'),
    status: text('status', { enum: ['CREATED', 'PLANNED', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED', 'ARCHIVED'] }).notNull(),
    phase: text('phase', { enum: ['planning', 'executing', 'evaluating', 'done'] }).notNull().default('planning'),
    /** The current round (1, 2, …): a failed verdict starts the next one, up to `max_rounds`. */
    round: bigint('round', { mode: 'number' }).notNull().default(1),
    maxRounds: bigint('max_rounds', { mode: 'number' }).notNull().default(2),
    /** Who created it: `dashboard`, `api`, `key:<name>`, `telegram:<user>`, … */
    createdBy: text('created_by').notNull(),
    /** The chat it was started from (`telegram:<chat id>`, `discord:<channel id>`), for its outcome; null elsewhere. */
    originChat: text('origin_chat'),
    /** Why it failed (the evaluator's reasons) or was cancelled. */
    error: text('error'),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    updatedAt: bigint('updated_at', { mode: 'number' }).notNull(),
    finishedAt: bigint('finished_at', { mode: 'number' }),
    archivedAt: bigint('archived_at', { mode: 'number' }),
  },
  (t) => [index('tasks_status_idx').on(t.status)],
);

export const subtasks = pgTable(
  'subtasks',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    taskId: bigint('task_id', { mode: 'number' })
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    round: bigint('round', { mode: 'number' }).notNull(),
    /** The planner's id of the sub-task (`s1`), unique in its round; `depends_on` uses it. */
    key: text('key').notNull(),
    position: bigint('position', { mode: 'number' }).notNull(),
    description: text('description').notNull(),
    skills: jsonb('skills').$type<string[]>().notNull().default(sql`'[]'`),
    dependsOn: jsonb('depends_on').$type<string[]>().notNull().default(sql`'[]'`),
    status: text('status', { enum: ['pending', 'assigned', 'running', 'completed', 'failed', 'cancelled'] }).notNull(),
    agentId: bigint('agent_id', { mode: 'number' }).references(() => agents.id, { onDelete: 'set null' }),
    runId: bigint('run_id', { mode: 'number' }).references(() => runs.id, { onDelete: 'set null' }),
    output: text('output'),
    error: text('error'),
    /** The evaluator's reasons, when this sub-task is redone. */
    feedback: text('feedback'),
    attempts: bigint('attempts', { mode: 'number' }).notNull().default(0),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    startedAt: bigint('started_at', { mode: 'number' }),
    finishedAt: bigint('finished_at', { mode: 'number' }),
  },
  (t) => [index('subtasks_task_idx').on(t.taskId, t.round)],
);

/** One agent's turn at one step of a task (plan, execute a sub-task, evaluate), with its lease. */
export const assignments = pgTable(
  'assignments',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    taskId: bigint('task_id', { mode: 'number' })
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    subtaskId: bigint('subtask_id', { mode: 'number' }).references(() => subtasks.id, { onDelete: 'cascade' }),
    round: bigint('round', { mode: 'number' }).notNull(),
    kind: text('kind', { enum: ['plan', 'execute', 'evaluate'] }).notNull(),
    agentId: bigint('agent_id', { mode: 'number' }).references(() => agents.id, { onDelete: 'set null' }),
    status: text('status', { enum: ['offered', 'working', 'completed', 'failed', 'expired', 'cancelled'] }).notNull(),
    /** The run of an enrolled bot doing it. */
    runId: bigint('run_id', { mode: 'number' }).references(() => runs.id, { onDelete: 'set null' }),
    /** What the agent is given (the instructions, as text). */
    input: text('input').notNull(),
    /** The plan or verdict handed in (JSON), or the executor's output under `output`. */
    result: jsonb('result').$type<Record<string, unknown>>(),
    error: text('error'),
    /** An external agent loses the assignment when this passes without a heartbeat (ms). */
    leaseExpiresAt: bigint('lease_expires_at', { mode: 'number' }),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    startedAt: bigint('started_at', { mode: 'number' }),
    finishedAt: bigint('finished_at', { mode: 'number' }),
  },
  (t) => [index('assignments_task_idx').on(t.taskId), index('assignments_run_idx').on(t.runId), index('assignments_agent_idx').on(t.agentId, t.status)],
);

export const verdicts = pgTable(
  'verdicts',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    taskId: bigint('task_id', { mode: 'number' })
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    round: bigint('round', { mode: 'number' }).notNull(),
    agentId: bigint('agent_id', { mode: 'number' }).references(() => agents.id, { onDelete: 'set null' }),
    verdict: text('verdict', { enum: ['pass', 'fail'] }).notNull(),
    reasons: jsonb('reasons').$type<string[]>().notNull(),
    /** Keys of the sub-tasks to redo; empty on a fail: make a new plan. */
    redo: jsonb('redo').$type<string[]>().notNull().default(sql`'[]'`),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  },
  (t) => [index('verdicts_task_idx').on(t.taskId)],
);

/** Every step of every task, with its actor; the payload is redacted before it is stored. */
export const audit = pgTable(
  'audit',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    taskId: bigint('task_id', { mode: 'number' }).references(() => tasks.id, { onDelete: 'cascade' }),
    /** `dashboard`, `api`, `key:<name>`, `agent:<id>`, `bot:<name>`, `system`, … */
    actor: text('actor').notNull(),
    /** `task.created`, `task.status`, `task.planned`, `assignment.created`, `result`, `verdict`, `key.used`, … */
    event: text('event').notNull(),
    payload: jsonb('payload').$type<unknown>().notNull(),
    /** Paths of the payload values that were redacted (`description`, `plan.subtasks[0].description`). */
    redactedFields: jsonb('redacted_fields').$type<string[]>().notNull().default(sql`'[]'`),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  },
  (t) => [index('audit_task_idx').on(t.taskId, t.id)],
);

/**
 * Chat accounts (a Telegram or Discord user) linked to a {@link users} row by pairing: their
 * commands act as that user. One row per platform user.
 */
export const chatIdentities = pgTable(
  'chat_identities',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    platform: text('platform', { enum: ['telegram', 'discord'] }).notNull(),
    /** The platform's user id (Telegram `from.id`, Discord user snowflake), as text. */
    externalId: text('external_id').notNull(),
    /** The name the platform showed when the code was asked for (`@name` or first name). */
    displayName: text('display_name').notNull(),
    userId: bigint('user_id', { mode: 'number' })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    linkedAt: bigint('linked_at', { mode: 'number' }).notNull(),
  },
  (t) => [uniqueIndex('chat_identities_platform_external_unique').on(t.platform, t.externalId), index('chat_identities_user_idx').on(t.userId)],
);

/**
 * One-time pairing codes given to chat users who are not linked yet: 8 characters, valid 1 h,
 * single use (redeemed on the dashboard or approved by an admin).
 */
export const pairingCodes = pgTable(
  'pairing_codes',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    /** 8 characters from an alphabet without look-alikes (see src/engine/chat-identities.ts). */
    code: text('code').notNull(),
    platform: text('platform', { enum: ['telegram', 'discord'] }).notNull(),
    externalId: text('external_id').notNull(),
    displayName: text('display_name').notNull(),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    expiresAt: bigint('expires_at', { mode: 'number' }).notNull(),
    /** When it was redeemed or approved; null while open. */
    usedAt: bigint('used_at', { mode: 'number' }),
  },
  (t) => [uniqueIndex('pairing_codes_code_unique').on(t.code), index('pairing_codes_identity_idx').on(t.platform, t.externalId, t.createdAt)],
);

