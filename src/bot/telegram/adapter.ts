/**
 * The Telegram adapter: grammY long polling (https://grammy.dev/guide/deployment-types) over the
 * shared command core. It only turns updates into core calls and core replies into Bot API calls.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { autoRetry } from '@grammyjs/auto-retry';
import { Bot, GrammyError } from 'grammy';
import type { Logger } from 'pino';
import type { Config } from '../../config.ts';
import type { Engine } from '../../engine/engine.ts';
import type { ChatAdapter, ChatObserver } from '../adapter.ts';
import { CommandCore } from '../core.ts';
import { RunDelivery } from '../notifier.ts';
import { allowList } from './auth.ts';
import { buttons } from './buttons.ts';
import { commands } from './commands.ts';
import { flow } from './flow.ts';
import { TelegramSender } from './notifier.ts';

/** Tuning knobs, mostly for tests. */
export interface TelegramOptions {
  /** Pauses between attempts to deliver a run outcome (default 1 s, 5 s, 30 s). */
  retryDelaysMs?: number[];
  /** A stranger is refused at most once per this many ms (default 60 s). */
  refusalCooldownMs?: number;
  /** Hears of every message sent (metrics). */
  observer?: ChatObserver;
}

/** The update types the bot asks for (https://core.telegram.org/bots/api#getupdates `allowed_updates`). */
const ALLOWED_UPDATES = ['message', 'callback_query'] as const;

/**
 * Starts the Telegram bot: checks the token (`getMe`), publishes the command menu
 * (https://core.telegram.org/bots/api#setmycommands) alongside, and long-polls `getUpdates` with
 * `client.apiRoot = TELEGRAM_API_ROOT`. Resolves once polling runs, or after 10 s at most while the
 * API is unreachable (it keeps trying in the background). A 409 Conflict (another process
 * polls with this token) or a refused token is logged as such and polling stops: it is not retried.
 * @throws {Error} when `TELEGRAM_BOT_TOKEN` is not set.
 */
