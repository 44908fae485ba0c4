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

/** The pipelines list with each one's next scheduled start and last run (dashboard panel). */
export function pipelineListData(engine: Engine) {
  return engine.pipelines.list().map((p) => ({
    pipeline: p,
    nextRunAt: nextRunAt({ schedule: p.schedule }),
    last: engine.pipelines.listRuns(p.id, 1)[0] ?? null,
  }));
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

  /** The grid of bot cards for one page of a search, with its pager. */
  grid(query: GridQuery): string {
    const page = this.engine.bots.listPage({ q: query.q, status: query.status, page: query.page });
    return this.render('partials/bot-grid', { page, query: { ...query, page: page.page }, qs: gridQueryString });
  }

  /** One bot's card (status, last run, result count, next run). */
  card(bot: BotSummary): string {
    return this.render('partials/bot-card', { bot });
  }

  activity(): string {
    return this.render('partials/activity', { activity: this.engine.activity.list(ACTIVITY_ENTRIES) });
  }

  /** The pipelines list (steps and their progress), without the panel's form. */
  pipelines(): string {
    return this.render('partials/pipelines', { pipelines: pipelineListData(this.engine), values: {}, listOnly: true });
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
  stats(bot: BotSummary): string {
    return this.render('partials/bot-stats', { bot, successRate: successRate(this.engine.runner.statusCounts(bot.id)) });
  }

  runs(bot: BotRow): string {
    return this.render('partials/runs', { bot, runs: this.engine.runner.listForBot(bot.id, RUNS_LISTED) });
  }

  results(bot: BotRow, onlyNew: boolean): string {
    return this.render('partials/results', { bot, onlyNew, results: this.engine.results.list(bot.id, { limit: RESULTS_LISTED, onlyNew }) });
  }

  /**
   * The run a bot page shows and follows: its newest running run, else its next queued run, else
   * its newest run (undefined when it has none).
   */
  currentRun(botId: number): RunRow | undefined {
    const active = this.engine.runner.activeForBot(botId);
    const running = active.filter((r) => r.status === 'running').at(-1);
    return running ?? active[0] ?? this.engine.runner.listForBot(botId, 1)[0];
  }

  /**
   * The log panel of `run`: live (its log stream) while it is active, its stored lines once ended.
   * A `follow` panel is replaced when another run of the bot starts (the page follows the bot).
   */
  runPanel(bot: BotRow, run: RunRow | undefined, follow: boolean): string {
    const ended = run ? isFinalRunStatus(run.status) : false;
    return this.render('partials/run-panel', {
      bot,
      current: run,
      follow,
      state: run ? this.runStateData(run) : null,
      currentLogs: run && ended ? this.engine.runner.logs(run.id, 0, STATIC_LOG_LINES) : [],
    });
  }

  /** A run's state line: status (queue position, attempt), duration and error once ended, Stop while active. */
  runState(run: RunRow): string {
    return this.render('partials/run-state', this.runStateData(run));
  }

  private runStateData(run: RunRow) {
    return {
      run,
      position: run.status === 'queued' ? this.engine.runner.queuePosition(run.id) : null,
      attempt: run.attempt,
      attempts: run.maxAttempts,
    };
  }
}
