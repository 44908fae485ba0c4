import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import { ROLES } from '../access.ts';
import { RUN_STATUSES } from '../run-status.ts';

// All times are Unix epoch milliseconds (integers). JSON columns hold JSON text.

/**
 * The people who use the dashboard, the API and the chats. User 1 is the first admin: on a
 * loopback server it exists without a password (the quickstart opens as that user until a
 * password is set); rows made before accounts (bots, pipelines, tasks, API keys) belong to it.
 */
export const users = sqliteTable(
  'users',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    username: text('username').notNull(),
    /** `username` lower-cased: user names are unique case-insensitively. */
    usernameKey: text('username_key').notNull(),
    /** The password's hash (argon2id, PHC string); null until one is set (the loopback admin). */
    passwordHash: text('password_hash'),
    role: text('role', { enum: ROLES }).notNull(),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [uniqueIndex('users_username_key_unique').on(t.usernameKey)],
);

/** Signed-in browser sessions: only the SHA-256 of the session cookie's token is kept. */
export const sessions = sqliteTable(
  'sessions',
  {
    /** Hex SHA-256 of the cookie's random token. */
    id: text('id').primaryKey(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: integer('created_at').notNull(),
    expiresAt: integer('expires_at').notNull(),
    lastSeenAt: integer('last_seen_at').notNull(),
  },
  (t) => [index('sessions_user_idx').on(t.userId)],
);

export const bots = sqliteTable(
  'bots',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    name: text('name').notNull(),
    /** `name` lower-cased: names are unique case-insensitively. */
    nameKey: text('name_key').notNull(),
    /** The user it belongs to ({@link users}; rows from before accounts belong to user 1). */
    ownerId: integer('owner_id').notNull().default(1),
    emoji: text('emoji').notNull().default('🤖'),
    description: text('description').notNull().default(''),
    prompt: text('prompt').notNull(),
    model: text('model').notNull().default('echo'),
    tools: text('tools', { mode: 'json' }).$type<string[]>().notNull().default(sql`'[]'`),
    schedule: text('schedule'),
    docsPath: text('docs_path').notNull(),
    notify: text('notify', { mode: 'json' }).$type<Record<string, unknown>>().notNull().default(sql`'{}'`),
    paused: integer('paused', { mode: 'boolean' }).notNull().default(false),
    maxSteps: integer('max_steps').notNull().default(8),
    /** How many times a failed or interrupted run is tried again (0..5), with exponential backoff. */
    retries: integer('retries').notNull().default(0),
    /** A completed run waits for a person's approval (status `awaiting_approval`) before it counts. */
    requiresApproval: integer('requires_approval', { mode: 'boolean' }).notNull().default(false),
    /** A draft not decided within this many seconds is rejected as expired (default 24 h). */
    approvalTimeoutS: integer('approval_timeout_s').notNull().default(86_400),
    /** The last schedule occurrence (ms) that was claimed, so a restart never fires it twice. */
    scheduleClaimedAt: integer('schedule_claimed_at'),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [uniqueIndex('bots_owner_name_key_unique').on(t.ownerId, t.nameKey)],
);

export const triggers = sqliteTable(
  'triggers',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    sourceBotId: integer('source_bot_id')
      .notNull()
      .references(() => bots.id, { onDelete: 'cascade' }),
    event: text('event', { enum: ['completed', 'failed', 'result'] }).notNull(),
    /** The bot to start; null when the target is a pipeline. */
    targetBotId: integer('target_bot_id').references(() => bots.id, { onDelete: 'cascade' }),
    /** The pipeline to run; null when the target is a bot. */
    targetPipelineId: integer('target_pipeline_id').references(() => pipelines.id, { onDelete: 'cascade' }),
    targetAction: text('target_action').notNull().default('start'),
    enabled: integer('enabled', { mode: 'boolean' }).notNull().default(true),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [index('triggers_source_idx').on(t.sourceBotId)],
);

export const pipelines = sqliteTable(
  'pipelines',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    name: text('name').notNull(),
    nameKey: text('name_key').notNull(),
    /** The user it belongs to ({@link users}; rows from before accounts belong to user 1). */
    ownerId: integer('owner_id').notNull().default(1),
    description: text('description').notNull().default(''),
    /** Ordered steps (see `PipelineStep` in pipelines.ts); rows stored before steps were objects hold bot ids. */
    steps: text('steps', { mode: 'json' }).$type<StoredPipelineStep[]>().notNull(),
    schedule: text('schedule'),
    scheduleClaimedAt: integer('schedule_claimed_at'),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [uniqueIndex('pipelines_owner_name_key_unique').on(t.ownerId, t.nameKey)],
);

export const pipelineRuns = sqliteTable('pipeline_runs', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  pipelineId: integer('pipeline_id')
    .notNull()
    .references(() => pipelines.id, { onDelete: 'cascade' }),
  trigger: text('trigger').notNull(),
  status: text('status').notNull(),
  input: text('input'),
  output: text('output'),
  error: text('error'),
  currentStep: integer('current_step').notNull().default(0),
  /** The pipeline's steps when this run started; later edits do not change a run. */
  steps: text('steps', { mode: 'json' }).$type<StoredPipelineStep[]>().notNull().default(sql`'[]'`),
  createdAt: integer('created_at').notNull(),
  startedAt: integer('started_at'),
  finishedAt: integer('finished_at'),
});

