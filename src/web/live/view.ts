import { and, asc, eq, inArray, or } from 'drizzle-orm';
import { FIRST_ADMIN_ID, type Caller } from '../../engine/access.ts';
import { bots, runs, triggers } from '../../engine/db/schema.ts';
import type { Engine } from '../../engine/engine.ts';
import { audienceScope, type Audience, type StreamHub } from './hub.ts';
import type { PageParts } from './parts.ts';

/** The dashboards' scope in the {@link StreamHub}. */
export const DASHBOARD_SCOPE = 'dash';

/**
 * The dashboards' live stream for a page rendered now, from the events after this moment: every
 * page's header joins it (its bell hears `approvals` on it), so no page polls. With `caller`, the
 * parts of their audience are rendered for it until it connects (see `StreamHub.noteInterest`).
 */
export function dashboardStream(hub: StreamHub, caller?: Caller): string {
  hub.noteInterest(DASHBOARD_SCOPE, caller);
  return `/stream?after=${hub.lastEventId}`;
}
/** The Tasks page's scope in the {@link StreamHub}. */
export const TASKS_SCOPE = 'tasks';
/** A bot page's scope in the {@link StreamHub}. */
export const botScope = (botId: number) => `bot:${botId}`;
/**
 * Queued bots whose card is re-rendered when the queue moves (a run starts or ends): the first
 * this many in line. Further back a card keeps the position it was last rendered with until its
 * run moves into this window (so a full queue of 1,000 costs 100 renders per start, not 1,000).
 */
export const QUEUE_POSITIONS_LIVE = 100;

/**
 * What the open pages are told, as SSE events of the {@link StreamHub} (names are what the
 * templates' `sse-swap` attributes listen for):
 *
 * - dashboards (`dash`): `card-<botId>` (a card), `activity` (the feed), `pipelines` (the list
 *   with step progress), `grid` (a bot was created or deleted: the grid re-fetches its page),
 *   `connections` (a connection or a bot changed: the connections list re-fetches itself);
 * - the Tasks page (`tasks`): `tasks` (a task changed: the list re-fetches itself);
 * - every page (its audience scope): `approvals` and `failures` (a draft started or stopped
 *   waiting, a run failed: the header's bell or failures count re-fetches itself);
 * - a bot's page (`bot:<id>`): `head` (also when the bot is deleted: the page says so), `stats`, `runs`, `results` and `results-new` (the two
 *   filters of the results panel), `run` (the log panel of the run it now follows) and
 *   `run-<runId>` (that run's state line).
 *
 * Engine events mark parts dirty; once per turn of the event loop each dirty part is rendered
 * once and published once, whatever the number of clients. Flushes take turns: one reads and
 * renders what was dirty when it began, marks made meanwhile wait for the next, so parts are
 * published in the order their changes were heard. Ownership (src/engine/access.ts): a
 * card goes to the audience scopes of its bot's owner (`dash@all`, `dash@u<owner>`); the activity
 * feed and the pipelines list differ per reader, so they are rendered once per audience reading
 * (all, and each operator with a dashboard open); the bell's `approvals` goes to the audiences of
 * the drafts' owners. A bot page's stream is only opened by those who may read the bot. A part nobody may be reading (no
 * client of its scope, no page of it rendered in the last minute) is not rendered at all.
 */
export class LiveView {
  private readonly bots = new Set<number>();
  private readonly runLists = new Set<number>();
  private readonly resultLists = new Set<number>();
  /** Run → why its bot's page may switch its log panel to it. */
  private readonly panels = new Map<number, 'queued' | 'started'>();
  private readonly runStates = new Set<number>();
  private activity = false;
  private pipelines = false;
  private grid = false;
  /** The dashboard's list of connections re-fetches itself (a connection or a bot's name changed). */
  private connections = false;
  /** Bots deleted since the last flush: their open pages are told. */
  private readonly deleted = new Set<number>();
  private tasks = false;
  /** A run of a bot of these owners failed: their readers' failures counts count again. */
  private readonly failureOwners = new Set<number>();
  /** A draft started or stopped waiting, on bots of these owners: their readers' bells count again. */
  private readonly approvalOwners = new Set<number>();
  private queueMoved = false;
  private scheduled = false;
  private stopped = false;
  /** The flush under way (flushes take turns, see {@link mark}). */
  private flushing: Promise<void> = Promise.resolve();
  private offs: (() => void)[] = [];
  /** Totals since start, for benchmarks and tests: flushes, parts rendered, time spent (ms). */
  readonly stats = { flushes: 0, renders: 0, flushMs: 0, lastFlushMs: 0 };

