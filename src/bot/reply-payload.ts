import { ActionRowBuilder, ButtonBuilder, ButtonStyle } from 'discord.js';
import type { RawFile } from 'discord.js';

/** What one state of a job's message shows. */
export interface ReplyPayload {
  content: string;
  /** Replaces any earlier attachment; without it the message has none. */
  file?: { name: string; data: Buffer; contentType: string };
  /** Shows a Cancel button for this job id. */
  cancelJobId?: string;
}

export const CANCEL_PREFIX = 'cancel:';

export function cancelButtonRow(jobId: string): ActionRowBuilder<ButtonBuilder> {
  return new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder().setCustomId(`${CANCEL_PREFIX}${jobId}`).setLabel('Cancel').setStyle(ButtonStyle.Danger),
  );
}

/**
 * The same JSON body and files serve the interaction webhook route and the channel-message route, so a job's
 * message looks the same whichever route delivers it. `attachments` lists exactly the new file, which drops
 * any earlier preview.
 */
export function toRestMessage(
  payload: ReplyPayload,
  mention?: { userId: string },
): { body: Record<string, unknown>; files: RawFile[] } {
  const content = mention ? `<@${mention.userId}> ${payload.content}` : payload.content;
  return {
    body: {
      content,
      components: payload.cancelJobId ? [cancelButtonRow(payload.cancelJobId).toJSON()] : [],
      attachments: payload.file ? [{ id: 0, filename: payload.file.name }] : [],
      allowed_mentions: mention ? { parse: [], users: [mention.userId] } : { parse: [] },
    },
    files: payload.file
      ? [{ key: 'files[0]', name: payload.file.name, data: payload.file.data, contentType: payload.file.contentType }]
      : [],
  };
}
