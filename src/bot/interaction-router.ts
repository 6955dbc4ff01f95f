import { MessageFlags, type Interaction, type RepliableInteraction } from 'discord.js';
import { isUserFacing } from '../errors/user-facing-error.ts';
import type { BotContext } from './bot-context.ts';
import { handleCancelButton } from './cancel-button.ts';
import type { CommandModule } from './command-module.ts';
import { INTERNAL_ERROR_TEXT } from './job-messages.ts';
import { newReferenceId, RequestFailure } from './reference-id.ts';
import { CANCEL_PREFIX } from './reply-payload.ts';

/** Sends each interaction to its command or button handler; nothing a handler throws escapes. */
export function createInteractionHandler(
  commands: ReadonlyMap<string, CommandModule>,
  context: BotContext,
): (interaction: Interaction) => Promise<void> {
  return async (interaction) => {
    try {
      if (interaction.isChatInputCommand()) {
        const command = commands.get(interaction.commandName);
        if (!command) {
          await interaction.reply({ content: 'I do not know that command any more.', flags: MessageFlags.Ephemeral });
          return;
        }
        await command.execute(interaction, context);
      } else if (interaction.isButton() && interaction.customId.startsWith(CANCEL_PREFIX)) {
        await handleCancelButton(interaction, context);
      }
    } catch (thrown) {
      // The id shown to the user, and under which the log has the detail.
      const { jobId, error } =
        thrown instanceof RequestFailure
          ? { jobId: thrown.jobId, error: thrown.cause }
          : { jobId: newReferenceId(context.queue), error: thrown };
      context.logger.error({ err: error, jobId, interaction: interaction.id }, 'interaction handler failed');
      if (interaction.isRepliable()) await tellUser(interaction, error, jobId);
    }
  };
}

async function tellUser(interaction: RepliableInteraction, error: unknown, jobId: string): Promise<void> {
  const text = isUserFacing(error) ? error.userMessage : INTERNAL_ERROR_TEXT;
  const content = `${text} · job \`${jobId}\``;
  try {
    if (interaction.replied || interaction.deferred) await interaction.followUp({ content, flags: MessageFlags.Ephemeral });
    else await interaction.reply({ content, flags: MessageFlags.Ephemeral });
  } catch {
    // The interaction may have expired; the log already has the detail.
  }
}
