import type { ChatInputCommandInteraction } from 'discord.js';
import { isUserFacing } from '../errors/user-facing-error.ts';
import type { Logger } from '../log/logger.ts';
import type { BotContext } from './bot-context.ts';
import { trackDelivery } from './deliveries.ts';
import { fetchStylizeImages, type FetchedImages } from './fetch-images.ts';
import { cancelledMessage, downloadingMessage, failedMessage, INTERNAL_ERROR_TEXT } from './job-messages.ts';
import { JobReply } from './job-reply.ts';
import type { StylizeRequestInput } from './stylize-request.ts';

export interface PreparedRequest {
  reply: JobReply;
  images: FetchedImages;
}

export interface PrepareOptions {
  interaction: ChatInputCommandInteraction;
  context: BotContext;
  input: StylizeRequestInput;
  /** The request's id until the queue names the job; in every message and log line of this phase. */
  jobId: string;
  logger: Logger;
  /** Aborts at shutdown. */
  signal: AbortSignal;
}

/**
 * Makes the request public (deferred reply) and fetches its images. Whenever it returns undefined, the public
 * reply has already been given its last word: why it failed, or that the bot is restarting.
 */
export async function publishAndFetch(options: PrepareOptions): Promise<PreparedRequest | undefined> {
  const { interaction, context, input, jobId, logger, signal } = options;
  const track = (delivery: Promise<void>) => trackDelivery(context.deliveries, delivery);
  try {
    await interaction.deferReply();
  } catch (error) {
    // Nothing public exists, and an interaction that cannot be acknowledged cannot be answered either.
    logger.error({ err: error }, 'could not acknowledge /stylize');
    return undefined;
  }
  let messageId: string | undefined;
  let fetchReplyError: unknown;
  try {
    messageId = (await interaction.fetchReply()).id;
  } catch (error) {
    fetchReplyError = error;
  }
  const reply = new JobReply({
    rest: context.rest,
    applicationId: interaction.applicationId,
    interactionToken: interaction.token,
    tokenIssuedAt: interaction.createdTimestamp,
    channelId: interaction.channelId,
    messageId,
    userId: interaction.user.id,
    minProgressIntervalMs: context.config.bot.progressIntervalMs,
    logger,
  });
  if (fetchReplyError !== undefined) {
    logger.error({ err: fetchReplyError }, 'could not read back the public reply');
    track(reply.finish(failedMessage(jobId, INTERNAL_ERROR_TEXT)));
    return undefined;
  }

  const onShutdown = () => {
    logger.info('shutdown while preparing the request');
    track(reply.finish(cancelledMessage(jobId, 'shutdown')));
  };
  if (signal.aborted) {
    onShutdown();
    return undefined;
  }
  signal.addEventListener('abort', onShutdown, { once: true });
  reply.show(downloadingMessage());
  try {
    const images = await fetchStylizeImages(input, context.config, signal);
    return signal.aborted ? undefined : { reply, images };
  } catch (error) {
    if (signal.aborted) return undefined;
    if (isUserFacing(error)) {
      logger.info({ reason: error.userMessage, err: error }, 'request refused after download');
      track(reply.finish(failedMessage(jobId, error.userMessage)));
    } else {
      logger.error({ err: error }, 'preparing the request failed');
      track(reply.finish(failedMessage(jobId, INTERNAL_ERROR_TEXT)));
    }
    return undefined;
  } finally {
    signal.removeEventListener('abort', onShutdown);
  }
}
