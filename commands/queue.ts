import { InteractionContextType, MessageFlags, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import type { BotContext } from '../src/bot/bot.ts';
import { queueSummary } from '../src/bot/job-messages.ts';

export function data() {
  return new SlashCommandBuilder()
    .setName('queue')
    .setDescription('What is running, how many jobs wait, your place in line, and the workers online')
    .setContexts(InteractionContextType.Guild);
}

export async function execute(interaction: ChatInputCommandInteraction, context: BotContext): Promise<void> {
  const snapshot = await context.queue.snapshot({ userId: interaction.user.id });
  await interaction.reply({ content: queueSummary(snapshot), flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
}
