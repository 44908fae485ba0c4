import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { ActivityLog } from './activity.ts';
import { ApprovalService } from './approvals.ts';
import { BotSecretStore } from './bot-secrets.ts';
import { BotService } from './bots.ts';
import { closeDatabase, openDatabase, pgPool, type Db } from './db/database.ts';
import { CLUSTER_CHANNELS, ClusterMember } from './cluster/cluster.ts';
import { bridgeEvents } from './cluster/event-bridge.ts';
import { lockDataDir } from './db/data-dir-lock.ts';
import type { BotRow, RunRow } from './db/schema.ts';
import { DocsStore } from './docs.ts';
import { EventBus } from './event-bus.ts';
import { configuredProviders, suggestedModels } from './providers/models.ts';
import { RecipeService } from './recipes.ts';
import { Notifier, smtpSender } from './notify/index.ts';
import { PipelineService } from './pipelines.ts';
import { ResultService } from './results.ts';
import { RunHistory, retryRequest } from './run-history.ts';
import { RetentionPruner } from './retention.ts';
import { Runner, type RunRequest } from './runner/runner.ts';
import { Scheduler } from './scheduler.ts';
import { SubscriptionService } from './subscriptions.ts';
import { Swarm } from './swarm/swarm.ts';
import { TriggerService } from './triggers.ts';
import { UserService } from './users.ts';
import { assertMayCreate, FIRST_ADMIN_ID, type Caller } from './access.ts';
import { Scope } from './scope.ts';
import { ChatIdentityService } from './chat-identities.ts';
import { UserTelegramTokens } from './user-telegram-tokens.ts';
import { SessionService } from './sessions.ts';
import { AppError } from './errors.ts';
import { CodeSandbox, codeSandboxOffMessage } from './tools/sandbox.ts';

/**
 * The core: storage, the event bus and the services over them. Web and chat adapters call it; it
 * knows nothing of them.
 */
export class Engine {
  readonly db: Db;
  readonly bus: EventBus;
  readonly activity: ActivityLog;
  readonly bots: BotService;
  readonly results: ResultService;
  readonly runner: Runner;
  readonly docs = new DocsStore();
  private readonly unlockDataDir: () => void;
  /**
   * This process's membership of a cluster of processes on one Postgres (`DATABASE_URL`): its
   * lease, the notifications between the processes; null on SQLite.
   */
  readonly cluster: ClusterMember | null;
  private stopBridge: (() => void) | null = null;
  /** Bot → bot links (`completed` | `failed` | `result`) and the chain they start. */
  readonly triggers: TriggerService;
  /** Ordered steps of bots, run one after another. */
  readonly pipelines: PipelineService;
  /** Fires bot and pipeline schedules, each occurrence once. */
  readonly scheduler: Scheduler;
  /** Webhook and e-mail notifications of finished runs. */
  readonly notifier: Notifier;
  /** Which chats (Telegram, Discord) receive every run of a bot. */
  readonly subscriptions: SubscriptionService;
  /** Drafts waiting for a person's decision, and the decisions. */
  readonly approvals: ApprovalService;
  /** The recipe library; import and export of recipe files. */
  readonly recipes: RecipeService;
  /** Swarm tasks (seed 004): planner, executors, evaluator; agents, leases, audit, API keys. */
  readonly swarm: Swarm;
  /** All runs over every bot, filtered and in pages. */
  readonly runHistory: RunHistory;
  /** The accounts: users, their roles (src/engine/access.ts). */
  readonly users: UserService;
  /** Rows by id as a caller may see and change them (404 for another's, 403 for a viewer's change). */
  readonly scope: Scope;
  /** Chat pairing: chat identities linked to users, one-time codes (src/engine/chat-identities.ts). */
  readonly chatIdentities: ChatIdentityService;
  /** Each user's own Telegram bot token, kept as a secret file. */
  readonly userTelegramTokens: UserTelegramTokens;
  /** Signed-in browser sessions (only the SHA-256 of each cookie token is stored). */
  readonly sessions: SessionService;
  /** Prunes old runs and log lines (RUN_RETENTION_DAYS, RUN_LOG_RETENTION_DAYS) at start and hourly. */
  readonly retention: RetentionPruner;
  /** Runs `run_code` programs inside bubblewrap; off, with a reason, where the kernel refuses it. */
  readonly codeSandbox: CodeSandbox;
  /** Each bot's named secrets, files under DATA_DIR/secrets/bots/<id>/ (names only leave it, values only to that bot's runs). */
  readonly botSecrets: BotSecretStore;

