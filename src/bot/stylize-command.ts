import { MessageFlags, type ChatInputCommandInteraction, type Attachment } from 'discord.js';
import { PRESETS } from '../engine/index.ts';
import { isUserFacing } from '../errors/user-facing-error.ts';
import type { BotContext } from './bot-context.ts';
import { admissionRefusal } from './admission.ts';
import { downloadingMessage, failedMessage, queuedMessage } from './job-messages.ts';
import { JobReply } from './job-reply.ts';
import { fetchStylizeImages, type FetchedImages } from './fetch-images.ts';
import { jobListenerFor } from './job-listener.ts';
import {
  InvalidRequestError,
  limitsFor,
  validateStylizeOptions,
  type AttachmentInfo,
  type RawStylizeOptions,
  type StylizeRequestInput,
} from './stylize-request.ts';
import { prepareInputs, settingsFor } from './job-inputs.ts';

/** Discord's default upload limit for bots when an interaction does not say (10 MiB). */
const DEFAULT_ATTACHMENT_LIMIT = 10 * 1024 * 1024;

/**
 * /stylize: validate (ephemeral answers) → defer publicly → download and decode → queue → live edits → result.
 */
export async function runStylizeCommand(interaction: ChatInputCommandInteraction, context: BotContext): Promise<void> {
  const userId = interaction.user.id;
  const logger = context.logger.child({ interaction: interaction.id, userId, guildId: interaction.guildId });

  const limits = limitsFor(context.config, interaction.guildId);
  let input: StylizeRequestInput;
  try {
    input = validateStylizeOptions(readOptions(interaction), limits);
  } catch (error) {
    if (!(error instanceof InvalidRequestError)) throw error;
    await interaction.reply({ content: error.userMessage, flags: MessageFlags.Ephemeral });
    return;
  }
  const refusal = admissionRefusal(context, userId);
  if (refusal) {
    await interaction.reply({ content: refusal, flags: MessageFlags.Ephemeral });
    return;
  }

  context.pendingUsers.set(userId, (context.pendingUsers.get(userId) ?? 0) + 1);
  let images: FetchedImages;
  let reply: JobReply;
  try {
    await interaction.deferReply();
    const original = await interaction.fetchReply();
    reply = new JobReply({
      rest: context.rest,
      applicationId: interaction.applicationId,
      interactionToken: interaction.token,
      tokenIssuedAt: interaction.createdTimestamp,
      channelId: interaction.channelId,
      messageId: original.id,
      userId,
      minProgressIntervalMs: context.config.bot.progressIntervalMs,
      logger,
    });
    reply.show(downloadingMessage());
    try {
      images = await fetchStylizeImages(input, context.config);
    } catch (error) {
      if (!isUserFacing(error)) throw error;
      logger.info({ reason: error.userMessage }, 'request refused after download');
      await reply.finish(failedMessage(undefined, error.userMessage));
      return;
    }
  } finally {
    releasePending(context, userId);
  }

  const attachmentLimit = interaction.attachmentSizeLimit || DEFAULT_ATTACHMENT_LIMIT;
  const state = { jobId: '' };
  const submitted = context.queue.submit(
    {
      userId,
      ...(interaction.guildId ? { guildId: interaction.guildId } : {}),
      size: images.content.width >= images.content.height ? images.content.width : images.content.height,
      iterations: input.iterations ?? Math.min(PRESETS.default.iterations, limits.maxIterations),
      settings: settingsFor(input),
      prepare: (size) => prepareInputs(images, input, size, context.config.images.maxSize),
    },
    jobListenerFor({ reply, state, attachmentLimit, logger, notes: images.notes, track: trackDelivery(context) }),
  );
  if (!submitted.accepted) {
    logger.info({ reason: submitted.reason }, 'queue refused the job after download');
    await interaction.deleteReply().catch(() => undefined);
    await interaction.followUp({ content: submitted.message, flags: MessageFlags.Ephemeral });
    return;
  }
  state.jobId = submitted.job.id;
  if (submitted.job.state === 'queued') reply.show(queuedMessage(submitted.job.id, submitted.job.position ?? 1));
}

function releasePending(context: BotContext, userId: string): void {
  const left = (context.pendingUsers.get(userId) ?? 1) - 1;
  if (left > 0) context.pendingUsers.set(userId, left);
  else context.pendingUsers.delete(userId);
}

function trackDelivery(context: BotContext): (delivery: Promise<void>) => void {
  return (delivery) => {
    context.deliveries.add(delivery);
    void delivery.finally(() => context.deliveries.delete(delivery));
  };
}

function readOptions(interaction: ChatInputCommandInteraction): RawStylizeOptions {
  const o = interaction.options;
  const attachment = (name: string): AttachmentInfo | null => toInfo(o.getAttachment(name));
  return {
    content: attachment('content'),
    style: attachment('style'),
    style2: attachment('style2'),
    style3: attachment('style3'),
    contentWeight: o.getNumber('content_weight'),
    styleWeight: o.getNumber('style_weight'),
    tvWeight: o.getNumber('tv_weight'),
    iterations: o.getInteger('iterations'),
    size: o.getInteger('size'),
    styleBlend: o.getString('style_blend'),
    styleScale: o.getNumber('style_scale'),
    preserveColors: o.getBoolean('preserve_colors'),
    seed: o.getInteger('seed'),
  };
}

function toInfo(attachment: Attachment | null): AttachmentInfo | null {
  if (!attachment) return null;
  return {
    url: attachment.url,
    name: attachment.name,
    size: attachment.size,
    contentType: attachment.contentType,
    width: attachment.width,
    height: attachment.height,
  };
}
