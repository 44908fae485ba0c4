/**
 * Starting and stopping the chat adapters with the process: each one runs when its token is set.
 */
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Engine } from '../engine/engine.ts';
import { startDiscord } from './discord/adapter.ts';
import { startTelegram } from './telegram/adapter.ts';
import type { TelegramWebhook } from './telegram/webhook.ts';

/** A running chat adapter. */
export interface ChatAdapter {
  /** Stops receiving commands, gives up pending deliveries and closes connections. */
  stop(): Promise<void>;
}

/**
 * Starts the Telegram adapter when `TELEGRAM_BOT_TOKEN` is set and the Discord adapter when
 * `DISCORD_BOT_TOKEN` is set (Telegram in webhook mode when `opts.telegramWebhook` is given: its
 * route must be mounted on the web app). An adapter that cannot start is logged; the process goes on without it.
 * @returns one handle stopping whichever started.
 */
export async function startChatAdapters(engine: Engine, config: Config, logger: Logger, opts: { telegramWebhook?: TelegramWebhook } = {}): Promise<ChatAdapter> {
  const started: ChatAdapter[] = [];
  const starts: [string, string | undefined, () => Promise<ChatAdapter>][] = [
    ['Telegram', config.telegram.token, () => startTelegram(engine, config, logger, opts.telegramWebhook ? { webhook: opts.telegramWebhook } : {})],
    ['Discord', config.discord.token, () => startDiscord(engine, config, logger)],
  ];
  await Promise.all(
    starts.map(async ([name, token, start]) => {
      if (!token) return;
      try {
        started.push(await start());
      } catch (err) {
        logger.error({ err }, `the ${name} adapter could not start`);
      }
    }),
  );
  return {
    async stop() {
      await Promise.allSettled(started.map((a) => a.stop()));
    },
  };
}