  /**
   * Locks the data dir, opens the database (applying migrations), makes sure the first admin
   * exists and applies `ADMIN_PASSWORD`, then builds the services. Call {@link start} before serving.
   * @param deps.now the clock of the run engine, of approvals' expiry and of pairing codes (epoch ms), for tests.
   * @throws {DataDirLockedError} when another live process uses `config.dataDir`.
   */
  static async open(config: Config, log: Logger, deps: { now?: () => number } = {}): Promise<Engine> {
    // On Postgres several processes share the data folder (a volume): no lock file then.
    const unlockDataDir = config.databaseUrl ? () => {} : lockDataDir(config.dataDir);
    try {
      const db = await openDatabase({ dataDir: config.dataDir, databaseUrl: config.databaseUrl }, { poolSize: config.databasePoolSize });
      try {
        const pool = pgPool(db);
        const member = pool && config.databaseUrl ? new ClusterMember(db, pool, { connectionString: config.databaseUrl, ...config.cluster, log: log.child({ component: 'cluster' }) }) : null;
        const engine = new Engine(config, log, db, unlockDataDir, { ...deps, cluster: member });
        await engine.users.ensureFirstAdmin();
        if (config.adminPassword) await engine.users.applyAdminPassword(config.adminPassword);
        return engine;
      } catch (err) {
        await closeDatabase(db);
        throw err;
      }
    } catch (err) {
      unlockDataDir();
      throw err;
    }
  }

  /** Builds the services over an open database; see {@link Engine.open}. */
  private constructor(
    readonly config: Config,
    readonly log: Logger,
    db: Db,
    unlockDataDir: () => void,
    deps: { now?: () => number; cluster: ClusterMember | null },
  ) {
    this.unlockDataDir = unlockDataDir;
    this.cluster = deps.cluster;
    this.db = db;
    this.bus = new EventBus((err, event) => log.error({ err, event }, 'event listener failed'));
    this.activity = new ActivityLog(this.db, this.bus);
    this.bots = new BotService(this.db, this.bus, { dataDir: config.dataDir, providers: configuredProviders(config), ownProviders: (id) => this.botSecrets.ownProviders(id) });
    this.results = new ResultService(this.db, this.bus);
    this.subscriptions = new SubscriptionService(this.db);
    this.runHistory = new RunHistory(this.db);
    this.users = new UserService(this.db);
    this.chatIdentities = new ChatIdentityService(this.db, { now: deps.now });
    this.userTelegramTokens = new UserTelegramTokens(config.dataDir);
    this.sessions = new SessionService(this.db);
    this.codeSandbox = new CodeSandbox({ bwrapPath: config.bwrapPath });
    this.botSecrets = new BotSecretStore(config.dataDir);
    this.runner = new Runner(this.db, this.bus, this.results, log.child({ component: 'runner' }), {
      maxConcurrentRuns: config.maxConcurrentRuns,
      maxRunProcesses: config.maxRunProcesses,
      workerIdleMs: config.workerIdleMs,
      maxQueuedRuns: config.maxQueuedRuns,
      runTimeoutS: config.runTimeoutS,
      retryBackoffMs: config.retryBackoffMs,
      providers: { openai: config.openai, anthropic: config.anthropic, echoDelayMs: config.echoDelayMs, search: config.search, webFetchAllowPrivate: config.webFetchAllowPrivate },
      codeSandbox: this.codeSandbox,
    }, { now: deps.now, secrets: this.botSecrets, cluster: deps.cluster ? clusterPort(deps.cluster, log) : undefined });
    this.bots.useQueuePositions((runId) => this.runner.queuePosition(runId));
    const orchestration = { db: this.db, bus: this.bus, runner: this.runner, bots: this.bots };
    this.pipelines = new PipelineService({ ...orchestration, docs: this.docs, results: this.results, log: log.child({ component: 'pipelines' }) });
    this.triggers = new TriggerService({ ...orchestration, pipelines: this.pipelines, log: log.child({ component: 'triggers' }) });
    this.scheduler = new Scheduler({ ...orchestration, pipelines: this.pipelines, log: log.child({ component: 'scheduler' }) });
    this.recipes = new RecipeService({
      db: this.db,
      bus: this.bus,
      bots: this.bots,
      pipelines: this.pipelines,
      triggers: this.triggers,
      docs: this.docs,
      defaultModel: suggestedModels(config)[1] ?? 'echo',
      providers: configuredProviders(config),
    });
    this.approvals = new ApprovalService({ db: this.db, bus: this.bus, results: this.results, log: log.child({ component: 'approvals' }), now: deps.now });
    this.notifier = new Notifier({
      db: this.db,
      bus: this.bus,
      log: log.child({ component: 'notify' }),
      webhookSecret: config.webhookSecret,
      email: config.smtp ? smtpSender(config.smtp) : undefined,
    });
    this.swarm = new Swarm({ ...orchestration, startRun: (botId, req) => this.startRun(botId, req), log: log.child({ component: 'swarm' }), config: config.swarm });
    this.scope = new Scope({ db: this.db, bots: this.bots, runner: this.runner, results: this.results, pipelines: this.pipelines, approvals: this.approvals });
    this.retention = new RetentionPruner({ db: this.db, log: log.child({ component: 'retention' }) }, config.retention);
  }

