import type { MessageContextMenuCommandInteraction } from 'discord.js';
import type { BotContext } from '../src/bot/bot.ts';
import { buildStylizeThisImageCommand, runStylizeThisImage } from '../src/bot/stylize-this-image.ts';

/** A message command (Apps → Stylize this image), built with ContextMenuCommandBuilder. */
export function data() {
  return buildStylizeThisImageCommand();
}

export async function execute(interaction: MessageContextMenuCommandInteraction, context: BotContext): Promise<void> {
  await runStylizeThisImage(interaction, context);
}
