import type { EventBot } from './event-bus.ts';
import { assertNever, RUN_STATUS_TABLE, type RunStatus } from './run-status.ts';

/**
 * What a person reads about a bot on its card, its page and in chat (seed 001: "Läuft",
 * "Pausiert", "Wartet auf Dev-Bot", …). One of, in the order they win when several hold:
 *
 * - `running`: a run of the bot has a live child process;
 * - `queued`: a run waits for a slot; `position` is its place in the queue (1 = next), null when
 *   unknown (it is waiting for a retry's backoff);
 * - `paused`: schedules and connections do not start it (a person still may);
 * - `waiting`: an enabled incoming connection's source bot (`on`) has a queued or running run, so
 *   this bot is likely next;
 * - `failed`: its last run failed or was interrupted; `reason` is the run's error;
 * - `scheduled`: it has a schedule; `nextAt` is the next occurrence (epoch ms), null when it cannot
 *   be computed;
 * - `idle`: none of these.
 */
export type BotState =
  | { kind: 'running'; runId: number; since: number | null }
  | { kind: 'queued'; runId: number; position: number | null }
  | { kind: 'paused' }
  | { kind: 'waiting'; on: EventBot }
  | { kind: 'failed'; runId: number; reason: string }
  | { kind: 'scheduled'; nextAt: number | null }
  | { kind: 'idle' };

/** The name of a {@link BotState}. */
export type BotStateKind = BotState['kind'];

/** Every bot state, in the order they win (the dashboard's status filter lists them so). */
export const BOT_STATE_KINDS = ['running', 'queued', 'paused', 'waiting', 'failed', 'scheduled', 'idle'] as const satisfies readonly BotStateKind[];

/** `true` for a string that names a bot state (guards query strings). */
export function isBotStateKind(value: unknown): value is BotStateKind {
  return typeof value === 'string' && (BOT_STATE_KINDS as readonly string[]).includes(value);
}

/** What {@link botState} decides from; every field is read from storage by `BotService`. */
export interface BotStateFacts {
  paused: boolean;
  schedule: string | null;
  /** The bot's newest running run, if any (`startedAt` in epoch ms). */
  running: { id: number; startedAt: number | null } | null;
  /** The bot's next queued run, if any, with its queue position (1-based; null when unknown). */
  queued: { id: number; position: number | null } | null;
  /** The source bot of an enabled incoming connection that has a queued or running run. */
  waitingOn: EventBot | null;
  /** The bot's newest run. */
  lastRun: { id: number; status: RunStatus; error: string | null } | null;
  /** Next occurrence of the schedule (epoch ms); only read when the bot is `scheduled`. */
  nextRunAt: () => number | null;
}

/** The one place a bot's state is decided (see {@link BotState} for the order). */
export function botState(f: BotStateFacts): BotState {
  if (f.running) return { kind: 'running', runId: f.running.id, since: f.running.startedAt };
  if (f.queued) return { kind: 'queued', runId: f.queued.id, position: f.queued.position };
  if (f.paused) return { kind: 'paused' };
  if (f.waitingOn) return { kind: 'waiting', on: f.waitingOn };
  if (f.lastRun && RUN_STATUS_TABLE[f.lastRun.status].success === false) {
    const label = RUN_STATUS_TABLE[f.lastRun.status].label;
    return { kind: 'failed', runId: f.lastRun.id, reason: f.lastRun.error ? `${label}: ${f.lastRun.error}` : label };
  }
  if (f.schedule) return { kind: 'scheduled', nextAt: f.nextRunAt() };
  return { kind: 'idle' };
}

/**
 * A bot state as words: `label` for the badge ("Queued · #3", "Scheduled · next 14:30",
 * "Waiting on 💻 Dev-Bot"), `title` for the hover (the failure's reason), `tone` for its colour.
 * `time` formats an epoch-ms instant as the reader's clock shows it (HH:MM, with the date when it
 * is not today).
 */
export function describeBotState(state: BotState, time: (ms: number) => string): { label: string; title: string | null; tone: BotStateKind } {
  switch (state.kind) {
    case 'running':
      return { label: 'Running', title: `Run #${state.runId}${state.since ? ` since ${time(state.since)}` : ''}`, tone: 'running' };
    case 'queued':
      return {
        label: state.position ? `Queued · #${state.position}` : 'Queued',
        title: state.position ? `Run #${state.runId} is number ${state.position} in the queue` : `Run #${state.runId} waits to be retried`,
        tone: 'queued',
      };
    case 'paused':
      return { label: 'Paused', title: 'Schedules and connections do not start it', tone: 'paused' };
    case 'waiting':
      return { label: `Waiting on ${state.on.emoji} ${state.on.name}`, title: `${state.on.name} is running or queued; a connection starts this bot after it`, tone: 'waiting' };
    case 'failed':
      return { label: 'Failed', title: state.reason, tone: 'failed' };
    case 'scheduled':
      return { label: state.nextAt ? `Scheduled · next ${time(state.nextAt)}` : 'Scheduled', title: null, tone: 'scheduled' };
    case 'idle':
      return { label: 'Idle', title: null, tone: 'idle' };
    default:
      return assertNever(state);
  }
}