  /**
   * Starts the subscribers (activity feed, pipelines, triggers, notifier), then the run engine
   * (runs whose child a crash killed are retried or marked interrupted; queued runs start in their
   * order), then the scheduler (which records schedule occurrences missed while down). Call once
   * before serving.
   */
  async start(): Promise<void> {
    if (this.cluster) await this.joinCluster(this.cluster);
    this.activity.start();
    await this.approvals.start();
    await this.pipelines.start();
    this.triggers.start();
    this.notifier.start();
    const sandbox = this.codeSandbox.status();
    if (sandbox.available) this.log.info({ bwrap: sandbox.bwrap, proc: sandbox.withProc }, 'run_code runs inside bubblewrap');
    else this.log.warn(codeSandboxOffMessage(sandbox.reason));
    const { interrupted, retried } = await this.runner.start();
    if (interrupted + retried > 0) this.log.warn({ interrupted, retried }, 'runs whose process stopped with the last process were marked interrupted or queued again');
    await this.scheduler.start();
    await this.swarm.start();
    this.retention.start();
  }

  /**
   * Creates a bot (owned by `caller`, else the first admin) and records it in the activity feed.
   * See `BotService.create` for errors; FORBIDDEN_ROLE for a viewer.
   */
  async createBot(input: unknown, caller?: Caller): Promise<BotRow> {
    if (caller) assertMayCreate(caller);
    const bot = await this.bots.create(input, caller?.userId ?? FIRST_ADMIN_ID);
    this.bus.emit('notice', { botId: bot.id, kind: 'bot.created', message: `${bot.emoji} ${bot.name} was created` });
    return bot;
  }

  /**
   * Queues a run of a bot. With `caller`, they must be allowed to change it (another user's bot
   * is not found; a viewer is refused); without one the engine acts as the bot's owner.
   * @throws {AppError} BOT_NOT_FOUND, FORBIDDEN_ROLE, QUEUE_FULL, SHUTTING_DOWN
   */
  async startRun(botId: number, req: RunRequest, caller?: Caller): Promise<RunRow> {
    const bot = caller ? await this.scope.bot(caller, botId, 'write') : await this.bots.get(botId);
    return await this.runner.enqueue(bot, req);
  }

  /**
   * Queues a retry of a failed, cancelled or interrupted run: a new run of the same bot with the
   * same input, its `retryOf` the old run's id.
   * With `caller`, as {@link startRun}.
   * @throws {AppError} RUN_NOT_FOUND, RUN_NOT_RETRYABLE (still active, or completed), BOT_NOT_FOUND, FORBIDDEN_ROLE
   */
  async retryRun(runId: number, caller?: Caller): Promise<RunRow> {
    const old = caller ? await this.scope.run(caller, runId, 'write') : await this.runner.get(runId);
    return await this.startRun(old.botId, retryRequest(old), caller);
  }

