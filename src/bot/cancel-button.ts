import { MessageFlags, PermissionFlagsBits, type ButtonInteraction } from 'discord.js';
import type { BotContext } from './bot-context.ts';
import { CANCEL_PREFIX } from './reply-payload.ts';

/** The Cancel button: the requester, or anyone with Manage Messages, may press it. */
export async function handleCancelButton(interaction: ButtonInteraction, context: BotContext): Promise<void> {
  const jobId = interaction.customId.slice(CANCEL_PREFIX.length);
  const privileged = interaction.memberPermissions?.has(PermissionFlagsBits.ManageMessages) ?? false;
  const result = context.queue.cancel(jobId, { userId: interaction.user.id, privileged });
  context.logger.info({ jobId, by: interaction.user.id, privileged, result }, 'cancel pressed');
  if (result === 'cancelled') {
    // The job's own message edit ("Cancelled") follows through its listener.
    await interaction.deferUpdate();
    return;
  }
  const content =
    result === 'not-allowed'
      ? 'This job is not yours: only the person who asked for it, or a moderator, can cancel it.'
      : 'That job has already finished.';
  await interaction.reply({ content, flags: MessageFlags.Ephemeral });
}
