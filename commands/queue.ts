import { InteractionContextType, MessageFlags, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import type { BotContext } from '../src/bot/bot-context.ts';
import { queueSummary } from '../src/bot/queue-summary.ts';

export function data() {
  return new SlashCommandBuilder()
    .setName('queue')
    .setDescription('What is running, how many jobs wait, and your place in line')
    .setContexts(InteractionContextType.Guild);
}

export async function execute(interaction: ChatInputCommandInteraction, context: BotContext): Promise<void> {
  const snapshot = context.queue.snapshot(interaction.user.id);
  await interaction.reply({
    content: queueSummary(snapshot),
    flags: MessageFlags.Ephemeral,
    allowedMentions: { parse: [] },
  });
}