  /**
   * Cancels the bot's active runs, then deletes it with its runs, results and docs folder. With
   * `caller`, they must be allowed to change it.
   * @throws {AppError} BOT_NOT_FOUND, FORBIDDEN_ROLE
   */
  async deleteBot(botId: number, caller?: Caller): Promise<void> {
    const bot = caller ? await this.scope.bot(caller, botId, 'write') : await this.bots.get(botId);
    await this.runner.cancelAllForBot(botId, 'the bot was deleted');
    await this.bots.delete(botId);
    this.bus.emit('notice', { kind: 'bot.deleted', message: `${bot.emoji} ${bot.name} was deleted` });
  }

  /**
   * Deletes a user: each of their bots as {@link deleteBot} does (runs cancelled, docs folders
   * removed), revokes their API keys, ends their sessions, then deletes the account. Their pipelines and tasks stay, owned by an id no
   * user has any more, so only admins see them. An admin cannot delete themselves.
   * @throws {AppError} USER_NOT_FOUND, LAST_ADMIN, FORBIDDEN_ROLE (deleting yourself)
   */
  async deleteUser(userId: number, caller: Caller): Promise<void> {
    const user = await this.users.assertDeletable(userId);
    if (user.id === caller.userId) throw new AppError('FORBIDDEN_ROLE', 'You cannot delete your own account; another admin can.');
    for (const bot of (await this.bots.list()).filter((b) => b.ownerId === userId)) await this.deleteBot(bot.id);
    for (const key of (await this.swarm.keys.list()).filter((k) => k.userId === userId && k.revokedAt === null)) await this.swarm.keys.revoke(key.id, `user:${caller.username}`);
    await this.sessions.deleteForUser(userId);
    await this.users.deleteRow(userId);
  }

  /**
   * Stops every running attempt (interrupted, or queued again when it has attempts left; queued
   * runs stay queued for the next start), lets the subscribers hear the last events, gives
   * notifications in flight until `opts.deadline` (epoch ms; default now: they are given up at
   * once), then closes the database.
   */
  async close(opts: { deadline?: number } = {}): Promise<void> {
    // Orchestration first, so the runs interrupted below start nothing new.
    await this.scheduler.stop();
    this.swarm.stop();
    await this.retention.stop();
    this.triggers.stop();
    this.pipelines.stop();
    this.approvals.stop();
    // Runs first: they are marked before any notification may take the time that is left.
    await this.runner.close();
    await this.bus.flush();
    await this.notifier.close(opts.deadline);
    // The notifier's last notices (deliveries given up) still reach the activity feed.
    await this.bus.flush();
    this.activity.stop();
    this.stopBridge?.();
    await this.bus.close();
    await this.cluster?.stop();
    await closeDatabase(this.db);
    this.unlockDataDir();
  }

  /**
   * Joins the cluster: registers this process (its lease), wakes the run engine when another
   * process queues a run, cancels here what another process was asked to cancel, takes over the
   * runs of processes that died, and bridges the live events.
   */
  private async joinCluster(member: ClusterMember): Promise<void> {
    member.on(CLUSTER_CHANNELS.runs, () => this.runner.wake());
    member.on(CLUSTER_CHANNELS.cancel, (raw) => {
      const msg = JSON.parse(raw) as { runId: number; reason: string };
      void this.runner.cancelHere(msg.runId, msg.reason);
    });
    member.onDead(async (workerId, runIds) => {
      const out = await this.runner.takeOver(workerId, runIds);
      if (out.interrupted + out.retried > 0) this.log.warn({ workerId, ...out }, "took over the running runs of a process that died: marked interrupted or queued again");
    });
    // Notifications missed while the listening connection was down: look at the queue again.
    member.onReconnect(() => this.runner.wake());
    await member.start();
    this.stopBridge = bridgeEvents(this.bus, member, this.log.child({ component: 'cluster' }));
  }
}

/** The run engine's view of the cluster: notifications on {@link CLUSTER_CHANNELS}. */
function clusterPort(member: ClusterMember, log: Logger) {
  const send = (channel: (typeof CLUSTER_CHANNELS)[keyof typeof CLUSTER_CHANNELS], payload = '') =>
    void member.notify(channel, payload).catch((err: unknown) => log.warn({ err, channel }, 'could not notify the other processes'));
  return {
    workerId: member.workerId,
    wake: () => send(CLUSTER_CHANNELS.runs),
    requestCancel: (runId: number, reason: string) => send(CLUSTER_CHANNELS.cancel, JSON.stringify({ runId, reason })),
  };
}
