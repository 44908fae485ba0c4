/**
 * Run outcomes back to chat, shared by both platforms: when a run ends, the chat that started it
 * and every chat subscribed to its bot get one message. Delivery listens to the engine's event
 * bus; a failed delivery is logged and retried, and never touches the run.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Engine } from '../engine/engine.ts';
import type { EngineEvents } from '../engine/event-bus.ts';
import type { ChatPlatform } from '../engine/subscriptions.ts';
import { approvalDraftMessage } from './commands/approvals.ts';
import { runOutcomeMessage } from './format.ts';
import type { Message } from './message.ts';

/** Sends messages to the chats of one platform (a notifier per platform implements it). */
export interface ChatSender {
  readonly platform: ChatPlatform;
  /** Posts `msg` to the chat (split into several messages when long). */
  send(chatId: string, msg: Message): Promise<void>;
  /** `true` when retrying cannot help: the chat is gone, the bot was removed or blocked, the request is bad. */
  isPermanent(err: unknown): boolean;
}

/** Another way to reach the chat that started a run (Discord: the interaction's follow-up). */
export type ReplyRoute = (msg: Message) => Promise<void>;

/** How the outcome reaches the chat that started a run. */
export interface Origin {
  /** Tried before a plain chat message. */
  route?: ReplyRoute;
  /** Settles once the command's own answer ("Started …") is posted; the outcome waits for it. */
  after?: Promise<unknown>;
}

/**
 * A promise an adapter settles once it has posted its answer to a command (see
 * `Caller.answered`), so a run that ends at once is not reported before "Started".
 */
export function answerLatch(): { answered: Promise<void>; release: () => void } {
  let release!: () => void;
  const answered = new Promise<void>((resolve) => (release = resolve));
  return { answered, release };
}

/** Default pauses between delivery attempts: a failed message is tried four times in all. */
export const DEFAULT_RETRY_DELAYS_MS = [1000, 5000, 30_000];

/** Most runs remembered as started from a chat and not yet finished. */
const MAX_WATCHED = 5000;
/** Most finished runs remembered, for an origin that is only known after its run ended. */
const MAX_ENDED = 200;

/** A run that ended: what its message needs, and the chats it was sent to. */
interface Ended {
  botId: number;
  newResults: number;
  reached: Set<string>;
}

/**
 * Delivers the outcomes of runs to one platform's chats: the chat a run was started from (see
 * {@link RunDelivery.watch}) and the chats subscribed to its bot (`engine.subscriptions`), each once.
 */
export class RunDelivery {
  private readonly watched = new Map<number, (Origin & { chatId: string })[]>();
  private readonly ended = new Map<number, Ended>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private off: (() => void) | null = null;

  constructor(
    private readonly engine: Engine,
    private readonly sender: ChatSender,
    private readonly log: Logger,
    private readonly retryDelaysMs: readonly number[] = DEFAULT_RETRY_DELAYS_MS,
  ) {}

  /** Starts listening to `run.finished`, and to `run.awaiting_approval` (the draft, with Approve / Reject buttons). */
  start(): void {
    if (this.off) return;
    const offs = [this.engine.bus.on('run.finished', (e) => this.onFinished(e)), this.engine.bus.on('run.awaiting_approval', (e) => this.onAwaiting(e))];
    this.off = () => offs.forEach((off) => off());
  }

  /** A draft waits: the chats that would get the run's outcome get the draft with its buttons now. */
  private onAwaiting(e: EngineEvents['run.awaiting_approval']): void {
    const approval = this.engine.approvals.byRun(e.runId);
    if (!approval) return;
    const targets = new Map<string, Origin>();
    for (const { chatId, ...o } of this.watched.get(e.runId) ?? []) if (!targets.has(chatId)) targets.set(chatId, o);
    for (const s of this.engine.subscriptions.listForBot(e.botId, this.sender.platform)) if (!targets.has(s.chatId)) targets.set(s.chatId, {});
    if (targets.size === 0) return;
    const msg = approvalDraftMessage(this.engine.approvals.get(approval.id));
    for (const [chatId, origin] of targets) {
      const p = this.deliver(e.runId, chatId, msg, origin).finally(() => this.inFlight.delete(p));
      this.inFlight.add(p);
    }
  }

