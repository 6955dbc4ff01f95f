import type { AutocompleteInteraction, ChatInputCommandInteraction } from 'discord.js';
import type { Config } from '../src/config/index.ts';
import type { BotContext } from '../src/bot/bot.ts';
import { answerStyleAutocomplete } from '../src/bot/style-library.ts';
import { runStylizeCommand } from '../src/bot/stylize-flow.ts';
import { buildStylizeCommand } from '../src/bot/stylize-options.ts';

export function data(config: Config) {
  return buildStylizeCommand(config);
}

export async function execute(interaction: ChatInputCommandInteraction, context: BotContext): Promise<void> {
  await runStylizeCommand(interaction, context);
}

export async function autocomplete(interaction: AutocompleteInteraction, context: BotContext): Promise<void> {
  await answerStyleAutocomplete(interaction, context);
}
