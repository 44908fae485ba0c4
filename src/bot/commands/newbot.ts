import { botButtons, botLabel } from '../format.ts';
import { bold, code, line, type Message } from '../message.ts';
import type { Caller, Command } from './types.ts';
import type { Engine } from '../../engine/engine.ts';
import { AppError } from '../../engine/errors.ts';
import { suggestedModels } from '../../engine/providers/models.ts';

/**
 * `/newbot <name> <prompt…>` creates a bot and subscribes this chat to it. Without arguments
 * (Telegram) it asks for the name, then the prompt.
 */
export const newbotCommand: Command = {
  name: 'newbot',
  description: 'Create a bot: /newbot <name> <prompt>',
  params: [
    { name: 'name', kind: 'word', required: true, description: 'The new bot’s name (quote it when it has spaces)' },
    { name: 'prompt', kind: 'text', required: true, description: 'What the bot should do: its instructions' },
  ],
  run(ctx, args) {
    if (!args.name || !args.prompt) {
      const flow = ctx.startNewBotFlow(args.name);
      if (flow) return flow;
      throw new AppError('VALIDATION_FAILED', `A new bot needs a name and a prompt. Usage: ${ctx.usage('newbot')}`);
    }
    return createBotFromChat(ctx.engine, ctx.caller, args.name, args.prompt);
  },
};

/**
 * Creates a bot and subscribes the chat that asked for it, so its results come back there. The bot
 * gets the first suggested model of a configured provider (OpenAI, then Anthropic), else `echo`;
 * the dashboard changes it.
 * @throws {AppError} VALIDATION_FAILED, BOT_NAME_TAKEN
 */
export function createBotFromChat(engine: Engine, caller: Caller, name: string, prompt: string): Message {
  const model = suggestedModels(engine.config).find((m) => m !== 'echo') ?? 'echo';
  const bot = engine.createBot({ name, prompt, model });
  engine.subscriptions.subscribe(bot.id, caller.platform, caller.chatId);
  return {
    blocks: [
      line('✅ Created ', bold(botLabel(bot)), ` (model ${bot.model}).`),
      line('Its results will come to this chat. Run it with ', code(`/run ${bot.name}`), ' or schedule it: ', code(`/schedule ${bot.name} every 30m`)),
    ],
    buttons: [botButtons(bot)],
  };
}
