import fs from 'node:fs';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { z } from 'zod';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** `true` when `host` only accepts connections from this machine (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOSTS.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

const emptyToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const optionalString = z.preprocess(emptyToUndefined, z.string().optional());
const optionalUrl = z.preprocess(emptyToUndefined, z.url().optional());
const idList = z.preprocess(
  (v) => (typeof v === 'string' && v.trim() !== '' ? v.split(',').map((s) => s.trim()).filter(Boolean) : []),
  z.array(z.string().regex(/^\d+$/, 'must be numeric user ids separated by commas')),
);
const int = (def: number, min: number, max: number) =>
  z.preprocess(emptyToUndefined, z.coerce.number().int().min(min).max(max).default(def));

function isRegExp(source: string): boolean {
  try {
    new RegExp(source, 'g');
    return true;
  } catch {
    return false;
  }
}

const schema = z.object({
  PORT: int(8080, 0, 65535),
  HOST: z.preprocess(emptyToUndefined, z.string().default('127.0.0.1')),
  DATA_DIR: z.preprocess(emptyToUndefined, z.string().default('./data')),
  DATABASE_URL: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^postgres(ql)?:\/\/\S+$/, 'must be a postgres:// URL (or empty for the embedded SQLite database)')
      .optional(),
  ),
  DATABASE_POOL_SIZE: int(10, 1, 200),
  CLUSTER_LEASE_MS: int(10_000, 1_000, 600_000),
  CLUSTER_HEARTBEAT_MS: int(2_000, 100, 60_000),
  DASHBOARD_TOKEN: optionalString,
  ADMIN_PASSWORD: z.preprocess(emptyToUndefined, z.string().min(8, 'must be at least 8 characters').max(200, 'must be at most 200 characters').optional()),
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: optionalUrl,
  ANTHROPIC_API_KEY: optionalString,
  ANTHROPIC_BASE_URL: optionalUrl,
  SEARXNG_URL: optionalUrl,
  BRAVE_API_KEY: optionalString,
  WEB_FETCH_ALLOW_PRIVATE: z.preprocess(emptyToUndefined, z.enum(['true', 'false'], { error: 'must be true or false' }).default('false')),
  TELEGRAM_BOT_TOKEN: optionalString,
  TELEGRAM_API_ROOT: z.preprocess(emptyToUndefined, z.url().default('https://api.telegram.org')),
  TELEGRAM_ALLOWED_USERS: idList,
  TELEGRAM_WEBHOOK_URL: z.preprocess(emptyToUndefined, z.url({ protocol: /^https?$/, error: 'must be an http(s):// URL' }).optional()),
  // https://core.telegram.org/bots/api#setwebhook: secret_token is 1-256 of A-Z, a-z, 0-9, _ and -.
  TELEGRAM_WEBHOOK_SECRET: z.preprocess(emptyToUndefined, z.string().regex(/^[A-Za-z0-9_-]{1,256}$/, 'must be 1 to 256 letters, digits, _ or -').optional()),
  DISCORD_BOT_TOKEN: optionalString,
  DISCORD_API_BASE: z.preprocess(emptyToUndefined, z.url().default('https://discord.com/api')),
  DISCORD_GUILD_ID: optionalString,
  DISCORD_ALLOWED_USERS: idList,
  MAX_CONCURRENT_RUNS: int(64, 1, 1000),
  MAX_RUN_PROCESSES: int(8, 1, 256),
  RUN_WORKER_IDLE_MS: int(30_000, 0, 3_600_000),
  RUN_TIMEOUT_S: int(300, 1, 86_400),
  MAX_QUEUED_RUNS: int(1000, 1, 1_000_000),
  RUN_RETRY_BACKOFF_MS: int(10_000, 0, 600_000),
  RATE_LIMIT_PER_MIN: int(600, 0, 1_000_000),
  BWRAP_PATH: optionalString,
  ECHO_DELAY_MS: int(150, 0, 60_000),
  RUN_RETENTION_DAYS: int(30, 0, 36_500),
  RUN_LOG_RETENTION_DAYS: int(30, 0, 36_500),
  SMTP_URL: z.preprocess(emptyToUndefined, z.url({ protocol: /^smtps?$/, error: 'must be an smtp:// or smtps:// URL' }).optional()),
  SMTP_FROM: z.preprocess(emptyToUndefined, z.string().default('openOrchestrator <openorchestrator@localhost>')),
  WEBHOOK_SECRET: optionalString,
  PUBLIC_URL: optionalUrl,
  SWARM_LEASE_MS: int(30_000, 100, 3_600_000),
  SWARM_MAX_WAIT_S: int(30, 1, 300),
  AUDIT_REDACT_FIELDS: z.preprocess(
    (v) => (typeof v === 'string' && v.trim() !== '' ? v.split(',').map((s) => s.trim()).filter(Boolean) : []),
    z.array(z.string().regex(/^[\w.-]{1,64}$/, 'must be field names separated by commas')),
  ),
  AUDIT_REDACT_PATTERNS: z.preprocess(
    (v) => {
      if (typeof v !== 'string' || v.trim() === '') return [];
      try {
        return JSON.parse(v);
      } catch {
        return v;
      }
    },
    z.array(z.string().min(1).refine(isRegExp, 'must hold valid regular expressions'), { error: 'must be a json array of regular expressions, e.g. ["ref-[0-9]{6}"]' }).max(50),
  ),
  LOG_LEVEL: z.preprocess(
    emptyToUndefined,
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ),
});

