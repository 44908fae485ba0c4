import { Routes, type REST, type RESTPostAPIChatInputApplicationCommandsJSONBody } from 'discord.js';

/**
 * Registers the slash commands, replacing the application's previous set: for one guild when
 * `guildId` is given (they show at once), else globally (Discord may take a while to show them).
 * Bulk overwrite: https://discord.com/developers/docs/interactions/application-commands#bulk-overwrite-guild-application-commands
 * and https://discord.com/developers/docs/interactions/application-commands#bulk-overwrite-global-application-commands
 */
export async function registerCommands(
  rest: REST,
  applicationId: string,
  commands: RESTPostAPIChatInputApplicationCommandsJSONBody[],
  guildId?: string,
): Promise<void> {
  const route = guildId ? Routes.applicationGuildCommands(applicationId, guildId) : Routes.applicationCommands(applicationId);
  await rest.put(route, { body: commands });
}
