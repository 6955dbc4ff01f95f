import type { AutocompleteInteraction, ChatInputCommandInteraction } from 'discord.js';
import type { Config } from '../src/config/index.ts';
import type { BotContext } from '../src/bot/bot.ts';
import { answerStyleAutocomplete, buildStylesCommand, runStylesCommand } from '../src/bot/style-library.ts';

export function data(config: Config) {
  return buildStylesCommand(config);
}

export async function execute(interaction: ChatInputCommandInteraction, context: BotContext): Promise<void> {
  await runStylesCommand(interaction, context);
}

export async function autocomplete(interaction: AutocompleteInteraction, context: BotContext): Promise<void> {
  await answerStyleAutocomplete(interaction, context);
}
