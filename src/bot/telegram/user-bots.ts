/**
 * A Telegram bot per user (seed 002): every user who added their own bot token on
 * `/settings/chat` gets one grammY poller for it, started when the token is added (or the process
 * starts), replaced when it changes, stopped when it is removed. Each answers only the chat
 * identities linked to its owner (see `CoreOptions.owner`).
 */
import type { Logger } from 'pino';
import type { Config } from '../../config.ts';
import type { Engine } from '../../engine/engine.ts';
import type { ChatAdapter, ChatObserver } from '../adapter.ts';
import { startTelegram, type TelegramOptions } from './adapter.ts';

/** The users' own Telegram bots of this process. */
export interface UserTelegramBots {
  /** Stops every user's bot and stops following token changes. */
  stop(): Promise<void>;
  /** The owners whose bot runs now. */
  owners(): number[];
  /** Settles once every start and stop asked for so far is done (tests wait on it). */
  idle(): Promise<void>;
}

/**
 * Starts a poller for every stored user token and follows `engine.userTelegramTokens` changes.
 * A bot that cannot start is logged; the others go on. The token never appears in a log line.
 * @param opts tuning passed to each {@link startTelegram} (retries, card clock, observer).
 */
export function startUserTelegramBots(
  engine: Engine,
  config: Config,
  logger: Logger,
  opts: Omit<TelegramOptions, 'own' | 'webhook'> & { observer?: ChatObserver } = {},
): UserTelegramBots {
  const log = logger.child({ component: 'telegram-user-bots' });
  const running = new Map<number, Promise<ChatAdapter | null>>();
  let queue: Promise<void> = Promise.resolve();
  let stopped = false;

  /** Serializes starts and stops so a quick add-remove-add ends in the last state. */
  const enqueue = (work: () => Promise<void>) => {
    queue = queue.then(work).catch((err: unknown) => log.error({ err }, 'a user Telegram bot could not be started or stopped'));
    return queue;
  };
  const stopOne = async (owner: number) => {
    const adapter = await running.get(owner);
    running.delete(owner);
    if (adapter) await adapter.stop();
  };
  const startOne = async (owner: number, token: string) => {
    await stopOne(owner);
    if (stopped) return;
    const started = startTelegram(engine, config, logger, { ...opts, own: { token, owner } }).catch((err: unknown) => {
      log.error({ err: { message: (err as Error).message }, owner }, "a user's own Telegram bot could not start");
      return null;
    });
    running.set(owner, started);
    await started;
    log.info({ owner }, "a user's own Telegram bot started");
  };

  for (const { userId, token } of engine.userTelegramTokens.all()) void enqueue(() => startOne(userId, token));
  const unsubscribe = engine.userTelegramTokens.onChange((userId, token) => {
    void enqueue(() => (token ? startOne(userId, token) : stopOne(userId).then(() => log.info({ owner: userId }, "a user's own Telegram bot stopped"))));
  });

  return {
    owners: () => [...running.keys()],
    idle: () => queue,
    async stop() {
      stopped = true;
      unsubscribe();
      await queue;
      await Promise.all([...running.keys()].map((o) => stopOne(o)));
    },
  };
}
