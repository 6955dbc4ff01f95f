import { Routes, type REST, type RESTGetCurrentApplicationResult } from 'discord.js';
import type { Config } from '../config/index.ts';
import type { CommandModule } from './command-module.ts';

export interface RegistrationResult {
  scope: 'guild' | 'global';
  guildId: string | undefined;
  names: string[];
}

/**
 * Registers (overwrites) the slash commands: in one guild when DISCORD_GUILD_ID is set, which is instant, or
 * globally otherwise.
 */
export async function registerCommands(
  rest: REST,
  config: Config,
  commands: ReadonlyMap<string, CommandModule>,
): Promise<RegistrationResult> {
  const applicationId = config.discord.applicationId ?? (await fetchApplicationId(rest));
  const body = [...commands.values()].map((command) => command.data(config).toJSON());
  const guildId = config.discord.guildId;
  const route = guildId
    ? Routes.applicationGuildCommands(applicationId, guildId)
    : Routes.applicationCommands(applicationId);
  await rest.put(route, { body });
  return { scope: guildId ? 'guild' : 'global', guildId, names: body.map((c) => c.name) };
}

async function fetchApplicationId(rest: REST): Promise<string> {
  const application = (await rest.get(Routes.currentApplication())) as RESTGetCurrentApplicationResult;
  return application.id;
}
