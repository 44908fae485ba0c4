/**
 * Runs back to chat, shared by both platforms:
 *
 * - the chat that started a run gets one live card ({@link runCard}): the answer to its command,
 *   edited as the run goes (at most one edit per `minEditIntervalMs`, 3 s) and ending as the
 *   outcome; Telegram shows "typing…" while it runs;
 * - a chat that started a pipeline run gets such a card for each step, as the steps start;
 * - every other chat subscribed to the bot gets the outcome as one message, when its policy
 *   (all / failures / new results) and mute let it, once per chat; a subscribed private chat of
 *   the person who started the run from another chat is not sent a second copy.
 *
 * Engine events only say that something changed: what a card shows is read from the engine when it
 * is drawn, so it does not matter whether an event comes inside the runner's call or a tick later,
 * before or after the card was posted. A failed post or edit is retried by the sender and never
 * touches the run.
 */
import { setImmediate as nextTick } from 'node:timers/promises';
import { and, desc, eq } from 'drizzle-orm';
import type { Logger } from 'pino';
import { results, type RunRow } from '../engine/db/schema.ts';
import type { Engine } from '../engine/engine.ts';
import { isFinalRunStatus } from '../engine/run-status.ts';
import { subscriptionWants } from '../engine/subscriptions.ts';
import type { ChatSender, Place, Posted } from './chat-sender.ts';
import { systemClock, type Clock, type TimerHandle } from './clock.ts';
import { logTail } from './log-tail.ts';
import type { Message } from './message.ts';
import { approvalDraftMessage } from './commands/approvals.ts';
import { runCard, type CardFacts } from './run-card.ts';

/** Tuning of a {@link RunDelivery}; the defaults are what production uses. */
export interface DeliveryOptions {
  /** Time for cards (tests move it by hand). */
  clock?: Clock;
  /** Least time between two edits of one card, in ms (default 3000). */
  minEditIntervalMs?: number;
  /** A running card is redrawn this often even without news, for its elapsed time (default 10 s). */
  heartbeatMs?: number;
  /** "typing…" is renewed this often while a run goes (default 4.5 s; Telegram shows it 5 s). */
  typingMs?: number;
  /**
   * Whether the bot's subscribed chats get outcomes and drafts (default true). A user's own
   * Telegram bot leaves them to the server's bot, so a chat is not told twice.
   */
  subscribers?: boolean;
}

/** How a card is first shown: the adapter answers its command with it (or posts it). */
export type CardSurface = (msg: Message) => Promise<Posted>;

/** Most cards and claims remembered at once (each ends with its run). */
const MAX_TRACKED = 5000;

interface Card {
  runId: number;
  chatId: string;
  /** Where the outcome goes when the card itself cannot be edited any more. */
  place?: Place;
  posted?: Posted;
  /** Being posted: changes wait for it. */
  posting: boolean;
  /** Could not be posted or edited: only the outcome is tried, as a new message. */
  broken: boolean;
  /** What it shows now (the serialized message). */
  shown?: string;
  postedAt?: number;
  lastEditAt?: number;
  /** When it was first seen running, by the clock: its elapsed time counts from here. */
  runningSince?: number;
  lastLine?: string;
  editTimer?: TimerHandle;
  heartbeat?: TimerHandle;
  typingTimer?: TimerHandle;
  /** Its posts and edits, one after another. */
  chain: Promise<void>;
  /** Its run's status is being read to decide on "typing…" (`again`: asked once more meanwhile). */
  typingCheck?: 'reading' | 'again';
  done: boolean;
}

/** A pipeline run whose steps get cards in a chat. */
interface PipelineWatch {
  pipelineRunId: number;
  chatId: string;
  /** Unknown until the adapter posted the "Started" answer (steps wait for it). */
  place?: Place;
}

/** Delivers one platform's runs to its chats; see the file comment. */
export class RunDelivery {
  private readonly cards = new Map<string, Card>();
  private readonly pipelines = new Map<string, PipelineWatch>();
  /** Chats whose "Stopped" reply stands for a run's cancelled outcome. */
  private readonly stoppedIn = new Map<number, Set<string>>();
  /** Whether subscribed chats are served (see {@link DeliveryOptions.subscribers}). */
  private readonly subscribers: boolean;
  /** Runs whose subscribers were served. */
  private readonly dispatched = new Set<number>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly clock: Clock;
  private readonly minEdit: number;
  private readonly heartbeatMs: number;
  private readonly typingMs: number;
  private offs: (() => void)[] = [];
  private stopped = false;

