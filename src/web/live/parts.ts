import type { BotSummary } from '../../engine/bots.ts';
import { isBotStateKind, type BotStateKind } from '../../engine/bot-status.ts';
import type { BotRow, RunRow } from '../../engine/db/schema.ts';
import type { Engine } from '../../engine/engine.ts';
import { isFinalRunStatus, successRate } from '../../engine/run-status.ts';
import { nextRunAt } from '../../engine/scheduler.ts';
import type { Renderer } from '../render.ts';

/** Most log lines a finished run's panel shows inline (the API streams all of them). */
export const STATIC_LOG_LINES = 2000;
/** Activity entries on the dashboard. */
export const ACTIVITY_ENTRIES = 20;
/** Runs in a bot page's runs list, results in its results panel. */
export const RUNS_LISTED = 20;
export const RESULTS_LISTED = 30;

/** The dashboard grid's search, state filter and page, as the query string carries them. */
export interface GridQuery {
  q: string;
  status: BotStateKind | null;
  page: number;
}

/** Reads a {@link GridQuery} from a query string; unknown or bad values fall back to their defaults. */
export function gridQuery(raw: Record<string, unknown> | undefined): GridQuery {
  const q = typeof raw?.q === 'string' ? raw.q.trim().slice(0, 64) : '';
  const status = isBotStateKind(raw?.status) ? raw.status : null;
  const page = Number.parseInt(String(raw?.page ?? '1'), 10);
  return { q, status, page: Number.isSafeInteger(page) && page > 0 ? page : 1 };
}

/** `q=…&status=…&page=…` with only the values that differ from the defaults ('' when none). */
export function gridQueryString(query: GridQuery, page = query.page): string {
  const p = new URLSearchParams();
  if (query.q) p.set('q', query.q);
  if (query.status) p.set('status', query.status);
  if (page > 1) p.set('page', String(page));
  return p.toString();
}

/** The pipelines list (with `ownerId`, that user's) with each one's next scheduled start and last run (dashboard panel). */
export async function pipelineListData(engine: Engine, ownerId?: number) {
  const rows = [];
  for (const p of await engine.pipelines.list(ownerId)) {
    rows.push({ pipeline: p, nextRunAt: nextRunAt({ schedule: p.schedule }), last: (await engine.pipelines.listRuns(p.id, 1))[0] ?? null });
  }
  return rows;
}

/**
 * Every part of the dashboard and the bot page that changes while it is open, rendered from the
 * engine: the pages include the same templates, and the live stream sends them again when they
 * change (see live/view.ts). Each method reads what its part shows and renders it once.
 */
export class PageParts {
  constructor(
    private readonly engine: Engine,
    readonly render: Renderer,
  ) {}

  /** The grid of bot cards for one page of a search, with its pager; with `ownerId`, of that user's bots. */
  async grid(query: GridQuery, ownerId?: number): Promise<string> {
    const page = await this.engine.bots.listPage({ q: query.q, status: query.status, page: query.page, ownerId });
    return this.render('partials/bot-grid', { page, query: { ...query, page: page.page }, qs: gridQueryString });
  }

  /** One bot's card (status, last run, result count, next run). */
  card(bot: BotSummary): string {
    return this.render('partials/bot-card', { bot });
  }

  /** The activity feed; with `ownerId`, about that user's bots only. */
  async activity(ownerId?: number): Promise<string> {
    return this.render('partials/activity', { activity: await this.engine.activity.list(ACTIVITY_ENTRIES, ownerId) });
  }

  /** The pipelines list (steps and their progress), without the panel's form; with `ownerId`, that user's. */
  async pipelines(ownerId?: number): Promise<string> {
    return this.render('partials/pipelines', { pipelines: await pipelineListData(this.engine, ownerId), values: {}, listOnly: true });
  }

  /** A bot page's title: emoji, name, state, description, last run. */
  head(bot: BotSummary): string {
    return this.render('partials/bot-head', { bot });
  }

  /** A deleted bot's page title: it says the bot is gone and links to the dashboard. */
  deletedHead(): string {
    return this.render('partials/bot-deleted', {});
  }

  /** A bot page's tiles: runs, results, schedule (next at), success rate. */
  async stats(bot: BotSummary): Promise<string> {
    return this.render('partials/bot-stats', { bot, successRate: successRate(await this.engine.runner.statusCounts(bot.id)) });
  }

  async runs(bot: BotRow): Promise<string> {
    return this.render('partials/runs', { bot, runs: await this.engine.runner.listForBot(bot.id, RUNS_LISTED) });
  }

  async results(bot: BotRow, onlyNew: boolean): Promise<string> {
    return this.render('partials/results', { bot, onlyNew, results: await this.engine.results.list(bot.id, { limit: RESULTS_LISTED, onlyNew }) });
  }

  /**
   * The run a bot page shows and follows: its newest running run, else its next queued run, else
   * its newest run (undefined when it has none).
   */
  async currentRun(botId: number): Promise<RunRow | undefined> {
    const active = await this.engine.runner.activeForBot(botId);
    const running = active.filter((r) => r.status === 'running').at(-1);
    return running ?? active[0] ?? (await this.engine.runner.listForBot(botId, 1))[0];
  }

  /**
   * The log panel of `run`: live (its log stream) while it is active, its stored lines once ended.
   * A `follow` panel is replaced when another run of the bot starts (the page follows the bot).
   */
  async runPanel(bot: BotRow, run: RunRow | undefined, follow: boolean): Promise<string> {
    const ended = run ? isFinalRunStatus(run.status) : false;
    return this.render('partials/run-panel', {
      bot,
      current: run,
      follow,
      state: run ? await this.runStateData(run) : null,
      currentLogs: run && ended ? await this.engine.runner.logs(run.id, 0, STATIC_LOG_LINES) : [],
    });
  }

  /** A run's state line: status (queue position, attempt), duration and error once ended, Stop while active. */
  async runState(run: RunRow): Promise<string> {
    return this.render('partials/run-state', await this.runStateData(run));
  }

  private async runStateData(run: RunRow) {
    return {
      run,
      position: run.status === 'queued' ? await this.engine.runner.queuePosition(run.id) : null,
      attempt: run.attempt,
      attempts: run.maxAttempts,
    };
  }
}
