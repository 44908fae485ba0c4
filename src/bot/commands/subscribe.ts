import type { BotRow } from '../../engine/db/schema.ts';
import { AppError } from '../../engine/errors.ts';
import { POLICY_LABELS, SUBSCRIPTION_POLICIES, type SubscriptionPolicy } from '../../engine/subscriptions.ts';
import { botLabel } from '../format.ts';
import { bold, code, line, type Button, type Message } from '../message.ts';
import type { Command, CommandContext } from './types.ts';

const WHAT: Record<SubscriptionPolicy, string> = {
  all: 'every run of',
  failures: 'the failed runs of',
  new: 'the runs that find new results of',
};

/** Subscribes this chat (its topic, on Telegram) with `policy`; answers with what it now gets and buttons to change it. */
async function subscribe(ctx: CommandContext, bot: BotRow, policy: SubscriptionPolicy | undefined): Promise<Message> {
  const { caller } = ctx;
  const before = await ctx.engine.subscriptions.find(bot.id, caller.platform, caller.chatId);
  const { subscription: sub } = await ctx.engine.subscriptions.subscribe(bot.id, caller.platform, caller.chatId, {
    ...(policy ? { policy } : {}),
    threadId: caller.threadId ?? null,
  });
  const unchanged = before !== undefined && before.policy === sub.policy;
  const buttons: Button[] = SUBSCRIPTION_POLICIES.map((p) => ({
    label: `${p === sub.policy ? '✓ ' : ''}${POLICY_LABELS[p][0]!.toUpperCase()}${POLICY_LABELS[p].slice(1)}`,
    action: `sub:${bot.id}:${p}`,
    style: p === sub.policy ? ('primary' as const) : ('secondary' as const),
  }));
  return {
    blocks: [
      line(`🔔 This chat ${unchanged ? 'already gets' : 'will get'} ${WHAT[sub.policy]} `, bold(botLabel(bot)), ', scheduled, triggered or started anywhere.'),
      line('Mute it for a while with ', code(`/mute ${bot.name} 2h`), '; stop with ', code(`/unsubscribe ${bot.name}`), '.'),
    ],
    buttons: [buttons],
  };
}

/** `/subscribe <bot> [all|failures|new]`: this chat gets the bot's runs, all of them or only failures or new results. */
export const subscribeCommand: Command = {
  name: 'subscribe',
  description: 'Get a bot’s runs in this chat: all, failures only, or new results only',
  params: [
    { name: 'bot', kind: 'bot', required: true, description: 'Which bot' },
    { name: 'policy', kind: 'choice', required: false, description: 'Which runs: all (default), failures or new (results)', choices: SUBSCRIPTION_POLICIES },
  ],
  async run(ctx, args) {
    const bot = await ctx.bot(args.bot);
    if (args.policy && !(SUBSCRIPTION_POLICIES as readonly string[]).includes(args.policy)) {
      throw new AppError('VALIDATION_FAILED', `Which runs: ${SUBSCRIPTION_POLICIES.join(', ')}? Usage: ${ctx.usage('subscribe')}`);
    }
    return subscribe(ctx, bot, args.policy as SubscriptionPolicy | undefined);
  },
  actions: {
    sub: {
      mode: 'replace',
      async run(ctx, args) {
        const [id = '', policy = ''] = args.split(':');
        if (!(SUBSCRIPTION_POLICIES as readonly string[]).includes(policy)) throw new AppError('VALIDATION_FAILED', 'This button no longer works; send /help.');
        return { message: await subscribe(ctx, await ctx.botById(id), policy as SubscriptionPolicy), toast: `🔔 ${POLICY_LABELS[policy as SubscriptionPolicy]}` };
      },
    },
  },
};
