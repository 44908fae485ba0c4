import { and, asc, eq, inArray, or } from 'drizzle-orm';
import { bots, runs, triggers } from '../../engine/db/schema.ts';
import type { Engine } from '../../engine/engine.ts';
import type { StreamHub } from './hub.ts';
import type { PageParts } from './parts.ts';

/** The dashboards' scope in the {@link StreamHub}. */
export const DASHBOARD_SCOPE = 'dash';

/**
 * The dashboards' live stream for a page rendered now, from the events after this moment: every
 * page's header joins it (its bell hears `approvals` on it), so no page polls.
 */
export function dashboardStream(hub: StreamHub): string {
  hub.noteInterest(DASHBOARD_SCOPE);
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
 * - every page (all scopes): `approvals` (a draft started or stopped waiting: the header's bell
 *   re-fetches its count);
 * - a bot's page (`bot:<id>`): `head` (also when the bot is deleted: the page says so), `stats`, `runs`, `results` and `results-new` (the two
 *   filters of the results panel), `run` (the log panel of the run it now follows) and
 *   `run-<runId>` (that run's state line).
 *
 * Engine events mark parts dirty; once per turn of the event loop each dirty part is rendered
 * once and published once, whatever the number of clients. A part nobody may be reading (no
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
  /** A draft started or stopped waiting: every open page's bell counts again. */
  private approvals = false;
  private queueMoved = false;
  private scheduled = false;
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
      bus.on('run.queued', (e) => {
        this.runChanged(e.botId, e.runId, e.run.pipelineRunId);
        this.panels.set(e.runId, 'queued');
        this.markTargetsOf(e.botId);
      }),
      bus.on('run.started', (e) => {
        this.runChanged(e.botId, e.runId, e.run.pipelineRunId);
        this.panels.set(e.runId, 'started');
        this.queueMoved = true;
      }),
      bus.on('run.retrying', (e) => this.runChanged(e.botId, e.runId, e.run.pipelineRunId)),
      bus.on('run.finished', (e) => {
        this.runChanged(e.botId, e.runId, e.run.pipelineRunId);
        this.resultLists.add(e.botId);
        this.queueMoved = true;
        this.markTargetsOf(e.botId);
      }),
      bus.on('result.created', (e) => {
        this.resultLists.add(e.botId);
        this.mark(() => this.bots.add(e.botId));
      }),
      bus.on('bot.changed', (e) =>
        this.mark(() => {
          if (e.change === 'updated') this.bots.add(e.botId);
          else this.grid = true;
          // Steps and connections show their bots' names and emoji; a deleted bot's connections went with it.
          this.pipelines = true;
          if (e.change === 'deleted') {
            this.deleted.add(e.botId);
            this.connections = true;
          } else if (e.change === 'updated' && this.isConnected(e.botId)) this.connections = true;
        }),
      ),
      bus.on('trigger.changed', (e) =>
        this.mark(() => {
          this.connections = true;
          // The target's "waiting on <source>" state starts or stops with the link.
          this.bots.add(e.sourceBotId);
          if (e.targetBotId !== null) this.bots.add(e.targetBotId);
        }),
      ),
      bus.on('pipeline.changed', () => this.mark(() => (this.pipelines = true))),
      bus.on('task.changed', () => this.mark(() => (this.tasks = true))),
      bus.on('run.awaiting_approval', (e) => {
        this.runChanged(e.botId, e.runId, e.run.pipelineRunId);
        this.mark(() => (this.approvals = true));
      }),
      bus.on('approval.decided', () => this.mark(() => (this.approvals = true))),
      bus.on('activity', (e) =>
        this.mark(() => {
          this.activity = true;
          // A notice (a skipped schedule, a fired connection) may change what its bot's card says.
          if (e.botId !== null) this.bots.add(e.botId);
        }),
      ),
    ];
  }

  stop(): void {
    for (const off of this.offs) off();
    this.offs = [];
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
  private markTargetsOf(botId: number): void {
    this.mark(() => {
      const rows = this.engine.db
        .select({ target: triggers.targetBotId })
        .from(triggers)
        .where(and(eq(triggers.sourceBotId, botId), eq(triggers.enabled, true)))
        .all();
      for (const r of rows) if (r.target !== null) this.bots.add(r.target);
    });
  }

  /** `true` when a connection starts at or leads to `botId`. */
  private isConnected(botId: number): boolean {
    return (
      this.engine.db
        .select({ id: triggers.id })
        .from(triggers)
        .where(or(eq(triggers.sourceBotId, botId), eq(triggers.targetBotId, botId)))
        .limit(1)
        .all().length > 0
    );
  }

  private mark(change: () => void): void {
    change();
    if (this.scheduled) return;
    this.scheduled = true;
    // After the bus's current batch: everything it marked is rendered once.
    setImmediate(() => {
      this.scheduled = false;
      try {
        this.flush();
      } catch (err) {
        this.onError(err);
      }
    });
  }

  private flush(): void {
    const t0 = performance.now();
    const { engine, hub, parts } = this;
    const dash = hub.wants(DASHBOARD_SCOPE);
    let renders = 0;
    const publish = (scopes: string[], event: string, html: () => string) => {
      renders++;
      hub.publish(scopes, event, html().trim());
    };

    if (this.queueMoved) {
      this.queueMoved = false;
      const waiting = engine.db
        .select({ id: runs.id, botId: runs.botId })
        .from(runs)
        .where(eq(runs.status, 'queued'))
        .orderBy(asc(runs.availableAt), asc(runs.id)) // the queue's order (runner/queue.ts)
        .limit(QUEUE_POSITIONS_LIVE)
        .all();
      for (const r of waiting) {
        this.bots.add(r.botId);
        this.runStates.add(r.id);
      }
    }

    // Runs first: a page switches its log panel before it hears of the run's state.
    const runIds = [...new Set([...this.panels.keys(), ...this.runStates])];
    const runRows = runIds.length ? engine.db.select().from(runs).where(inArray(runs.id, runIds)).all() : [];
    const byId = new Map(runRows.map((r) => [r.id, r]));
    for (const [runId, why] of this.panels) {
      const run = byId.get(runId);
      if (!run || !hub.wants(botScope(run.botId))) continue;
      // A queued run takes the panel only when it is the one the page follows (nothing running).
      if (why === 'queued' && parts.currentRun(run.botId)?.id !== run.id) continue;
      const bot = engine.bots.get(run.botId);
      publish([botScope(run.botId)], 'run', () => parts.runPanel(bot, run, true));
    }
    for (const runId of this.runStates) {
      const run = byId.get(runId);
      if (run && hub.wants(botScope(run.botId))) publish([botScope(run.botId)], `run-${run.id}`, () => parts.runState(run));
    }

    const ids = [...this.bots].filter((id) => dash || hub.wants(botScope(id)));
    for (const bot of engine.bots.summarizeIds(ids)) {
      if (dash) publish([DASHBOARD_SCOPE], `card-${bot.id}`, () => parts.card(bot));
      if (hub.wants(botScope(bot.id))) {
        publish([botScope(bot.id)], 'head', () => parts.head(bot));
        publish([botScope(bot.id)], 'stats', () => parts.stats(bot));
      }
    }
    // Bots whose page may be open (a deleted bot has none).
    const pageBots = (set: Set<number>) => engine.bots.rows([...set].filter((id) => hub.wants(botScope(id))));
    for (const bot of pageBots(this.runLists)) publish([botScope(bot.id)], 'runs', () => parts.runs(bot));
    for (const bot of pageBots(this.resultLists)) {
      publish([botScope(bot.id)], 'results', () => parts.results(bot, false));
      publish([botScope(bot.id)], 'results-new', () => parts.results(bot, true));
    }

    if (dash && this.activity) publish([DASHBOARD_SCOPE], 'activity', () => parts.activity());
    if (dash && this.pipelines) publish([DASHBOARD_SCOPE], 'pipelines', () => parts.pipelines());
    if (dash && this.grid) publish([DASHBOARD_SCOPE], 'grid', () => '');
    if (dash && this.connections) publish([DASHBOARD_SCOPE], 'connections', () => '');
    for (const id of this.deleted) if (hub.wants(botScope(id))) publish([botScope(id)], 'head', () => parts.deletedHead());
    if (this.tasks && hub.wants(TASKS_SCOPE)) publish([TASKS_SCOPE], 'tasks', () => '');
    // The header's bell is on every page: it re-fetches its count (public/orchestrate.js).
    if (this.approvals) publish([DASHBOARD_SCOPE, TASKS_SCOPE, ...engine.db.select({ id: bots.id }).from(bots).all().map((b) => botScope(b.id))], 'approvals', () => '');

    this.bots.clear();
    this.runLists.clear();
    this.resultLists.clear();
    this.panels.clear();
    this.runStates.clear();
    this.deleted.clear();
    this.activity = this.pipelines = this.grid = this.connections = this.tasks = this.approvals = false;
    const ms = performance.now() - t0;
    this.stats.flushes++;
    this.stats.renders += renders;
    this.stats.flushMs += ms;
    this.stats.lastFlushMs = ms;
  }
}