  constructor(
    private readonly engine: Engine,
    private readonly sender: ChatSender,
    private readonly log: Logger,
    opts: DeliveryOptions = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    this.subscribers = opts.subscribers ?? true;
    this.minEdit = opts.minEditIntervalMs ?? 3000;
    this.heartbeatMs = opts.heartbeatMs ?? 10_000;
    this.typingMs = opts.typingMs ?? 4500;
  }

  /** Starts listening to the engine's run events. */
  start(): void {
    if (this.offs.length) return;
    const bus = this.engine.bus;
    this.offs = [
      bus.on('run.queued', (e) => this.later(() => this.onQueued(e.runId)), { remote: true }),
      bus.on('run.started', (e) => this.touch(e.runId), { remote: true }),
      bus.on('run.retrying', (e) => this.touch(e.runId), { remote: true }),
      bus.on('run.log', (e) => this.touch(e.runId, e.text), { remote: true }),
      // Subscribers are served a tick later: by then a command that started the run in a chat has
      // claimed it for its card, however the event came (inside startRun, or after it).
      bus.on('run.finished', (e) => {
        this.touch(e.runId);
        this.later(() => this.serveSubscribers(e.runId));
      }, { remote: true }),
      // A draft waiting for approval: posted with its Approve / Reject buttons (commands/approvals.ts).
      bus.on('run.awaiting_approval', (e) => {
        this.touch(e.runId);
        this.later(() => this.serveDraft(e.runId));
      }, { remote: true }),
    ];
  }

  /** Stops listening and drawing, and waits (5 s at most) for posts under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const off of this.offs) off();
    this.offs = [];
    for (const card of this.cards.values()) this.retire(card);
    this.cards.clear();
    this.pipelines.clear();
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => setTimeout(r, 5000).unref())]);
  }

  /** A command in `chatId` started `runId`; its answer becomes the card ({@link openCard}). */
  watchRun(runId: number, chatId: string): void {
    this.cardFor(runId, chatId);
  }

  /** These runs are being stopped from `chatId`: its "Stopped" reply stands for their outcome there. */
  stopping(runIds: number[], chatId: string): void {
    for (const id of runIds) {
      const set = this.stoppedIn.get(id) ?? new Set();
      set.add(chatId);
      this.stoppedIn.set(id, set);
    }
    trim(this.stoppedIn);
  }

  /** A command in `chatId` started a pipeline run; its steps get cards there once {@link openPipeline} says where. */
  watchPipeline(pipelineRunId: number, chatId: string): void {
    this.pipelines.set(`${pipelineRunId}:${chatId}`, { pipelineRunId, chatId });
    trim(this.pipelines);
  }

  /**
   * Shows the card of `runId` in `chatId` through `surface` (the command's answer), drawn from the
   * run as it is now (already its outcome if it ended), then keeps it up to date.
   * @param place where the outcome goes if the card can no longer be edited.
   * @returns once the card is posted (or could not be).
   */
  async openCard(runId: number, chatId: string, surface: CardSurface, place: Place): Promise<void> {
    const card = this.cardFor(runId, chatId);
    card.place = place;
    if (card.posted || card.posting || card.done) return;
    card.posting = true;
    const posting = (async () => {
      const view = await this.draw(card);
      if (!view || card.done) return this.retire(card);
      try {
        card.posted = await surface(view.msg);
        card.shown = view.key;
        card.postedAt = this.clock.now();
      } catch (err) {
        this.log.error({ err, runId, chatId }, 'could not post the card of a run; its outcome will be posted when it ends');
        card.broken = true;
      } finally {
        card.posting = false;
      }
      if (view.final && !card.broken) return this.retire(card);
      this.typing(card);
      this.schedule(card);
    })();
    card.chain = posting;
    await this.track(posting);
  }

  /**
   * Posts a command's answer through `surface`: as the run's live card when it is one; a
   * pipeline's "Started" answer is followed by its steps' cards. A failure to post is logged
   * (the sender has retried it).
   */
  async answer(chatId: string, msg: Message, surface: CardSurface, place: Place): Promise<void> {
    if (msg.card) return this.openCard(msg.card.runId, chatId, surface, place);
    try {
      await surface(msg);
    } catch (err) {
      this.log.error({ err, chatId }, 'could not post an answer to a chat');
      return;
    }
    if (msg.steps) await this.openPipeline(msg.steps.pipelineRunId, chatId, place);
  }

  /** Starts posting step cards of a pipeline run watched from `chatId` (after its "Started" answer went out). */
  async openPipeline(pipelineRunId: number, chatId: string, place: Place): Promise<void> {
    const w = this.pipelines.get(`${pipelineRunId}:${chatId}`) ?? { pipelineRunId, chatId };
    w.place = place;
    this.pipelines.set(`${pipelineRunId}:${chatId}`, w);
    await this.reconcile(w);
  }

