import type { ErrorCode } from '../../engine/errors.ts';

/**
 * What each error code means, for the API's description (`x-error-codes` and the error responses
 * of each route in `/api/openapi.json`, the table at `/api/docs`). A code added to
 * `src/engine/errors.ts` needs its line here: the compiler asks for it, and
 * test/openapi.test.ts checks that the served document lists every code with its meaning.
 */
export const ERROR_DOCS: Record<ErrorCode, string> = {
  VALIDATION_FAILED: 'A field, query parameter or body is not valid; details.fields names each one.',
  BAD_REQUEST: 'The request could not be read (malformed JSON, a broken multipart upload, an unsupported content type).',
  PAYLOAD_TOO_LARGE: 'The request body is larger than the server accepts.',
  BOT_NOT_FOUND: 'No bot with that id (or name).',
  BOT_NAME_TAKEN: 'Another bot has that name (names are unique, case-insensitively).',
  RUN_NOT_FOUND: 'No run with that id.',
  RUN_NOT_ACTIVE: 'The run already ended, so it cannot be cancelled.',
  RUN_NOT_RETRYABLE: 'Only a failed, cancelled, interrupted or rejected run can be retried; this one is still active, waiting for approval, or completed.',
  DOC_NOT_FOUND: "No document with that name in the bot's folder.",
  DOC_INVALID_NAME: 'The document name is not allowed (empty, absolute, leaving the folder, a symlink, …).',
  DOC_TOO_LARGE: 'The document is larger than the limit for one file.',
  RESULT_NOT_FOUND: 'No result with that id.',
  SECRET_NOT_FOUND: 'The bot has no secret by that name.',
  TRIGGER_NOT_FOUND: 'No connection (trigger) with that id, or none between those bots.',
  TRIGGER_CYCLE: 'The connection would close a loop of bots starting each other.',
  TRIGGER_EXISTS: 'The same connection (source, event, target) exists already.',
  PIPELINE_NOT_FOUND: 'No pipeline with that id.',
  PIPELINE_NAME_TAKEN: 'Another pipeline has that name.',
  PIPELINE_RUN_NOT_FOUND: 'No pipeline run with that id.',
  PIPELINE_RUN_NOT_ACTIVE: 'The pipeline run already ended, so it cannot be cancelled.',
  PIPELINE_BROKEN: "A step of the pipeline uses a bot that was deleted; give the step another bot or remove it, then run again.",
  APPROVAL_NOT_FOUND: 'No approval with that id.',
  APPROVAL_DECIDED: 'The draft was already approved, rejected, expired or cancelled (the message says by whom and when).',
  RECIPE_NOT_FOUND: 'No recipe in the library with that id (GET /api/recipes lists them).',
  SUBSCRIPTION_NOT_FOUND: 'No chat subscription with that id for this bot.',
  TASK_NOT_FOUND: 'No swarm task with this id.',
  TASK_TRANSITION_INVALID: "The task's state machine does not allow this change from its current state.",
  SWARM_INCOMPLETE: 'A task needs a planner, an executor and an evaluator bot before it can be created.',
  AGENT_NOT_FOUND: 'No registered agent with this id.',
  AGENT_BOT_TAKEN: 'The bot already has a swarm role.',
  ASSIGNMENT_NOT_FOUND: 'No assignment with this id.',
  ASSIGNMENT_NOT_ACTIVE: "The assignment is no longer this agent's: its lease ran out, or its task ended.",
  API_KEY_NOT_FOUND: 'No API key with this id.',
  FORBIDDEN_SCOPE: 'The API key is valid but lacks the scope this route needs.',
  RATE_LIMITED: 'This client sent more API requests in a minute than RATE_LIMIT_PER_MIN allows; wait and try again.',
  QUEUE_FULL: 'More runs are waiting than MAX_QUEUED_RUNS allows; try again when some have finished.',
  SHUTTING_DOWN: 'The server is stopping and takes no new runs; try again when it is back.',
  UNAUTHORIZED: 'DASHBOARD_TOKEN is set and the request carries no valid token (Authorization: Bearer <token>, or the oo_token cookie).',
  FORBIDDEN_ROLE: 'The caller may see this but their role does not allow the change (a viewer changes nothing; an operator changes only their own bots).',
  FORBIDDEN_ORIGIN: 'A browser sent a change (POST, PUT, DELETE) from another site (CSRF protection).',
  FORBIDDEN_HOST: 'The server listens on loopback only and the Host header names another host (DNS rebinding protection).',
  NOT_FOUND: 'No route at that method and path.',
  CHAT_NOT_READY: 'The chat adapter behind this route (the Telegram webhook) is not running yet; the caller (Telegram) tries again later.',
  INTERNAL: 'Something went wrong on the server; its log has the details.',
};