/** Every environment variable the configuration reads (`.env.example` lists each one). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(schema.shape);

/**
 * The environment with a dotenv file underneath: `KEY=value` lines of `file` (parsed by dotenv,
 * https://github.com/motdotla/dotenv#what-rules-does-the-parsing-engine-follow) for every variable
 * that `env` does not set, so the real environment always wins. A missing file adds nothing.
 * Used instead of Node's `--env-file-if-exists`, which not every Node 20 release has.
 * @param file path of the file, relative to the working directory (default `.env`).
 * @throws {Error} when the file exists but cannot be read.
 */
export function withEnvFile(env: Record<string, string | undefined>, file = '.env'): Record<string, string | undefined> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ...env };
    throw err;
  }
  return { ...parseDotenv(text), ...env };
}

/** The process configuration, parsed once from the environment by {@link loadConfig}. */
export interface Config {
  port: number;
  host: string;
  /** Absolute path of the data directory (SQLite file, one docs folder per bot). */
  dataDir: string;
  /**
   * `postgres://…`: the database of a cluster (several processes share it, and share `dataDir` as
   * a volume for the bots' folders); null: SQLite in `dataDir`, one process.
   */
  databaseUrl: string | null;
  /** Connections each process keeps to Postgres at most (DATABASE_POOL_SIZE, default 10). */
  databasePoolSize: number;
  /**
   * On Postgres, each process renews its lease every `heartbeatMs`; one whose lease is `leaseMs`
   * old is dead, and a survivor takes over its running runs (CLUSTER_LEASE_MS, default 10 s;
   * CLUSTER_HEARTBEAT_MS, default 2 s).
   */
  cluster: { leaseMs: number; heartbeatMs: number };
  /**
   * A shared token for scripts (`Authorization: Bearer`, the `oo_token` cookie, `?token=`): a
   * request with it acts as the first admin. Optional everywhere; off loopback the server refuses
   * everything but /health and /setup until an admin has a password (src/web/caller.ts).
   */
  dashboardToken?: string;
  /** `ADMIN_PASSWORD`: the first admin's password, set at start when they have none yet. */
  adminPassword?: string;
  openai: { apiKey?: string; baseURL?: string };
  anthropic: { apiKey?: string; baseURL?: string };
  /** Where the `web_search` tool searches: a SearXNG instance (JSON API), else Brave Search; neither set: no web search. */
  search: { searxngUrl?: string; braveApiKey?: string };
  /** `web_fetch` may reach loopback, link-local and private-network addresses (off: it refuses them). */
  webFetchAllowPrivate: boolean;
  /**
   * Telegram: `webhookUrl` set means webhook mode (Telegram posts updates to it) instead of long
   * polling; `webhookSecret` is the `secret_token` it must send back (derived from the bot token
   * when not configured).
   */
  telegram: { token?: string; apiRoot: string; allowedUsers: string[]; webhookUrl?: string; webhookSecret?: string };
  discord: { token?: string; apiBase: string; guildId?: string; allowedUsers: string[] };
  /** At most this many runs at once (waiting on a provider or working). */
  maxConcurrentRuns: number;
  /** At most this many run processes at once (one per bot with runs going). */
  maxRunProcesses: number;
  /** A run process idle this long (ms) exits. */
  workerIdleMs: number;
  /** A run still going after this many seconds is killed and fails. */
  runTimeoutS: number;
  /** Past this many queued runs a run request gets 429 QUEUE_FULL. */
  maxQueuedRuns: number;
  /** The first retry of a failed run waits this long (ms), each further one twice as long. */
  retryBackoffMs: number;
  /** API requests one client (IP address) may make per minute; past it 429 `RATE_LIMITED`. 0: no limit. */
  rateLimitPerMin: number;
  /** The bubblewrap binary that confines `run_code`; unset: looked up in /usr/bin, /bin, /usr/local/bin. */
  bwrapPath?: string;
  /** Pause between the lines the offline `echo` model streams, in ms. */
  echoDelayMs: number;
  /**
   * How long history is kept, in days (0: forever). Finished runs older than `runDays` go with
   * their unpinned results and activity; log lines older than `logDays` go. See engine/retention.ts.
   */
  retention: { runDays: number; logDays: number };
  /** Outgoing mail for `notify.email`; absent when `SMTP_URL` is not set. */
  smtp?: { url: string; from: string };
  /** Signs webhooks of bots that have no `notify.webhook.secret` of their own. */
  webhookSecret?: string;
  /** The dashboard's public address without a trailing slash, for links in chat; absent when `PUBLIC_URL` is not set. */
  publicUrl?: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Swarm tasks (seed 004). */
  swarm: {
    /** An external agent silent (no poll, heartbeat or result) this long loses its assignment, in ms. */
    leaseMs: number;
    /** Longest long-poll for the next assignment, in seconds. */
    maxWaitS: number;
    /** Field names redacted from audit rows, besides the defaults (src/engine/swarm/redaction.ts). */
    redactFields: string[];
    /** Regular expressions redacted from audit rows, besides the defaults. */
    redactPatterns: string[];
  };
}