  // ---------------------------------------------------------------------------------------------

  private later(fn: () => void | Promise<void>): void {
    if (this.stopped) return;
    void this.track(
      nextTick().then(() => (this.stopped ? undefined : fn())).catch((err: unknown) => this.log.error({ err }, 'chat delivery failed')),
    );
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p)).catch(() => {});
    return p;
  }

  private cardFor(runId: number, chatId: string): Card {
    const key = `${runId}:${chatId}`;
    let card = this.cards.get(key);
    if (!card) {
      card = { runId, chatId, posting: false, broken: false, chain: Promise.resolve(), done: false };
      this.cards.set(key, card);
      if (this.cards.size > MAX_TRACKED) {
        const [oldest] = this.cards.values();
        if (oldest) this.retire(oldest);
      }
    }
    return card;
  }

  /** Something happened to a run: its cards are redrawn (within their edit spacing). */
  private touch(runId: number, logLine?: string): void {
    for (const card of this.cards.values()) {
      if (card.runId !== runId) continue;
      if (logLine !== undefined) card.lastLine = logLine;
      this.typing(card);
      this.schedule(card);
    }
  }

  /** The card's message as it is now; null when the run or its bot is gone. */
  private async draw(card: Card): Promise<{ msg: Message; key: string; final: boolean } | null> {
    const facts = await this.facts(card);
    if (!facts) return null;
    const msg = runCard(facts);
    return { msg, key: JSON.stringify(msg), final: isFinalRunStatus(facts.run.status) };
  }

  private async facts(card: Card | null, run?: RunRow): Promise<CardFacts | null> {
    try {
      const r = run ?? (await this.engine.runner.get(card!.runId));
      const bot = await this.engine.bots.get(r.botId);
      const final = isFinalRunStatus(r.status);
      if (card && r.status === 'running') card.runningSince ??= this.clock.now();
      if (card && card.lastLine === undefined && !final) card.lastLine = (await logTail(this.engine, r.id, 1)).lines[0]?.text;
      let pipeline: CardFacts['pipeline'];
      if (r.pipelineRunId != null && r.pipelineStep != null) {
        try {
          const pr = await this.engine.pipelines.getRun(r.pipelineRunId);
          pipeline = { name: pr.pipelineName, step: r.pipelineStep + 1, total: pr.totalSteps };
        } catch {
          // the pipeline was deleted since
        }
      }
      const newResults = final ? await this.engine.db.select().from(results).where(and(eq(results.runId, r.id), eq(results.botId, r.botId))).orderBy(desc(results.id)) : [];
      const queuedAhead = r.status === 'queued' ? (await this.engine.runner.activeForBot(r.botId)).filter((x) => x.id < r.id).length : undefined;
      return {
        run: r,
        bot,
        live: card !== null,
        newResults,
        ...(card?.lastLine !== undefined && !final ? { lastLine: card.lastLine } : {}),
        ...(card && r.status === 'running' ? { elapsedMs: this.clock.now() - card.runningSince! } : {}),
        ...(queuedAhead !== undefined ? { queuedAhead } : {}),
        ...(pipeline ? { pipeline } : {}),
        ...(this.engine.config.publicUrl ? { publicUrl: this.engine.config.publicUrl } : {}),
      };
    } catch {
      return null; // the run or its bot was deleted
    }
  }

  /**
   * Redraws a card when it changed: a running card at most once per `minEdit` after it was posted
   * or last edited; the outcome at once when the card was not edited yet, else `minEdit` after the last edit.
   */
  private schedule(card: Card): void {
    if (card.done || card.posting || this.stopped) return;
    if (!card.posted && !card.broken) return; // not shown yet: openCard draws it when it is
    card.chain = card.chain.then(() => this.redraw(card));
    void this.track(card.chain);
  }

  private async redraw(card: Card): Promise<void> {
    if (card.done || this.stopped) return;
    const view = await this.draw(card);
    if (card.done || this.stopped) return;
    if (!view) return this.retire(card);
    if (card.broken) {
      if (view.final) {
        this.retire(card);
        await this.postOutcome(card.place ?? { chatId: card.chatId }, view.msg, card.runId);
      }
      return;
    }
    if (view.key === card.shown) return this.beat(card);
    const now = this.clock.now();
    const due = view.final
      ? card.lastEditAt === undefined ? now : card.lastEditAt + this.minEdit
      : Math.max(card.postedAt ?? now, card.lastEditAt ?? -Infinity) + this.minEdit;
    if (now < due) {
      card.editTimer ??= this.clock.setTimeout(() => {
        card.editTimer = undefined;
        this.schedule(card);
      }, due - now);
      return;
    }
    if (card.editTimer !== undefined) this.clock.clearTimeout(card.editTimer);
    card.editTimer = undefined;
    try {
      await card.posted!.edit(view.msg);
      card.shown = view.key;
      card.lastEditAt = this.clock.now();
    } catch (err) {
      this.log.warn({ err, runId: card.runId, chatId: card.chatId }, 'could not edit the card of a run; its outcome will be posted as a new message');
      card.broken = true;
      if (view.final) {
        this.retire(card);
        await this.postOutcome(card.place ?? { chatId: card.chatId }, view.msg, card.runId);
      }
      return;
    }
    if (view.final) this.retire(card);
    else this.beat(card);
  }

  /** Redraws a running card now and then, for its elapsed time. */
  private beat(card: Card): void {
    if (card.done || card.heartbeat !== undefined) return;
    card.heartbeat = this.clock.setTimeout(() => {
      card.heartbeat = undefined;
      this.schedule(card);
    }, this.heartbeatMs);
  }

  /** Keeps "typing…" up while the card's run is running (where the platform has it). */
  private typing(card: Card): void {
    const typing = this.sender.typing;
    if (!typing || card.done || card.typingTimer !== undefined || !card.place) return;
    // One look at the run at a time; a call meanwhile looks once more after it (the run may have started since).
    if (card.typingCheck) {
      card.typingCheck = 'again';
      return;
    }
    card.typingCheck = 'reading';
    const check = async () => {
      let status;
      try {
        status = (await this.engine.runner.get(card.runId)).status;
      } catch {
        status = null;
      }
      const again = card.typingCheck === 'again';
      card.typingCheck = undefined;
      if (status !== 'running') {
        if (again) this.typing(card);
        return;
      }
      if (card.done || this.stopped || card.typingTimer !== undefined || !card.place) return;
      const place = card.place;
      void this.track(typing.call(this.sender, place).catch((err: unknown) => this.log.debug({ err, chatId: card.chatId }, 'could not show typing')));
      card.typingTimer = this.clock.setTimeout(() => {
        card.typingTimer = undefined;
        this.typing(card);
      }, this.typingMs);
    };
    void this.track(check().catch((err: unknown) => this.log.debug({ err, chatId: card.chatId }, 'could not show typing')));
  }

  /** Forgets a card: its run ended and the card shows it (or the card could not be kept). */
  private retire(card: Card): void {
    card.done = true;
    for (const t of [card.editTimer, card.heartbeat, card.typingTimer]) if (t !== undefined) this.clock.clearTimeout(t);
    card.editTimer = card.heartbeat = card.typingTimer = undefined;
    const key = `${card.runId}:${card.chatId}`;
    if (this.cards.get(key) === card) this.cards.delete(key);
    this.claimedBy(card.runId, card.chatId);
  }

  /** Chats that had a card of a run keep their claim on it after the card is retired. */
  private readonly carded = new Map<number, Set<string>>();

  private claimedBy(runId: number, chatId: string): void {
    const set = this.carded.get(runId) ?? new Set();
    set.add(chatId);
    this.carded.set(runId, set);
    trim(this.carded);
  }

  /** `true` when `chatId` sees the run on a card of its own (a run card, or a step of a pipeline it watches). */
  private hasCard(run: RunRow, chatId: string): boolean {
    if (this.cards.has(`${run.id}:${chatId}`) || this.carded.get(run.id)?.has(chatId)) return true;
    return run.pipelineRunId != null && this.pipelines.has(`${run.pipelineRunId}:${chatId}`);
  }

  private async postOutcome(place: Place, msg: Message, runId: number): Promise<void> {
    try {
      await this.sender.post(place, msg);
    } catch (err) {
      this.log.error({ err, runId, chatId: place.chatId }, 'could not deliver a run outcome to a chat');
    }
  }

  // ------------------------------------------------------------------------------ pipelines

  private async onQueued(runId: number): Promise<void> {
    let run: RunRow;
    try {
      run = await this.engine.runner.get(runId);
    } catch {
      return;
    }
    if (run.pipelineRunId == null) return;
    for (const w of [...this.pipelines.values()]) if (w.pipelineRunId === run.pipelineRunId) await this.reconcile(w);
  }

  /** Opens a card for each started step of a watched pipeline run that has none in its chat yet. */
  private async reconcile(w: PipelineWatch): Promise<void> {
    if (!w.place || this.stopped) return;
    let view;
    try {
      view = await this.engine.pipelines.getRun(w.pipelineRunId);
    } catch {
      this.pipelines.delete(`${w.pipelineRunId}:${w.chatId}`);
      return;
    }
    if (!w.place || this.stopped) return;
    const place = { chatId: w.place.chatId, ...(w.place.threadId ? { threadId: w.place.threadId } : {}) };
    for (const step of view.steps) {
      if (step.runId == null || this.cards.has(`${step.runId}:${w.chatId}`) || this.carded.get(step.runId)?.has(w.chatId)) continue;
      void this.openCard(step.runId, w.chatId, (msg) => this.sender.post(place, msg), place);
    }
  }

  // ------------------------------------------------------------------------------ subscribers

  private async serveSubscribers(runId: number): Promise<void> {
    if (this.subscribers === false || this.dispatched.has(runId)) return;
    let run: RunRow;
    try {
      run = await this.engine.runner.get(runId);
    } catch {
      return;
    }
    if (!isFinalRunStatus(run.status) || this.dispatched.has(runId)) return;
    this.dispatched.add(runId);
    if (this.dispatched.size > MAX_TRACKED) this.dispatched.delete(this.dispatched.values().next().value!);
    const subs = await this.engine.subscriptions.listForBot(run.botId, this.sender.platform);
    if (subs.length === 0) return;
    const facts = await this.facts(null, run);
    if (!facts) return;
    const msg = runCard(facts);
    const starter = await this.starterOf(run);
    const now = Date.now();
    await Promise.all(
      subs.map(async (sub) => {
        if (this.hasCard(run, sub.chatId) || this.stoppedIn.get(run.id)?.has(sub.chatId)) return;
        if (!subscriptionWants(sub, run, facts.newResults.length, now)) return;
        // The person who started the run elsewhere sees it there; their own chat with the bot is not sent a copy.
        if (starter && (await this.sender.isPrivateChatOf(sub.chatId, starter))) return;
        await this.postOutcome({ chatId: sub.chatId, ...(sub.threadId ? { threadId: sub.threadId } : {}) }, msg, run.id);
      }),
    );
  }

  /**
   * Posts a run's draft with its Approve / Reject buttons to the chats that see the run: the chat
   * of its card (or of its pipeline run), and the bot's subscribers that take more than failures
   * and are not muted; each once.
   */
  private async serveDraft(runId: number): Promise<void> {
    const approval = await this.engine.approvals.byRun(runId);
    if (!approval || approval.status !== 'pending') return;
    let run: RunRow;
    let msg: Message;
    try {
      run = await this.engine.runner.get(runId);
      msg = approvalDraftMessage(await this.engine.approvals.get(approval.id));
    } catch {
      return;
    }
    const places = new Map<string, Place>();
    for (const card of this.cards.values()) if (card.runId === runId) places.set(card.chatId, card.place ?? { chatId: card.chatId });
    for (const chatId of this.carded.get(runId) ?? []) if (!places.has(chatId)) places.set(chatId, { chatId });
    if (run.pipelineRunId != null) for (const w of this.pipelines.values()) if (w.pipelineRunId === run.pipelineRunId && !places.has(w.chatId)) places.set(w.chatId, w.place ?? { chatId: w.chatId });
    const now = Date.now();
    for (const sub of this.subscribers === false ? [] : await this.engine.subscriptions.listForBot(run.botId, this.sender.platform)) {
      if (places.has(sub.chatId) || sub.policy === 'failures' || (sub.mutedUntil != null && sub.mutedUntil > now)) continue;
      places.set(sub.chatId, { chatId: sub.chatId, ...(sub.threadId ? { threadId: sub.threadId } : {}) });
    }
    await Promise.all([...places.values()].map((place) => this.postOutcome({ chatId: place.chatId, ...(place.threadId ? { threadId: place.threadId } : {}) }, msg, runId)));
  }

  /** The user of this platform who started the run from a chat (directly, or its pipeline), if any. */
  private async starterOf(run: RunRow): Promise<string | null> {
    let trigger = run.trigger;
    if (run.pipelineRunId != null) {
      try {
        trigger = (await this.engine.pipelines.getRun(run.pipelineRunId)).trigger;
      } catch {
        // deleted since
      }
    }
    const m = /^(telegram|discord):(.+)$/.exec(trigger);
    return m && m[1] === this.sender.platform ? m[2]! : null;
  }
}

/** Drops the oldest entries of a map past {@link MAX_TRACKED}. */
function trim(map: Map<unknown, unknown>): void {
  while (map.size > MAX_TRACKED) map.delete(map.keys().next().value);
}
