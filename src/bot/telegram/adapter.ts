/**
 * The Telegram adapter: grammY over the shared command core, fed by long polling
 * (https://grammy.dev/guide/deployment-types) or, with `TELEGRAM_WEBHOOK_URL`, by Telegram posting
 * to a route of this server. It only turns updates into core calls and core answers into Bot API
 * calls; runs come back to chat through a {@link RunDelivery}.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { autoRetry } from '@grammyjs/auto-retry';
import { Bot, GrammyError } from 'grammy';
import type { Logger } from 'pino';
import type { Config } from '../../config.ts';
import type { Engine } from '../../engine/engine.ts';
import type { ChatAdapter, ChatObserver } from '../adapter.ts';
import { CommandCore } from '../core.ts';
import { DEFAULT_RETRY_DELAYS_MS } from '../retry.ts';
import { RunDelivery, type DeliveryOptions } from '../run-delivery.ts';
import { TaskDelivery } from '../task-delivery.ts';
import { allowList } from './auth.ts';
import { buttons } from './buttons.ts';
import { commands } from './commands.ts';
import { flow } from './flow.ts';
import { TelegramSender } from './sender.ts';
import type { TelegramWebhook } from './webhook.ts';

/** Tuning knobs, mostly for tests. */
export interface TelegramOptions {
  /** Pauses between attempts to post a message (default 1 s, 5 s, 30 s). */
  retryDelaysMs?: readonly number[];
  /** A stranger is refused at most once per this many ms (default 60 s). */
  refusalCooldownMs?: number;
  /** Live cards: clock and spacing of edits (see {@link DeliveryOptions}). */
  delivery?: DeliveryOptions;
  /** Webhook mode: the route Telegram posts to (set with `TELEGRAM_WEBHOOK_URL`); long polling without it. */
  webhook?: TelegramWebhook;
  /** Hears of every message sent (metrics). */
  observer?: ChatObserver;
  /**
   * A user's own bot (a Telegram bot per user): its token (instead of `TELEGRAM_BOT_TOKEN`) and
   * owner. It answers only chat identities linked to `owner`, polls (never a webhook), and leaves
   * subscribed chats and task outcomes to the server's bot.
   */
  own?: { token: string; owner: number };
}

/** The update types the bot asks for (https://core.telegram.org/bots/api#getupdates `allowed_updates`). */
const ALLOWED_UPDATES = ['message', 'callback_query'] as const;

/**
 * Starts the Telegram bot: checks the token (`getMe`) and publishes the command menu
 * (https://core.telegram.org/bots/api#setmycommands) alongside; then long-polls `getUpdates` with
 * `client.apiRoot = TELEGRAM_API_ROOT`, or in webhook mode calls `setWebhook` with the URL and
 * secret token and takes updates from `opts.webhook`'s route. Resolves once updates flow, or after
 * 10 s at most while the API is unreachable (it keeps trying in the background). A 409 Conflict
 * (another process polls with this token) or a refused token is logged as such and not retried.
 * @throws {Error} when `TELEGRAM_BOT_TOKEN` is not set.
 */