/** A bad configuration value; `variable` names the environment variable at fault. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    detail: string,
  ) {
    super(`Invalid configuration: ${variable} ${detail}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses the environment into a {@link Config}. The only reader of `process.env` in the app is the
 * caller that passes it here.
 * @throws {ConfigError} on the first bad value, naming its variable.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(String(issue.path[0] ?? 'environment'), issue.message.toLowerCase());
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir: path.resolve(e.DATA_DIR),
    databaseUrl: e.DATABASE_URL ?? null,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    cluster: { leaseMs: e.CLUSTER_LEASE_MS, heartbeatMs: Math.min(e.CLUSTER_HEARTBEAT_MS, Math.floor(e.CLUSTER_LEASE_MS / 3)) },
    dashboardToken: e.DASHBOARD_TOKEN,
    adminPassword: e.ADMIN_PASSWORD,
    openai: { apiKey: e.OPENAI_API_KEY, baseURL: e.OPENAI_BASE_URL },
    anthropic: { apiKey: e.ANTHROPIC_API_KEY, baseURL: e.ANTHROPIC_BASE_URL },
    search: { searxngUrl: e.SEARXNG_URL, braveApiKey: e.BRAVE_API_KEY },
    webFetchAllowPrivate: e.WEB_FETCH_ALLOW_PRIVATE === 'true',
    telegram: {
      token: e.TELEGRAM_BOT_TOKEN,
      apiRoot: e.TELEGRAM_API_ROOT,
      allowedUsers: e.TELEGRAM_ALLOWED_USERS,
      webhookUrl: e.TELEGRAM_WEBHOOK_URL,
      webhookSecret: e.TELEGRAM_WEBHOOK_SECRET,
    },
    discord: {
      token: e.DISCORD_BOT_TOKEN,
      apiBase: e.DISCORD_API_BASE,
      guildId: e.DISCORD_GUILD_ID,
      allowedUsers: e.DISCORD_ALLOWED_USERS,
    },
    maxConcurrentRuns: e.MAX_CONCURRENT_RUNS,
    maxRunProcesses: e.MAX_RUN_PROCESSES,
    workerIdleMs: e.RUN_WORKER_IDLE_MS,
    runTimeoutS: e.RUN_TIMEOUT_S,
    maxQueuedRuns: e.MAX_QUEUED_RUNS,
    retryBackoffMs: e.RUN_RETRY_BACKOFF_MS,
    rateLimitPerMin: e.RATE_LIMIT_PER_MIN,
    bwrapPath: e.BWRAP_PATH,
    echoDelayMs: e.ECHO_DELAY_MS,
    retention: { runDays: e.RUN_RETENTION_DAYS, logDays: e.RUN_LOG_RETENTION_DAYS },
    smtp: e.SMTP_URL ? { url: e.SMTP_URL, from: e.SMTP_FROM } : undefined,
    webhookSecret: e.WEBHOOK_SECRET,
    publicUrl: e.PUBLIC_URL?.replace(/\/+$/, ''),
    logLevel: e.LOG_LEVEL,
    swarm: { leaseMs: e.SWARM_LEASE_MS, maxWaitS: e.SWARM_MAX_WAIT_S, redactFields: e.AUDIT_REDACT_FIELDS, redactPatterns: e.AUDIT_REDACT_PATTERNS },
  };
}