export const runs = sqliteTable(
  'runs',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    botId: integer('bot_id')
      .notNull()
      .references(() => bots.id, { onDelete: 'cascade' }),
    /** manual | schedule | trigger:<bot> | pipeline:<id> | telegram:<user> | discord:<user> */
    trigger: text('trigger').notNull(),
    status: text('status', { enum: RUN_STATUSES }).notNull(),
    /** Which attempt this is (1..maxAttempts); a retry is a new attempt of the same run. */
    attempt: integer('attempt').notNull().default(1),
    /** 1 + the bot's `retries` when the run was queued. */
    maxAttempts: integer('max_attempts').notNull().default(1),
    /** A queued run does not start before this time (ms): its creation, or a retry's backoff. */
    availableAt: integer('available_at').notNull().default(0),
    input: text('input'),
    output: text('output'),
    error: text('error'),
    createdAt: integer('created_at').notNull(),
    startedAt: integer('started_at'),
    finishedAt: integer('finished_at'),
    durationMs: integer('duration_ms'),
    tokensIn: integer('tokens_in'),
    tokensOut: integer('tokens_out'),
    /** Cost in USD, null when the model's price is unknown. */
    costUsd: real('cost_usd'),
    /** How many trigger hops led to this run (0 for a run nobody chained). */
    chainDepth: integer('chain_depth').notNull().default(0),
    parentRunId: integer('parent_run_id'),
    pipelineRunId: integer('pipeline_run_id').references(() => pipelineRuns.id, { onDelete: 'set null' }),
    pipelineStep: integer('pipeline_step'),
    /** Set when queued (the bot's or the pipeline step's setting): a completed attempt waits for a person. */
    requiresApproval: integer('requires_approval', { mode: 'boolean' }).notNull().default(false),
    /** The run this one retries (a new run of the same bot with the same input), else null. */
    retryOf: integer('retry_of'),
    /** A scheduled run's occurrence (epoch ms of its second), else null: one run per bot and occurrence. */
    occurrence: integer('occurrence'),
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
export const workers = sqliteTable('workers', {
  /** `<host>:<pid>:<random>`, new at each start. */
  id: text('id').primaryKey(),
  host: text('host').notNull(),
  pid: integer('pid').notNull(),
  startedAt: integer('started_at').notNull(),
  /** The last renewal (epoch ms); the lease ends `CLUSTER_LEASE_MS` after it. */
  seenAt: integer('seen_at').notNull(),
});

export const runLogs = sqliteTable(
  'run_logs',
  {
    runId: integer('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    seq: integer('seq').notNull(),
    ts: integer('ts').notNull(),
    stream: text('stream').notNull(),
    text: text('text').notNull(),
  },
  // ts: retention deletes old lines in batches without scanning the table (engine/retention.ts).
  (t) => [primaryKey({ columns: [t.runId, t.seq] }), index('run_logs_ts_idx').on(t.ts)],
);

export const results = sqliteTable(
  'results',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    botId: integer('bot_id')
      .notNull()
      .references(() => bots.id, { onDelete: 'cascade' }),
    runId: integer('run_id').references(() => runs.id, { onDelete: 'set null' }),
    title: text('title').notNull(),
    content: text('content').notNull().default(''),
    url: text('url'),
    metadata: text('metadata', { mode: 'json' }).$type<Record<string, unknown>>().notNull().default(sql`'{}'`),
    pinned: integer('pinned', { mode: 'boolean' }).notNull().default(false),
    isNew: integer('is_new', { mode: 'boolean' }).notNull().default(true),
    /** Identity of the item (normalized URL, else a hash of title and content). */
    dedupeKey: text('dedupe_key').notNull(),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [
    index('results_bot_idx').on(t.botId, t.id),
    index('results_dedupe_idx').on(t.botId, t.dedupeKey),
    // Deleting a run looks up its results (pinned ones keep it; ON DELETE SET NULL).
    index('results_run_idx').on(t.runId),
  ],
);

export const events = sqliteTable(
  'events',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    botId: integer('bot_id').references(() => bots.id, { onDelete: 'set null' }),
    runId: integer('run_id').references(() => runs.id, { onDelete: 'set null' }),
    kind: text('kind').notNull(),
    message: text('message').notNull(),
    level: text('level', { enum: ['info', 'success', 'warn', 'error'] }).notNull().default('info'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [
    index('events_created_idx').on(t.id),
    // Retention: old activity by time, and a deleted run's events (ON DELETE SET NULL).
    index('events_created_at_idx').on(t.createdAt),
    index('events_run_idx').on(t.runId),
  ],
);

export const subscriptions = sqliteTable(
  'subscriptions',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    botId: integer('bot_id')
      .notNull()
      .references(() => bots.id, { onDelete: 'cascade' }),
    platform: text('platform', { enum: ['telegram', 'discord'] }).notNull(),
    chatId: text('chat_id').notNull(),
    /** A Telegram forum topic (`message_thread_id`) the outcomes go to; null: the chat itself. */
    threadId: text('thread_id'),
    /** Which runs the chat gets: every run, only failures, or only runs with new results. */
    policy: text('policy', { enum: ['all', 'failures', 'new'] }).notNull().default('all'),
    /** Nothing is posted before this time (ms since the epoch); null: not muted. */
    mutedUntil: integer('muted_until'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [uniqueIndex('subscriptions_unique').on(t.botId, t.platform, t.chatId)],
);

/**
 * A run's draft waiting for a person (seed 001: "the user reviews it in the dashboard → release"),
 * and once decided, who decided what and when. One per run.
 */
export const approvals = sqliteTable(
  'approvals',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    runId: integer('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    botId: integer('bot_id')
      .notNull()
      .references(() => bots.id, { onDelete: 'cascade' }),
    /** pending, then approved | rejected | expired | cancelled (see APPROVAL_STATUSES). */
    status: text('status', { enum: ['pending', 'approved', 'rejected', 'expired', 'cancelled'] }).notNull(),
    /** The run's output as the bot wrote it. */
    draft: text('draft').notNull(),
    /** Items the run reported with `report_result`, recorded only once approved. */
    heldResults: text('held_results', { mode: 'json' }).$type<HeldResult[]>().notNull().default(sql`'[]'`),
    /** The run used no tool: once approved, the approved text is its one result (a plain answer). */
    answerIsResult: integer('answer_is_result', { mode: 'boolean' }).notNull().default(true),
    /** The text that was approved (the draft, or the person's edit of it). */
    finalText: text('final_text'),
    /** Whether the person changed the draft before approving. */
    edited: integer('edited', { mode: 'boolean' }).notNull().default(false),
    /** Why it was rejected (the person's words, or the expiry). */
    reason: text('reason'),
    /** `dashboard`, `api`, `telegram:<user id>`, `discord:<user id>`, or `timeout`. */
    decidedBy: text('decided_by'),
    decidedAt: integer('decided_at'),
    createdAt: integer('created_at').notNull(),
    /** After this (ms) an undecided draft is rejected as expired. */
    expiresAt: integer('expires_at').notNull(),
  },
  (t) => [uniqueIndex('approvals_run_unique').on(t.runId), index('approvals_status_idx').on(t.status, t.expiresAt)],
);

/** An item a run reported, held until its run is approved. */
export interface HeldResult {
  title: string;
  content?: string | null;
  url?: string | null;
  metadata?: Record<string, unknown>;
}

/** A pipeline step as stored: an object (see `PipelineStep`), or a bare bot id in rows from before steps were objects. */
export type StoredPipelineStep =
  | number
  | {
      bot_id: number;
      input_source?: 'previous' | 'pipeline_input' | 'text' | 'doc';
      input_text?: string | null;
      input_doc?: string | null;
      output_target?: 'next' | 'results' | 'doc';
      output_doc?: string | null;
      requires_approval?: boolean;
    };
// Swarm tasks (seed 004): tasks split by a planner into sub-tasks for executors, judged by an
// evaluator. Statuses and their transitions are defined once in src/engine/swarm/task-status.ts.

/** A bot in a swarm role: an enrolled bot of this server (`bot_id`) or a registered external bot. */
export const agents = sqliteTable(
  'agents',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    name: text('name').notNull(),
    role: text('role', { enum: ['planner', 'executor', 'evaluator'] }).notNull(),
    /** Lower-case skills (executors): a sub-task goes to an executor holding all its skills. */
    skills: text('skills', { mode: 'json' }).$type<string[]>().notNull().default(sql`'[]'`),
    version: text('version').notNull().default(''),
    kind: text('kind', { enum: ['bot', 'external'] }).notNull(),
    /** The enrolled bot (kind `bot`); a bot has at most one role. */
    botId: integer('bot_id').references(() => bots.id, { onDelete: 'cascade' }),
    /** Last request of an external agent (poll, heartbeat, result). */
    lastSeenAt: integer('last_seen_at'),
    createdAt: integer('created_at').notNull(),
    /** Set when removed; its past assignments keep naming it. */
    removedAt: integer('removed_at'),
  },
  (t) => [uniqueIndex('agents_bot_unique').on(t.botId)],
);

/** API keys for clients and external agents: only the SHA-256 of the key is kept. */
export const apiKeys = sqliteTable(
  'api_keys',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    name: text('name').notNull(),
    /** The user the key acts as ({@link users}; keys from before accounts act as user 1). */
    userId: integer('user_id').notNull().default(1),
    /** The key's first characters, to tell keys apart (`oo_AbCd1234…`). */
    prefix: text('prefix').notNull(),
    /** Hex SHA-256 of the whole key. */
    hash: text('hash').notNull(),
    /** Any of `tasks`, `agents`, `admin`. */
    scopes: text('scopes', { mode: 'json' }).$type<string[]>().notNull(),
    /** The external agent this key identifies (its registration key). */
    agentId: integer('agent_id').references(() => agents.id, { onDelete: 'set null' }),
    createdAt: integer('created_at').notNull(),
    lastUsedAt: integer('last_used_at'),
    revokedAt: integer('revoked_at'),
  },
  (t) => [uniqueIndex('api_keys_hash_unique').on(t.hash)],
);

export const tasks = sqliteTable(
  'tasks',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    title: text('title').notNull(),
    /** The user it belongs to ({@link users}; rows from before accounts belong to user 1). */
    ownerId: integer('owner_id').notNull().default(1),
    description: text('description').notNull().default(''),
    priority: text('priority', { enum: ['low', 'normal', 'high'] }).notNull().default('normal'),
    status: text('status', { enum: ['CREATED', 'PLANNED', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED', 'ARCHIVED'] }).notNull(),
    phase: text('phase', { enum: ['planning', 'executing', 'evaluating', 'done'] }).notNull().default('planning'),
    /** The current round (1, 2, …): a failed verdict starts the next one, up to `max_rounds`. */
    round: integer('round').notNull().default(1),
    maxRounds: integer('max_rounds').notNull().default(2),
    /** Who created it: `dashboard`, `api`, `key:<name>`, `telegram:<user>`, … */
    createdBy: text('created_by').notNull(),
    /** The chat it was started from (`telegram:<chat id>`, `discord:<channel id>`), for its outcome; null elsewhere. */
    originChat: text('origin_chat'),
    /** Why it failed (the evaluator's reasons) or was cancelled. */
    error: text('error'),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
    finishedAt: integer('finished_at'),
    archivedAt: integer('archived_at'),
  },
  (t) => [index('tasks_status_idx').on(t.status)],
);

export const subtasks = sqliteTable(
  'subtasks',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    taskId: integer('task_id')
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    round: integer('round').notNull(),
    /** The planner's id of the sub-task (`s1`), unique in its round; `depends_on` uses it. */
    key: text('key').notNull(),
    position: integer('position').notNull(),
    description: text('description').notNull(),
    skills: text('skills', { mode: 'json' }).$type<string[]>().notNull().default(sql`'[]'`),
    dependsOn: text('depends_on', { mode: 'json' }).$type<string[]>().notNull().default(sql`'[]'`),
    status: text('status', { enum: ['pending', 'assigned', 'running', 'completed', 'failed', 'cancelled'] }).notNull(),
    agentId: integer('agent_id').references(() => agents.id, { onDelete: 'set null' }),
    runId: integer('run_id').references(() => runs.id, { onDelete: 'set null' }),
    output: text('output'),
    error: text('error'),
    /** The evaluator's reasons, when this sub-task is redone. */
    feedback: text('feedback'),
    attempts: integer('attempts').notNull().default(0),
    createdAt: integer('created_at').notNull(),
    startedAt: integer('started_at'),
    finishedAt: integer('finished_at'),
  },
  (t) => [index('subtasks_task_idx').on(t.taskId, t.round)],
);

/** One agent's turn at one step of a task (plan, execute a sub-task, evaluate), with its lease. */
export const assignments = sqliteTable(
  'assignments',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    taskId: integer('task_id')
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    subtaskId: integer('subtask_id').references(() => subtasks.id, { onDelete: 'cascade' }),
    round: integer('round').notNull(),
    kind: text('kind', { enum: ['plan', 'execute', 'evaluate'] }).notNull(),
    agentId: integer('agent_id').references(() => agents.id, { onDelete: 'set null' }),
    status: text('status', { enum: ['offered', 'working', 'completed', 'failed', 'expired', 'cancelled'] }).notNull(),
    /** The run of an enrolled bot doing it. */
    runId: integer('run_id').references(() => runs.id, { onDelete: 'set null' }),
    /** What the agent is given (the instructions, as text). */
    input: text('input').notNull(),
    /** The plan or verdict handed in (JSON), or the executor's output under `output`. */
    result: text('result', { mode: 'json' }).$type<Record<string, unknown>>(),
    error: text('error'),
    /** An external agent loses the assignment when this passes without a heartbeat (ms). */
    leaseExpiresAt: integer('lease_expires_at'),
    createdAt: integer('created_at').notNull(),
    startedAt: integer('started_at'),
    finishedAt: integer('finished_at'),
  },
  (t) => [index('assignments_task_idx').on(t.taskId), index('assignments_run_idx').on(t.runId), index('assignments_agent_idx').on(t.agentId, t.status)],
);

export const verdicts = sqliteTable(
  'verdicts',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    taskId: integer('task_id')
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    round: integer('round').notNull(),
    agentId: integer('agent_id').references(() => agents.id, { onDelete: 'set null' }),
    verdict: text('verdict', { enum: ['pass', 'fail'] }).notNull(),
    reasons: text('reasons', { mode: 'json' }).$type<string[]>().notNull(),
    /** Keys of the sub-tasks to redo; empty on a fail: make a new plan. */
    redo: text('redo', { mode: 'json' }).$type<string[]>().notNull().default(sql`'[]'`),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [index('verdicts_task_idx').on(t.taskId)],
);

/** Every step of every task, with its actor; the payload is redacted before it is stored. */
export const audit = sqliteTable(
  'audit',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    taskId: integer('task_id').references(() => tasks.id, { onDelete: 'cascade' }),
    /** `dashboard`, `api`, `key:<name>`, `agent:<id>`, `bot:<name>`, `system`, … */
    actor: text('actor').notNull(),
    /** `task.created`, `task.status`, `task.planned`, `assignment.created`, `result`, `verdict`, `key.used`, … */
    event: text('event').notNull(),
    payload: text('payload', { mode: 'json' }).$type<unknown>().notNull(),
    /** Paths of the payload values that were redacted (`description`, `plan.subtasks[0].description`). */
    redactedFields: text('redacted_fields', { mode: 'json' }).$type<string[]>().notNull().default(sql`'[]'`),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [index('audit_task_idx').on(t.taskId, t.id)],
);

/**
 * Chat accounts (a Telegram or Discord user) linked to a {@link users} row by pairing: their
 * commands act as that user. One row per platform user.
 */
export const chatIdentities = sqliteTable(
  'chat_identities',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    platform: text('platform', { enum: ['telegram', 'discord'] }).notNull(),
    /** The platform's user id (Telegram `from.id`, Discord user snowflake), as text. */
    externalId: text('external_id').notNull(),
    /** The name the platform showed when the code was asked for (`@name` or first name). */
    displayName: text('display_name').notNull(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    linkedAt: integer('linked_at').notNull(),
  },
  (t) => [uniqueIndex('chat_identities_platform_external_unique').on(t.platform, t.externalId), index('chat_identities_user_idx').on(t.userId)],
);

/**
 * One-time pairing codes given to chat users who are not linked yet: 8 characters, valid 1 h,
 * single use (redeemed on the dashboard or approved by an admin).
 */
export const pairingCodes = sqliteTable(
  'pairing_codes',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    /** 8 characters from an alphabet without look-alikes (see src/engine/chat-identities.ts). */
    code: text('code').notNull(),
    platform: text('platform', { enum: ['telegram', 'discord'] }).notNull(),
    externalId: text('external_id').notNull(),
    displayName: text('display_name').notNull(),
    createdAt: integer('created_at').notNull(),
    expiresAt: integer('expires_at').notNull(),
    /** When it was redeemed or approved; null while open. */
    usedAt: integer('used_at'),
  },
  (t) => [uniqueIndex('pairing_codes_code_unique').on(t.code), index('pairing_codes_identity_idx').on(t.platform, t.externalId, t.createdAt)],
);

export type UserRow = typeof users.$inferSelect;
export type SessionRow = typeof sessions.$inferSelect;
export type BotRow = typeof bots.$inferSelect;
export type RunRow = typeof runs.$inferSelect;
export type WorkerRow = typeof workers.$inferSelect;
export type RunLogRow = typeof runLogs.$inferSelect;
export type ResultRow = typeof results.$inferSelect;
export type EventRow = typeof events.$inferSelect;
export type TriggerRow = typeof triggers.$inferSelect;
export type PipelineRow = typeof pipelines.$inferSelect;
export type PipelineRunRow = typeof pipelineRuns.$inferSelect;
export type SubscriptionRow = typeof subscriptions.$inferSelect;
export type ApprovalRow = typeof approvals.$inferSelect;
export type AgentRow = typeof agents.$inferSelect;
export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type TaskRow = typeof tasks.$inferSelect;
export type SubtaskRow = typeof subtasks.$inferSelect;
export type AssignmentRow = typeof assignments.$inferSelect;
export type VerdictRow = typeof verdicts.$inferSelect;
export type AuditRow = typeof audit.$inferSelect;
export type ChatIdentityRow = typeof chatIdentities.$inferSelect;
export type PairingCodeRow = typeof pairingCodes.$inferSelect;
