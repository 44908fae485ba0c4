/**
 * openOrchestrator: one process holding the engine (runner, storage), the dashboard and REST API,
 * and the chat adapters. Start with `npm start`.
 */
import pino from 'pino';
import { ConfigError, loadConfig, withEnvFile, type Config } from './config.ts';
import { startChatAdapters, type ChatAdapters } from './bot/adapter.ts';
import { TelegramWebhook } from './bot/telegram/webhook.ts';
import { DataDirLockedError } from './engine/db/data-dir-lock.ts';
import { LeaderElection } from './engine/cluster/leader.ts';
import { Engine } from './engine/engine.ts';
import { buildApp } from './web/app.ts';
import { AppMetrics } from './web/metrics.ts';

let config: Config;
try {
  // `.env` in the working directory, under the real environment (which wins).
  config = loadConfig(withEnvFile(process.env));
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}

const logger = pino({ level: config.logLevel });
let engine: Engine;
try {
  engine = await Engine.open(config, logger);
} catch (err) {
  if (err instanceof DataDirLockedError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
await engine.start();
const metrics = new AppMetrics(engine);
let chat: ChatAdapters | undefined;
// Telegram's webhook route (TELEGRAM_WEBHOOK_URL) is part of the app from the start; the adapter attaches to it.
const telegramWebhook =
  config.telegram.token && config.telegram.webhookUrl
    ? new TelegramWebhook({ url: config.telegram.webhookUrl, token: config.telegram.token, ...(config.telegram.webhookSecret ? { secret: config.telegram.webhookSecret } : {}) })
    : undefined;
/** Telegram and Discord, each when its token is set. */
const startChat = () => startChatAdapters(engine, config, logger, { observer: metrics, ...(telegramWebhook ? { telegramWebhook } : {}) });
// In a cluster exactly one process runs the chat adapters (Telegram allows one getUpdates poller per
// bot, Discord one gateway session per shard): the one holding the `chat` advisory lock.
const chatLeadership = config.databaseUrl
  ? new LeaderElection({
      connectionString: config.databaseUrl,
      name: 'chat',
      retryMs: 2_000,
      onElected: async () => {
        logger.info('this process leads the chats: starting the chat adapters');
        chat = await startChat();
      },
      onDeposed: async () => {
        logger.warn('this process no longer leads the chats: stopping the chat adapters');
        const c = chat;
        chat = undefined;
        await c?.stop();
      },
      onError: (err) => logger.warn({ err }, 'chat leader election: trying again'),
    })
  : null;
const app = await buildApp({
  engine,
  logger,
  metrics,
  chatStatus: () => chat?.statuses() ?? [],
  chatLeader: () => (chatLeadership ? chatLeadership.isLeader : null),
  webhooks: telegramWebhook ? [telegramWebhook] : [],
});
const address = await app.listen({ port: config.port, host: config.host });
logger.info(`openOrchestrator is running on ${address}`);
if (chatLeadership) await chatLeadership.start();
else chat = await startChat();

/** How long a shutdown may take before the process gives up on it. */
// Under Docker's default 10 s stop grace, so the process ends on its own terms.
const SHUTDOWN_LIMIT_MS = 8_000;

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) {
    // A second Ctrl-C or SIGTERM: the person (or supervisor) does not want to wait.
    logger.warn({ signal }, 'second signal while shutting down: exiting now');
    process.exit(1);
  }
  stopping = true;
  logger.info({ signal }, 'shutting down');
  setTimeout(() => {
    logger.error(`shutdown did not finish within ${SHUTDOWN_LIMIT_MS / 1000} s: exiting anyway`);
    process.exit(1);
  }, SHUTDOWN_LIMIT_MS);
  const deadline = Date.now() + SHUTDOWN_LIMIT_MS - 1_000;
  try {
    // Runs first, each marked interrupted with its reason, before anything that may hang.
    await engine.runner.close();
    if (chatLeadership) await chatLeadership.stop();
    else await chat?.stop();
    await app.close();
    // Notifications in flight get the time left, bounded; a second to close the database and exit.
    await engine.close({ deadline });
  } catch (err) {
    logger.error({ err }, 'shutdown failed');
    process.exit(1);
  }
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
