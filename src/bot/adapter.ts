/**
 * Starting and stopping the chat adapters with the process: each one runs when its token is set.
 */
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Engine } from '../engine/engine.ts';
import { startDiscord } from './discord/adapter.ts';
import { startTelegram } from './telegram/adapter.ts';
import { startUserTelegramBots } from './telegram/user-bots.ts';
import type { TelegramWebhook } from './telegram/webhook.ts';

/** A chat platform's connection now (`/health` shows it). */
export interface ChatConnection {
  platform: 'telegram' | 'discord';
  /** Telegram: polling, and the last `getUpdates` did not fail; Discord: the gateway session is ready. */
  connected: boolean;
  /** Why not, when known. */
  detail?: string;
}

/** Told of every message the adapters send to a chat (the metrics listen). */
export interface ChatObserver {
  message(platform: 'telegram' | 'discord', outcome: 'sent' | 'failed'): void;
}

/** A running chat adapter. */
export interface ChatAdapter {
  /** Stops receiving commands, gives up pending deliveries and closes connections. */
  stop(): Promise<void>;
  /** Whether it is connected to its platform now. */
  status(): ChatConnection;
}

/** The adapters of the process. */
export interface ChatAdapters {
  stop(): Promise<void>;
  /** One entry per configured adapter; one that could not start is not connected. */
  statuses(): ChatConnection[];
}

/**
 * Starts the Telegram adapter when `TELEGRAM_BOT_TOKEN` is set and the Discord adapter when
 * `DISCORD_BOT_TOKEN` is set, and each user's own Telegram bot (src/bot/telegram/user-bots.ts). An adapter that cannot start is logged; the process goes on without it.
 * `opts.observer` hears of every message sent to a chat; with `opts.telegramWebhook` Telegram runs
 * in webhook mode (its route must be mounted on the web app).
 * @returns one handle stopping whichever started and reporting their connections.
 */
export async function startChatAdapters(
  engine: Engine,
  config: Config,
  logger: Logger,
  opts: { observer?: ChatObserver; telegramWebhook?: TelegramWebhook } = {},
): Promise<ChatAdapters> {
  const { observer, telegramWebhook } = opts;
  const started: ChatAdapter[] = [];
  const failed: ChatConnection[] = [];
  const starts: [ChatConnection['platform'], string, string | undefined, () => Promise<ChatAdapter>][] = [
    ['telegram', 'Telegram', config.telegram.token, () => startTelegram(engine, config, logger, { ...(observer ? { observer } : {}), ...(telegramWebhook ? { webhook: telegramWebhook } : {}) })],
    ['discord', 'Discord', config.discord.token, () => startDiscord(engine, config, logger, observer ? { observer } : {})],
  ];
  await Promise.all(
    starts.map(async ([platform, name, token, start]) => {
      if (!token) return;
      try {
        started.push(await start());
      } catch (err) {
        logger.error({ err }, `the ${name} adapter could not start`);
        failed.push({ platform, connected: false, detail: `could not start: ${(err as Error).message}` });
      }
    }),
  );
  const userBots = startUserTelegramBots(engine, config, logger, observer ? { observer } : {});
  return {
    async stop() {
      await Promise.allSettled([...started.map((a) => a.stop()), userBots.stop()]);
    },
    statuses: () => [...started.map((a) => a.status()), ...failed],
  };
}
