import {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  type APIApplicationCommandOption,
  type RESTPostAPIChatInputApplicationCommandsJSONBody,
} from 'discord.js';
import type { Command, Param } from '../commands/types.ts';

/**
 * The slash-command definition of a chat command
 * (https://discord.com/developers/docs/interactions/application-commands#application-command-object):
 * every param a string option with the same name; `bot` and `target` autocomplete from the bot
 * names, `pipeline` from the pipeline names, choices are offered as such. Discord wants required options first, so they are sorted so.
 */
export function slashCommandOf(c: Command): RESTPostAPIChatInputApplicationCommandsJSONBody {
  const options = [...c.params].sort((a, b) => Number(b.required) - Number(a.required)).map(optionOf);
  return {
    type: ApplicationCommandType.ChatInput,
    name: c.name,
    description: c.description.slice(0, 100),
    ...(options.length ? { options } : {}),
  };
}

function optionOf(p: Param): APIApplicationCommandOption {
  return {
    type: ApplicationCommandOptionType.String as const,
    name: p.name,
    description: p.description.slice(0, 100),
    required: p.required,
    ...(p.kind === 'bot' || p.kind === 'pipeline' ? { autocomplete: true } : {}),
    ...(p.kind === 'choice' && p.choices ? { choices: p.choices.map((v) => ({ name: v, value: v })) } : {}),
    ...(p.kind === 'text' ? { max_length: 6000 } : {}),
  } as APIApplicationCommandOption;
}

/** The slash commands to register: every command that is not hidden. */
export function slashCommands(commands: readonly Command[]): RESTPostAPIChatInputApplicationCommandsJSONBody[] {
  return commands.filter((c) => !c.hidden).map(slashCommandOf);
}
