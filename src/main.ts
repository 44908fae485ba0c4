/**
 * openOrchestrator: one process holding the engine (runner, storage), the dashboard and REST API,
 * and the chat adapters. Start with `npm start`.
 */
import pino from 'pino';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { startChatAdapters } from './bot/adapter.ts';
import { DataDirLockedError } from './engine/db/data-dir-lock.ts';
import { Engine } from './engine/engine.ts';
import { buildApp } from './web/app.ts';

let config: Config;
try {
  config = loadConfig(process.env);
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
  engine = new Engine(config, logger);
} catch (err) {
  if (err instanceof DataDirLockedError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
engine.start();
const app = await buildApp({ engine, logger });
const address = await app.listen({ port: config.port, host: config.host });
logger.info(`openOrchestrator is running on ${address}`);
// Telegram and Discord, each when its token is set.
const chat = await startChatAdapters(engine, config, logger);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  await chat.stop();
  await app.close();
  await engine.close();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