export async function startTelegram(engine: Engine, config: Config, logger: Logger, opts: TelegramOptions = {}): Promise<ChatAdapter> {
  const { token, apiRoot, allowedUsers } = config.telegram;
  if (!token) throw new Error('startTelegram needs TELEGRAM_BOT_TOKEN');
  const log = logger.child({ component: 'telegram' });
  if (allowedUsers.length === 0) {
    log.warn(
      'TELEGRAM_ALLOWED_USERS is empty: nobody may command the Telegram bot. Set it to your Telegram user id (the bot tells anyone who writes to it their id).',
    );
  }

  const bot = new Bot(token, { client: { apiRoot } });
  // 429s wait for `retry_after`; server and network errors are left to the caller (polling and
  // RunDelivery retry those themselves, with logging).
  bot.api.config.use(autoRetry({ maxRetryAttempts: 3, maxDelaySeconds: 120, rethrowInternalServerErrors: true, rethrowHttpErrors: true }));
  const link = watchApi(bot, opts.observer);
  const sender = new TelegramSender(bot.api);
  const delivery = new RunDelivery(engine, sender, log, opts.retryDelaysMs);
  const core = new CommandCore(engine, {
    allowedUsers,
    allowListVariable: 'TELEGRAM_ALLOWED_USERS',
    log,
    guidedFlows: true,
    onRunStarted: (runId, caller) => delivery.watch(runId, caller.chatId, caller.answered ? { after: caller.answered } : {}),
  });

  bot.use(allowList(core, sender, opts.refusalCooldownMs ?? 60_000));
  bot.use(buttons(core, sender, log));
  bot.use(commands(core, sender));
  bot.use(flow(core, sender));
  bot.catch((err) => log.error({ err: err.error, updateId: err.ctx.update.update_id }, 'a Telegram update could not be handled'));

  delivery.start();
  const abort = new AbortController();
  let ready!: () => void;
  const started = new Promise<void>((resolve) => (ready = resolve));

  let menu: Promise<void> | undefined;
  const polling = (async () => {
    let delay = 1000;
    while (!abort.signal.aborted) {
      try {
        await bot.init(abort.signal as Parameters<Bot['init']>[0]); // grammY retries network errors itself until this succeeds or we stop
        // The menu does not hold up polling: a 429 on it may ask to wait for minutes.
        menu ??= publishCommands(bot, core, log, abort.signal);
        if (abort.signal.aborted) return; // stopped while starting: never poll after stop()
        await bot.start({
          allowed_updates: ALLOWED_UPDATES,
          onStart: (me) => {
            log.info({ username: me.username, allowedUsers: allowedUsers.length }, `Telegram bot @${me.username} is polling for commands`);
            ready();
          },
        });
        return; // stopped
      } catch (err) {
        if (abort.signal.aborted) return;
        if (err instanceof GrammyError && err.error_code === 409) {
          log.error(
            { description: err.description },
            'Telegram answered 409 Conflict: another process is polling with this TELEGRAM_BOT_TOKEN (or a webhook is set). Telegram commands are off in this process; stop the other one and restart.',
          );
          return;
        }
        if (err instanceof GrammyError && (err.error_code === 401 || err.error_code === 404)) {
          log.error({ description: err.description }, 'Telegram refused TELEGRAM_BOT_TOKEN (401 Unauthorized). Telegram commands are off; check the token from @BotFather.');
          return;
        }
        log.warn({ err, retryInMs: delay }, 'could not reach the Telegram Bot API; retrying');
        ready(); // do not hold up the rest of the process
        try {
          await sleep(delay, undefined, { signal: abort.signal });
        } catch {
          return;
        }
        delay = Math.min(delay * 2, 60_000);
      }
    }
  })().finally(() => ready());

  // An unreachable API must not hold up the dashboard: polling starts whenever it can.
  await Promise.race([started, sleep(10_000, undefined, { ref: false })]);
  let stopped: Promise<void> | undefined;
  return {
    status: () => ({ platform: 'telegram', connected: bot.isRunning() && !link.pollError, ...(link.pollError ? { detail: link.pollError } : bot.isRunning() ? {} : { detail: 'not polling' }) }),
    stop() {
      stopped ??= (async () => {
        abort.abort(); // also ends a wait on the API (a 429's retry_after) and the menu's request
        if (bot.isRunning()) await bot.stop().catch((err: unknown) => log.warn({ err }, 'Telegram: could not confirm the last update while stopping'));
        await polling;
        await menu;
        await delivery.stop();
        log.info('Telegram bot stopped');
      })();
      return stopped;
    },
  };
}

/** Publishes the command menu with `setMyCommands`; a failure is logged, not fatal. */
async function publishCommands(bot: Bot, core: CommandCore, log: Logger, signal: AbortSignal): Promise<void> {
  const list = core.commands.filter((c) => !c.hidden).map((c) => ({ command: c.name, description: c.description }));
  try {
    await bot.api.setMyCommands(list, undefined, signal as Parameters<Bot['api']['setMyCommands']>[2]);
  } catch (err) {
    if (!signal.aborted) log.warn({ err }, 'could not publish the Telegram command menu (setMyCommands)');
  }
}

/**
 * Watches the Bot API calls (a grammY transformer, https://grammy.dev/advanced/transformers): the
 * `send*` methods (not `sendChatAction`) count as messages sent or failed, and the outcome of the
 * last `getUpdates` says whether polling reaches Telegram.
 */
function watchApi(bot: Bot, observer: ChatObserver | undefined): { pollError: string | undefined } {
  const link: { pollError: string | undefined } = { pollError: undefined };
  bot.api.config.use(async (prev, method, payload, signal) => {
    const counted = observer && method.startsWith('send') && method !== 'sendChatAction';
    try {
      const res = await prev(method, payload, signal);
      if (method === 'getUpdates') link.pollError = res.ok ? undefined : `getUpdates failed: ${res.description}`;
      if (counted) observer.message('telegram', res.ok ? 'sent' : 'failed');
      return res;
    } catch (err) {
      if (method === 'getUpdates' && !signal?.aborted) link.pollError = `getUpdates failed: ${(err as Error).message}`;
      if (counted) observer.message('telegram', 'failed');
      throw err;
    }
  });
  return link;
}
