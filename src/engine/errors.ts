/**
 * Every error the engine reports to a person, declared once: a stable code, the HTTP status the
 * API answers with, and a message template. Adapters (REST, Telegram, Discord) render `message`.
 */
export const ERROR_CODES = {
  VALIDATION_FAILED: { status: 400 },
  BAD_REQUEST: { status: 400 },
  PAYLOAD_TOO_LARGE: { status: 413 },
  BOT_NOT_FOUND: { status: 404 },
  BOT_NAME_TAKEN: { status: 409 },
  RUN_NOT_FOUND: { status: 404 },
  RUN_NOT_ACTIVE: { status: 409 },
  /** A retry of a run that is still active or completed (only failed, cancelled, interrupted runs). */
  RUN_NOT_RETRYABLE: { status: 409 },
  DOC_NOT_FOUND: { status: 404 },
  DOC_INVALID_NAME: { status: 400 },
  DOC_TOO_LARGE: { status: 413 },
  RESULT_NOT_FOUND: { status: 404 },
  /** The bot has no secret by that name (src/engine/bot-secrets.ts). */
  SECRET_NOT_FOUND: { status: 404 },
  TRIGGER_NOT_FOUND: { status: 404 },
  TRIGGER_CYCLE: { status: 409 },
  TRIGGER_EXISTS: { status: 409 },
  PIPELINE_NOT_FOUND: { status: 404 },
  PIPELINE_NAME_TAKEN: { status: 409 },
  PIPELINE_RUN_NOT_FOUND: { status: 404 },
  PIPELINE_RUN_NOT_ACTIVE: { status: 409 },
  /** A step of the pipeline uses a bot that was deleted; it cannot run until the step is fixed. */
  PIPELINE_BROKEN: { status: 409 },
  APPROVAL_NOT_FOUND: { status: 404 },
  /** The draft was already approved, rejected, expired or cancelled. */
  APPROVAL_DECIDED: { status: 409 },
  RECIPE_NOT_FOUND: { status: 404 },
  SUBSCRIPTION_NOT_FOUND: { status: 404 },
  TASK_NOT_FOUND: { status: 404 },
  /** A task status change its state machine does not allow (src/engine/swarm/task-status.ts). */
  TASK_TRANSITION_INVALID: { status: 409 },
  /** A task needs a planner, an executor and an evaluator to exist before it can be created. */
  SWARM_INCOMPLETE: { status: 409 },
  AGENT_NOT_FOUND: { status: 404 },
  /** The bot already has a swarm role. */
  AGENT_BOT_TAKEN: { status: 409 },
  ASSIGNMENT_NOT_FOUND: { status: 404 },
  /** The assignment is no longer this agent's (its lease ran out, or its task ended). */
  ASSIGNMENT_NOT_ACTIVE: { status: 409 },
  API_KEY_NOT_FOUND: { status: 404 },
  /** A valid API key without the scope this route needs. */
  FORBIDDEN_SCOPE: { status: 403 },
  /** More runs wait than MAX_QUEUED_RUNS allows. */
  QUEUE_FULL: { status: 429 },
  /** The process is stopping; it takes no new runs. */
  SHUTTING_DOWN: { status: 503 },
  UNAUTHORIZED: { status: 401 },
  /** A sign-in (form or HTTP Basic) with a wrong user name or password. */
  LOGIN_FAILED: { status: 401 },
  /** Off loopback no admin has a password yet: everything but /health and /setup is refused. */
  SETUP_REQUIRED: { status: 403 },
  USER_NOT_FOUND: { status: 404 },
  USERNAME_TAKEN: { status: 409 },
  /** The change would leave no admin (deleting or demoting the last one). */
  LAST_ADMIN: { status: 409 },
  /** The caller's role does not allow the change (a viewer starting a run, an operator editing another's bot). */
  FORBIDDEN_ROLE: { status: 403 },
  /** An unsafe request (POST, PUT, DELETE, …) sent by a browser from another site (CSRF). */
  FORBIDDEN_ORIGIN: { status: 403 },
  /** A request for a host name this loopback-only server does not serve (DNS rebinding). */
  FORBIDDEN_HOST: { status: 403 },
  NOT_FOUND: { status: 404 },
  /** The chat adapter that serves this route (the Telegram webhook) is not running yet; the caller retries. */
  CHAT_NOT_READY: { status: 503 },
  /** This client sent more API requests in a minute than `RATE_LIMIT_PER_MIN` allows. */
  RATE_LIMITED: { status: 429 },
  /** A pairing code that was never given (or was mistyped). */
  PAIRING_CODE_UNKNOWN: { status: 404 },
  /** A pairing code older than its hour. */
  PAIRING_CODE_EXPIRED: { status: 410 },
  /** A pairing code that already linked a chat (codes are single use). */
  PAIRING_CODE_USED: { status: 409 },
  /** A chat user asked for more new pairing codes in an hour than allowed. */
  PAIRING_RATE_LIMITED: { status: 429 },
  CHAT_IDENTITY_NOT_FOUND: { status: 404 },
  INTERNAL: { status: 500 },
} as const satisfies Record<string, { status: number }>;

/** One of the stable error codes in {@link ERROR_CODES}. */
export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * An error meant for the person who caused it. `code` is stable (clients may switch on it),
 * `message` is a plain sentence, `status` the HTTP status; `details` carries field errors.
 */
export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'AppError';
    this.status = ERROR_CODES[code].status;
  }
}

/** `true` for an {@link AppError}. */
export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

/**
 * The tables whose unique indexes guard names a person chooses, and the error for a clash. The
 * services check names first; these catch the race where two requests (or two processes) pass
 * that check together and the unique index rejects the second write.
 */
const UNIQUE_CLASHES: Partial<Record<string, { code: ErrorCode; message: string }>> = {
  bots: { code: 'BOT_NAME_TAKEN', message: 'A bot with that name was just created; choose another name.' },
  pipelines: { code: 'PIPELINE_NAME_TAKEN', message: 'A pipeline with that name was just created; choose another name.' },
  users: { code: 'USERNAME_TAKEN', message: 'That user name was just taken; choose another.' },
  agents: { code: 'AGENT_BOT_TAKEN', message: 'That bot was just enrolled as an agent.' },
};

/**
 * The {@link AppError} for a unique-index violation on a table of {@link UNIQUE_CLASHES}, else null.
 * Reads the driver's error under drizzle's wrapper (`cause`): Postgres SQLSTATE 23505 with its
 * `table` (https://www.postgresql.org/docs/current/errcodes-appendix.html), or SQLite's
 * `SQLITE_CONSTRAINT_UNIQUE` with "UNIQUE constraint failed: <table>.<column>, …".
 */
export function uniqueClash(err: unknown): AppError | null {
  for (let e = err as { code?: unknown; table?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    let table: string | undefined;
    if (e.code === '23505' && typeof e.table === 'string') table = e.table;
    else if (e.code === 'SQLITE_CONSTRAINT_UNIQUE' && typeof e.message === 'string') table = /UNIQUE constraint failed: (\w+)\./.exec(e.message)?.[1];
    const clash = table ? UNIQUE_CLASHES[table] : undefined;
    if (clash) return new AppError(clash.code, clash.message);
  }
  return null;
}
