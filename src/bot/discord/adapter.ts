/**
 * The Discord adapter: a discord.js client (gateway for interactions, REST for answers) over the
 * shared command core. `DISCORD_API_BASE` is its `rest.api`; the gateway URL then comes from
 * `GET /gateway/bot`, as with Discord itself.
 */
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, DiscordAPIError, Events, GatewayIntentBits, RESTEvents, Status } from 'discord.js';
import type { Logger } from 'pino';
import type { Config } from '../../config.ts';
import type { Engine } from '../../engine/engine.ts';
import type { ChatAdapter, ChatObserver } from '../adapter.ts';
import { CommandCore } from '../core.ts';
import { DEFAULT_RETRY_DELAYS_MS } from '../retry.ts';
import { RunDelivery, type DeliveryOptions } from '../run-delivery.ts';
import { TaskDelivery } from '../task-delivery.ts';
import { slashCommands } from './definitions.ts';
import { onAutocomplete, onButton, onChatInput } from './interactions.ts';
import { DiscordSender } from './sender.ts';
import { registerCommands } from './register.ts';

/** Tuning knobs, mostly for tests. */
export interface DiscordOptions {
  /** Pauses between attempts to post a message (default 1 s, 5 s, 30 s). */
  retryDelaysMs?: readonly number[];
  /** Live cards: clock and spacing of edits (see {@link DeliveryOptions}). */
  delivery?: DeliveryOptions;
  /** Hears of every message sent (metrics). */
  observer?: ChatObserver;
}

/**
 * Starts the Discord bot: logs in (https://discord.com/developers/docs/events/gateway#connecting),
 * registers the slash commands for `DISCORD_GUILD_ID` (globally when unset), and answers
 * interactions. Resolves once ready, or after 10 s at most while Discord is unreachable (it keeps
 * trying in the background). A refused token is logged and not retried.
 * @throws {Error} when `DISCORD_BOT_TOKEN` is not set.
 */
export async function startDiscord(engine: Engine, config: Config, logger: Logger, opts: DiscordOptions = {}): Promise<ChatAdapter> {
  const { token, apiBase, guildId, allowedUsers } = config.discord;
  if (!token) throw new Error('startDiscord needs DISCORD_BOT_TOKEN');
  const log = logger.child({ component: 'discord' });
  if (allowedUsers.length === 0) {
    log.warn('DISCORD_ALLOWED_USERS is empty: only chat users linked by pairing may command the Discord bot (a stranger gets a pairing code to enter on the dashboard).');
  }

  // Interactions arrive whatever the intents; Guilds keeps channel caches for replies.
  const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: apiBase } });
  if (opts.observer) countMessages(client, opts.observer);
  const abort = new AbortController();
  const sender = new DiscordSender(client, { delaysMs: opts.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS, signal: abort.signal, log });
  const delivery = new RunDelivery(engine, sender, log, opts.delivery);
  const tasks = new TaskDelivery(engine, sender, log);
  const core = new CommandCore(engine, { allowedUsers, allowListVariable: 'DISCORD_ALLOWED_USERS', log, runs: delivery });

  client.on(Events.InteractionCreate, (i) => {
    const handled = i.isChatInputCommand()
      ? onChatInput(core, delivery, i, log)
      : i.isButton()
        ? onButton(core, delivery, i, log)
        : i.isAutocomplete()
          ? onAutocomplete(core, i)
          : Promise.resolve();
    handled.catch((err: unknown) => log.error({ err, interactionId: i.id }, 'a Discord interaction could not be handled'));
  });
  client.on(Events.Error, (err) => log.error({ err }, 'Discord client error'));

  delivery.start();
  tasks.start();
  const connecting = (async () => {
    let delay = 1000;
    while (!abort.signal.aborted) {
      try {
        const attempt = new AbortController();
        const ready = once(client, Events.ClientReady, { signal: AbortSignal.any([abort.signal, attempt.signal]) });
        // When login fails nobody awaits `ready`; its rejection (on stop or below) must not go
        // unhandled, which would end the process.
        ready.catch(() => {});
        try {
          await client.login(token);
          await ready;
        } finally {
          attempt.abort(); // a failed attempt stops waiting for READY
        }
        const appId = client.application?.id ?? client.user!.id;
        try {
          await registerCommands(client.rest, appId, slashCommands(core.commands), guildId);
          log.info({ guildId: guildId ?? null }, guildId ? `registered the slash commands for guild ${guildId}` : 'registered the slash commands globally');
        } catch (err) {
          log.error({ err }, 'could not register the Discord slash commands');
        }
        log.info({ user: client.user?.tag, allowedUsers: allowedUsers.length }, `Discord bot ${client.user?.tag} is ready for commands`);
        return;
      } catch (err) {
        if (abort.signal.aborted) return;
        if ((err instanceof DiscordAPIError && err.status === 401) || (err as { code?: string }).code === 'TokenInvalid') {
          log.error('Discord refused DISCORD_BOT_TOKEN. Discord commands are off; check the bot token in the Developer Portal.');
          return;
        }
        log.warn({ err, retryInMs: delay }, 'could not connect to Discord; retrying');
        await client.destroy().catch(() => {});
        try {
          await sleep(delay, undefined, { signal: abort.signal });
        } catch {
          return;
        }
        delay = Math.min(delay * 2, 60_000);
      }
    }
  })();

  // An unreachable Discord must not hold up the dashboard.
  await Promise.race([connecting, sleep(10_000, undefined, { ref: false })]);
  let stopped: Promise<void> | undefined;
  return {
    status: () => {
      const connected = client.isReady() && client.ws.shards.every((shard) => shard.status === Status.Ready);
      return { platform: 'discord', connected, ...(connected ? {} : { detail: 'the gateway session is not ready' }) };
    },
    stop() {
      stopped ??= (async () => {
        abort.abort();
        await client.destroy();
        await connecting;
        await Promise.all([delivery.stop(), tasks.stop()]);
        log.info('Discord bot stopped');
      })();
      return stopped;
    },
  };
}

/** Requests that post a message: to a channel (or edit one), an interaction's answer, a follow-up or an edited reply. */
const MESSAGE_ROUTE = /^(post \/channels\/\d+\/messages|patch \/channels\/\d+\/messages\/\d+|post \/interactions\/\d+\/[^/]+\/callback|post \/webhooks\/\d+\/[^/]+|patch \/webhooks\/\d+\/[^/]+\/messages\/@original)$/;

/** Counts messages sent and failed from the REST client's `response` events (one per HTTP response; a request that got none, a network error, is not seen). */
function countMessages(client: Client, observer: ChatObserver): void {
  client.rest.on(RESTEvents.Response, (req, res) => {
    // A 429 is waited out and retried by the client: only its retry's outcome counts.
    if (res.status === 429) return;
    if (MESSAGE_ROUTE.test(`${req.method.toLowerCase()} ${req.path.split('?')[0]}`)) observer.message('discord', res.status < 400 ? 'sent' : 'failed');
  });
}