  constructor(
    private readonly engine: Engine,
    private readonly hub: StreamHub,
    private readonly parts: PageParts,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  /** Subscribes to the engine's events. */
  start(): void {
    const bus = this.engine.bus;
    this.offs = [
      bus.on('run.queued', async (e) => {
        this.runChanged(e.botId, e.runId, e.run.pipelineRunId);
        this.panels.set(e.runId, 'queued');
        await this.markTargetsOf(e.botId);
      }, { remote: true }),
      bus.on('run.started', (e) => {
        this.runChanged(e.botId, e.runId, e.run.pipelineRunId);
        this.panels.set(e.runId, 'started');
        this.queueMoved = true;
      }, { remote: true }),
      bus.on('run.retrying', (e) => this.runChanged(e.botId, e.runId, e.run.pipelineRunId), { remote: true }),
      bus.on('run.finished', async (e) => {
        this.runChanged(e.botId, e.runId, e.run.pipelineRunId);
        this.resultLists.add(e.botId);
        this.queueMoved = true;
        if (e.status === 'failed') {
          const owner = await this.ownerOf(e.botId);
          this.mark(() => this.failureOwners.add(owner));
        }
        await this.markTargetsOf(e.botId);
      }, { remote: true }),
      bus.on('result.created', (e) => {
        this.resultLists.add(e.botId);
        this.mark(() => this.bots.add(e.botId));
      }, { remote: true }),
      bus.on('bot.changed', async (e) => {
        this.mark(() => {
          if (e.change === 'updated') this.bots.add(e.botId);
          else this.grid = true;
          // Steps and connections show their bots' names and emoji; a deleted bot's connections went with it.
          this.pipelines = true;
          if (e.change === 'deleted') {
            this.deleted.add(e.botId);
            this.connections = true;
          }
        });
        if (e.change === 'updated' && (await this.isConnected(e.botId))) this.mark(() => (this.connections = true));
      }, { remote: true }),
      bus.on('trigger.changed', (e) =>
        this.mark(() => {
          this.connections = true;
          // The target's "waiting on <source>" state starts or stops with the link.
          this.bots.add(e.sourceBotId);
          if (e.targetBotId !== null) this.bots.add(e.targetBotId);
        }),
        { remote: true },
      ),
      bus.on('pipeline.changed', () => this.mark(() => (this.pipelines = true)), { remote: true }),
      bus.on('task.changed', () => this.mark(() => (this.tasks = true)), { remote: true }),
      bus.on('run.awaiting_approval', async (e) => {
        this.runChanged(e.botId, e.runId, e.run.pipelineRunId);
        const owner = await this.ownerOf(e.botId);
        this.mark(() => this.approvalOwners.add(owner));
      }, { remote: true }),
      bus.on('approval.decided', async (e) => {
        const owner = await this.ownerOf(e.botId);
        this.mark(() => this.approvalOwners.add(owner));
      }, { remote: true }),
      bus.on('activity', (e) =>
        this.mark(() => {
          this.activity = true;
          // A notice (a skipped schedule, a fired connection) may change what its bot's card says.
          if (e.botId !== null) this.bots.add(e.botId);
        }), { remote: true }),
    ];
  }

  /** Unsubscribes from the engine's events; resolves once the flush under way (if any) has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const off of this.offs) off();
    this.offs = [];
    await this.flushing;
  }

  /** A run changed: its bot's card, page parts and state line; a pipeline step's progress too. */
  private runChanged(botId: number, runId: number, pipelineRunId: number | null): void {
    this.mark(() => {
      this.bots.add(botId);
      this.runLists.add(botId);
      this.runStates.add(runId);
      if (pipelineRunId !== null) this.pipelines = true;
    });
  }

  /** Bots an enabled connection starts after `botId`: their "waiting on" state follows its runs. */
  private async markTargetsOf(botId: number): Promise<void> {
    const rows = await this.engine.db
      .select({ target: triggers.targetBotId })
      .from(triggers)
      .where(and(eq(triggers.sourceBotId, botId), eq(triggers.enabled, true)));
    this.mark(() => {
      for (const r of rows) if (r.target !== null) this.bots.add(r.target);
    });
  }

  /** The owner of a bot (the first admin's id, 1, when it is gone: admins and viewers still hear of it). */
  private async ownerOf(botId: number): Promise<number> {
    const [row] = await this.engine.db.select({ ownerId: bots.ownerId }).from(bots).where(eq(bots.id, botId));
    return row?.ownerId ?? FIRST_ADMIN_ID;
  }

  /** `true` when a connection starts at or leads to `botId`. */
  private async isConnected(botId: number): Promise<boolean> {
    const rows = await this.engine.db
      .select({ id: triggers.id })
      .from(triggers)
      .where(or(eq(triggers.sourceBotId, botId), eq(triggers.targetBotId, botId)))
      .limit(1);
    return rows.length > 0;
  }

  private mark(change: () => void): void {
    change();
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    // After the bus's current batch: everything it marked is rendered once. A flush still under
    // way finishes first; this one then takes what was marked until it begins.
    setImmediate(() => {
      this.flushing = this.flushing
        .then(() => {
          this.scheduled = false;
          if (!this.stopped) return this.flush(this.takeDirty());
        })
        .catch((err: unknown) => this.onError(err));
    });
  }

  /** What is dirty now, leaving nothing dirty (marks from here on go to the next flush). */
  private takeDirty() {
    const dirty = {
      bots: new Set(this.bots),
      runLists: new Set(this.runLists),
      resultLists: new Set(this.resultLists),
      panels: new Map(this.panels),
      runStates: new Set(this.runStates),
      approvalOwners: new Set(this.approvalOwners),
      failureOwners: new Set(this.failureOwners),
      deleted: new Set(this.deleted),
      activity: this.activity,
      pipelines: this.pipelines,
      grid: this.grid,
      connections: this.connections,
      tasks: this.tasks,
      queueMoved: this.queueMoved,
    };
    this.bots.clear();
    this.runLists.clear();
    this.resultLists.clear();
    this.panels.clear();
    this.runStates.clear();
    this.approvalOwners.clear();
    this.failureOwners.clear();
    this.deleted.clear();
    this.activity = this.pipelines = this.grid = this.connections = this.tasks = this.queueMoved = false;
    return dirty;
  }

  private async flush(d: ReturnType<LiveView['takeDirty']>): Promise<void> {
    const t0 = performance.now();
    const { engine, hub, parts } = this;
    const dash = hub.wants(DASHBOARD_SCOPE);
    let renders = 0;
    const publish = async (scopes: string[], event: string, html: () => string | Promise<string>) => {
      renders++;
      hub.publish(scopes, event, (await html()).trim());
    };

    if (d.queueMoved) {
      const waiting = await engine.db
        .select({ id: runs.id, botId: runs.botId })
        .from(runs)
        .where(eq(runs.status, 'queued'))
        .orderBy(asc(runs.availableAt), asc(runs.id)) // the queue's order (runner/queue.ts)
        .limit(QUEUE_POSITIONS_LIVE);
      for (const r of waiting) {
        d.bots.add(r.botId);
        d.runStates.add(r.id);
      }
    }

    // Runs first: a page switches its log panel before it hears of the run's state.
    const runIds = [...new Set([...d.panels.keys(), ...d.runStates])];
    const runRows = runIds.length ? await engine.db.select().from(runs).where(inArray(runs.id, runIds)) : [];
    const byId = new Map(runRows.map((r) => [r.id, r]));
    for (const [runId, why] of d.panels) {
      const run = byId.get(runId);
      if (!run || !hub.wants(botScope(run.botId))) continue;
      // A queued run takes the panel only when it is the one the page follows (nothing running).
      if (why === 'queued' && (await parts.currentRun(run.botId))?.id !== run.id) continue;
      // Its bot may have been deleted since the run row was read: its page hears that instead.
      const [bot] = await engine.bots.rows([run.botId]);
      if (!bot) continue;
      await publish([botScope(run.botId)], 'run', () => parts.runPanel(bot, run, true));
    }
    for (const runId of d.runStates) {
      const run = byId.get(runId);
      if (run && hub.wants(botScope(run.botId))) await publish([botScope(run.botId)], `run-${run.id}`, () => parts.runState(run));
    }

    const ids = [...d.bots].filter((id) => dash || hub.wants(botScope(id)));
    for (const bot of await engine.bots.summarizeIds(ids)) {
      if (dash) await publish(ownerScopes(DASHBOARD_SCOPE, bot.ownerId), `card-${bot.id}`, () => parts.card(bot));
      if (hub.wants(botScope(bot.id))) {
        await publish([botScope(bot.id)], 'head', () => parts.head(bot));
        await publish([botScope(bot.id)], 'stats', () => parts.stats(bot));
      }
    }
    // Bots whose page may be open (a deleted bot has none).
    const pageBots = (set: Set<number>) => engine.bots.rows([...set].filter((id) => hub.wants(botScope(id))));
    for (const bot of await pageBots(d.runLists)) await publish([botScope(bot.id)], 'runs', () => parts.runs(bot));
    for (const bot of await pageBots(d.resultLists)) {
      await publish([botScope(bot.id)], 'results', () => parts.results(bot, false));
      await publish([botScope(bot.id)], 'results-new', () => parts.results(bot, true));
    }

    // Per audience: the feed and the list an admin or viewer reads, and each operator's own.
    const audiences = dash && (d.activity || d.pipelines) ? hub.audiences(DASHBOARD_SCOPE) : [];
    const owner = (a: Audience) => (a === 'all' ? undefined : a);
    for (const a of audiences) {
      if (d.activity) await publish([audienceScope(DASHBOARD_SCOPE, a)], 'activity', () => parts.activity(owner(a)));
      if (d.pipelines) await publish([audienceScope(DASHBOARD_SCOPE, a)], 'pipelines', () => parts.pipelines(owner(a)));
    }
    if (dash && d.grid) await publish([DASHBOARD_SCOPE], 'grid', () => '');
    if (dash && d.connections) await publish([DASHBOARD_SCOPE], 'connections', () => '');
    for (const id of d.deleted) if (hub.wants(botScope(id))) await publish([botScope(id)], 'head', () => parts.deletedHead());
    if (d.tasks && hub.wants(TASKS_SCOPE)) await publish([TASKS_SCOPE], 'tasks', () => '');
    // The header's bell is on every page: it re-fetches its count (public/orchestrate.js); only
    // the readers of the drafts' bots are told (every page's audience scope, '@all' and '@u<id>').
    if (d.approvalOwners.size > 0) await publish([...new Set([...d.approvalOwners].flatMap((o) => ownerScopes('', o)))], 'approvals', () => '');
    // The header's failures count, likewise.
    if (d.failureOwners.size > 0) await publish([...new Set([...d.failureOwners].flatMap((o) => ownerScopes('', o)))], 'failures', () => '');

    const ms = performance.now() - t0;
    this.stats.flushes++;
    this.stats.renders += renders;
    this.stats.flushMs += ms;
    this.stats.lastFlushMs = ms;
  }
}

/** The audience scopes of `scope` that may read a part about a bot of `ownerId`: admins and viewers, and that operator. */
function ownerScopes(scope: string, ownerId: number): string[] {
  return [audienceScope(scope, 'all'), audienceScope(scope, ownerId)];
}