export async function startTelegram(engine: Engine, config: Config, logger: Logger, opts: TelegramOptions = {}): Promise<ChatAdapter> {
  const { apiRoot } = config.telegram;
  const own = opts.own;
  const token = own ? own.token : config.telegram.token;
  const allowedUsers = own ? [] : config.telegram.allowedUsers;
  if (!token) throw new Error('startTelegram needs TELEGRAM_BOT_TOKEN');
  const log = logger.child({ component: 'telegram', ...(own ? { owner: own.owner } : {}) });
  if (allowedUsers.length === 0 && !own) {
    log.warn(
      'TELEGRAM_ALLOWED_USERS is empty: only chat users linked by pairing may command the Telegram bot (a stranger gets a pairing code to enter on the dashboard).',
    );
  }

  const abort = new AbortController();
  const bot = new Bot(token, { client: { apiRoot } });
  // 429s wait for `retry_after`; server and network errors are left to the caller (polling and
  // the sender retry those themselves, with logging).
  bot.api.config.use(autoRetry({ maxRetryAttempts: 3, maxDelaySeconds: 120, rethrowInternalServerErrors: true, rethrowHttpErrors: true }));
  const link = watchApi(bot, opts.observer);
  const sender = new TelegramSender(bot.api, { delaysMs: opts.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS, signal: abort.signal, log });
  const delivery = new RunDelivery(engine, sender, log, { ...opts.delivery, ...(own ? { subscribers: false } : {}) });
  const tasks = new TaskDelivery(engine, sender, log);
  const core = new CommandCore(engine, { allowedUsers, allowListVariable: 'TELEGRAM_ALLOWED_USERS', log, canAsk: true, runs: delivery, ...(own ? { owner: own.owner } : {}) });

  bot.use(allowList(core, sender, opts.refusalCooldownMs ?? 60_000));
  bot.use(buttons(core, sender, delivery, log));
  bot.use(commands(core, sender, delivery));
  bot.use(flow(core, sender, delivery));
  bot.catch((err) => log.error({ err: err.error, updateId: err.ctx.update.update_id }, 'a Telegram update could not be handled'));

  delivery.start();
  if (!own) tasks.start();
  let ready!: () => void;
  const started = new Promise<void>((resolve) => (ready = resolve));
  const webhook = own ? undefined : opts.webhook;

  let menu: Promise<void> | undefined;
  const running = (async () => {
    let delay = 1000;
    while (!abort.signal.aborted) {
      try {
        await bot.init(abort.signal as Parameters<Bot['init']>[0]); // grammY retries network errors itself until this succeeds or we stop
        // The menu does not hold up updates: a 429 on it may ask to wait for minutes.
        menu ??= publishCommands(bot, core, log, abort.signal);
        if (abort.signal.aborted) return; // stopped while starting: never take updates after stop()
        if (webhook) {
          webhook.attach(bot);
          await bot.api.setWebhook(webhook.url, { secret_token: webhook.secret, allowed_updates: ALLOWED_UPDATES }, abort.signal as Parameters<Bot['api']['setWebhook']>[2]);
          link.webhookSet = true;
          log.info({ username: bot.botInfo.username, url: webhook.url, allowedUsers: allowedUsers.length }, `Telegram bot @${bot.botInfo.username} takes commands by webhook`);
          ready();
          return;
        }
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
        if (webhook && err instanceof GrammyError && err.method === 'setWebhook' && err.error_code === 400) {
          log.error({ description: err.description, url: webhook.url }, 'Telegram refused TELEGRAM_WEBHOOK_URL; check that it is a public https URL of this server.');
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

  // An unreachable API must not hold up the dashboard: updates flow whenever they can.
  await Promise.race([started, sleep(10_000, undefined, { ref: false })]);
  let stopped: Promise<void> | undefined;
  return {
    status: () => {
      if (webhook) {
        const connected = link.webhookSet && !abort.signal.aborted;
        return { platform: 'telegram', connected, ...(connected ? {} : { detail: 'the webhook is not set' }) };
      }
      return { platform: 'telegram', connected: bot.isRunning() && !link.pollError, ...(link.pollError ? { detail: link.pollError } : bot.isRunning() ? {} : { detail: 'not polling' }) };
    },
    stop() {
      stopped ??= (async () => {
        abort.abort(); // also ends a wait on the API (a 429's retry_after), the menu's request and pending retries
        // The webhook stays set: Telegram keeps the updates until this process (or the next) is back.
        webhook?.detach();
        if (bot.isRunning()) await bot.stop().catch((err: unknown) => log.warn({ err }, 'Telegram: could not confirm the last update while stopping'));
        await running;
        await menu;
        await Promise.all([delivery.stop(), tasks.stop()]);
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
function watchApi(bot: Bot, observer: ChatObserver | undefined): { pollError: string | undefined; webhookSet: boolean } {
  const link: { pollError: string | undefined; webhookSet: boolean } = { pollError: undefined, webhookSet: false };
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