  /**
   * Remembers that `chatId` started `runId`. A run that has already ended (one that could not even
   * start ends inside `startRun`) is delivered at once, unless the chat got it as a subscriber.
   */
  watch(runId: number, chatId: string, origin: Origin = {}): void {
    const ended = this.ended.get(runId);
    if (ended) {
      if (ended.reached.has(chatId)) return;
      ended.reached.add(chatId);
      this.dispatch(runId, ended, new Map([[chatId, origin]]));
      return;
    }
    const list = this.watched.get(runId) ?? [];
    list.push({ ...origin, chatId });
    this.watched.set(runId, list);
    if (this.watched.size > MAX_WATCHED) this.watched.delete(this.watched.keys().next().value!);
  }

  /** Stops listening, gives up pending retries and waits (briefly) for sends under way. */
  async stop(): Promise<void> {
    this.off?.();
    this.off = null;
    this.abort.abort();
    this.watched.clear();
    this.ended.clear();
    await Promise.race([Promise.allSettled([...this.inFlight]), sleep(5000, undefined, { ref: false })]);
  }

  private onFinished(e: EngineEvents['run.finished']): void {
    const origins = this.watched.get(e.runId) ?? [];
    this.watched.delete(e.runId);
    const targets = new Map<string, Origin>();
    for (const { chatId, ...o } of origins) if (!targets.has(chatId)) targets.set(chatId, o);
    for (const s of this.engine.subscriptions.listForBot(e.botId, this.sender.platform)) if (!targets.has(s.chatId)) targets.set(s.chatId, {});
    const ended: Ended = { botId: e.botId, newResults: e.newResults, reached: new Set(targets.keys()) };
    this.ended.set(e.runId, ended);
    if (this.ended.size > MAX_ENDED) this.ended.delete(this.ended.keys().next().value!);
    this.dispatch(e.runId, ended, targets);
  }

  /** Sends the outcome of an ended run to each target chat, each on its own (retries included). */
  private dispatch(runId: number, ended: Ended, targets: Map<string, Origin>): void {
    if (targets.size === 0) return;
    let msg: Message;
    try {
      msg = runOutcomeMessage(this.engine, this.engine.bots.get(ended.botId), this.engine.runner.get(runId), ended.newResults);
    } catch {
      return; // the bot was deleted with its runs: nothing left to report
    }
    for (const [chatId, origin] of targets) {
      const p = this.deliver(runId, chatId, msg, origin).finally(() => this.inFlight.delete(p));
      this.inFlight.add(p);
    }
  }

  private async deliver(runId: number, chatId: string, msg: Message, { route, after }: Origin): Promise<void> {
    const log = this.log.child({ platform: this.sender.platform, chatId, runId });
    if (after) await after.then(noop, noop);
    if (route) {
      try {
        await route(msg);
        return;
      } catch (err) {
        log.warn({ err }, 'could not answer through the original command; posting to the chat instead');
      }
    }
    for (let attempt = 0; !this.abort.signal.aborted; attempt++) {
      try {
        await this.sender.send(chatId, msg);
        if (attempt > 0) log.info({ attempts: attempt + 1 }, 'run outcome delivered after retrying');
        return;
      } catch (err) {
        if (this.abort.signal.aborted) return;
        const delay = this.retryDelaysMs[attempt];
        if (this.sender.isPermanent(err) || delay === undefined) {
          log.error({ err, attempts: attempt + 1 }, 'could not deliver a run outcome to a chat; giving up');
          return;
        }
        log.warn({ err, attempt: attempt + 1, retryInMs: delay }, 'could not deliver a run outcome to a chat; retrying');
        try {
          await sleep(delay, undefined, { signal: this.abort.signal });
        } catch {
          return;
        }
      }
    }
  }
}

function noop(): void {}
