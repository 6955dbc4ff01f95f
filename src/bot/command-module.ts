import type { ChatInputCommandInteraction, RESTPostAPIChatInputApplicationCommandsJSONBody } from 'discord.js';
import type { Config } from '../config/index.ts';
import type { BotContext } from './bot-context.ts';

/**
 * The shape of every module in commands/, as in the discord.js guide: `data` describes the command (built with
 * SlashCommandBuilder; a function of the config because option ranges follow the server's limits) and
 * `execute` runs it.
 */
export interface CommandModule {
  data(config: Config): { name: string; toJSON(): RESTPostAPIChatInputApplicationCommandsJSONBody };
  execute(interaction: ChatInputCommandInteraction, context: BotContext): Promise<void>;
}

export function isCommandModule(value: unknown): value is CommandModule {
  const candidate = value as Partial<CommandModule> | null;
  return typeof candidate?.data === 'function' && typeof candidate.execute === 'function';
}
