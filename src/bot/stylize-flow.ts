import {
  MessageFlags,
  PermissionFlagsBits,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
} from 'discord.js';
import { isUserFacing } from '../errors/user-facing-error.ts';
import type { Logger } from '../log/logger.ts';
import type { JobInput, Reservation } from '../queue/contract.ts';
import { fetchStylizeImages, type FetchedImages } from './attachments.ts';
import type { BotContext } from './bot.ts';
import {
  CANCEL_PREFIX,
  cancelledMessage,
  downloadingMessage,
  failedMessage,
  INTERNAL_ERROR_TEXT,
} from './job-messages.ts';
import type { Delivery, JobReply } from './job-reply.ts';
import {
  InvalidRequestError,
  limitsFor,
  readStylizeOptions,
  validateStylizeOptions,
  type StylizeChoices,
} from './stylize-options.ts';

/**
 * One /stylize request, from the interaction to the queue:
 * validate (private answers) → reserve a place in the queue (private refusal) → defer publicly → download and
 * decode → submit. From there the queue's events edit the public reply (job-reply.ts), wherever the job runs.
 */

/** Discord's default upload limit for bots when an interaction does not say (10 MiB). */
const DEFAULT_ATTACHMENT_LIMIT = 10 * 1024 * 1024;

/** An error that escaped a request which already has an id, so that the router names it with that same id. */
export class RequestFailure extends Error {
  readonly jobId: string;

  constructor(jobId: string, cause: unknown) {
    super(`request ${jobId} failed`, { cause });
    this.name = 'RequestFailure';
    this.jobId = jobId;
  }
}

export async function runStylizeCommand(interaction: ChatInputCommandInteraction, context: BotContext): Promise<void> {
  const userId = interaction.user.id;
  const guildId = interaction.guildId ?? undefined;
  const where = { interaction: interaction.id, userId, guildId };
  let choices: StylizeChoices;
  try {
    choices = validateStylizeOptions(readStylizeOptions(interaction), limitsFor(context.config, guildId));
  } catch (error) {
    if (!(error instanceof InvalidRequestError)) throw error;
    context.logger.info({ ...where, reason: error.userMessage }, 'request refused');
    await interaction.reply({ content: error.userMessage, flags: MessageFlags.Ephemeral });
    return;
  }
  const reserved = await context.queue.reserve({ userId, guildId });
  if (!('jobId' in reserved)) {
    context.logger.info({ ...where, reason: reserved.reason }, 'request refused by the queue');
    await interaction.reply({ content: reserved.message, flags: MessageFlags.Ephemeral });
    return;
  }
  const logger = context.logger.child({ jobId: reserved.jobId, ...where });
  try {
    await context.preparing.run((signal) => publishFetchAndSubmit({ interaction, context, choices, reserved, logger, signal }));
  } catch (error) {
    await context.queue.release(reserved).catch(() => undefined);
    throw new RequestFailure(reserved.jobId, error);
  }
}

interface RequestState {
  interaction: ChatInputCommandInteraction;
  context: BotContext;
  choices: StylizeChoices;
  reserved: Reservation;
  logger: Logger;
  /** Aborts at shutdown. */
  signal: AbortSignal;
}

async function publishFetchAndSubmit(state: RequestState): Promise<void> {
  const { interaction, context, reserved, logger } = state;
  const { jobId } = reserved;
  try {
    await interaction.deferReply();
  } catch (error) {
    // Nothing public exists, and an interaction that cannot be acknowledged cannot be answered either.
    logger.error({ err: error }, 'could not acknowledge /stylize');
    await context.queue.release(reserved);
    return;
  }
  let messageId: string | undefined;
  let fetchReplyError: unknown;
  try {
    messageId = (await interaction.fetchReply()).id;
  } catch (error) {
    fetchReplyError = error;
  }
  const delivery: Delivery = {
    applicationId: interaction.applicationId,
    interactionToken: interaction.token,
    tokenIssuedAt: interaction.createdTimestamp,
    channelId: interaction.channelId,
    messageId,
    userId: interaction.user.id,
    notes: [],
  };
  const reply = context.messages.open(jobId, delivery, logger);
  const giveUp = async (payload: Parameters<JobReply['finish']>[0]) => {
    context.messages.close(jobId);
    await context.queue.release(reserved);
    await reply.finish(payload);
  };
  if (fetchReplyError !== undefined) {
    logger.error({ err: fetchReplyError }, 'could not read back the public reply');
    return giveUp(failedMessage(jobId, INTERNAL_ERROR_TEXT));
  }

  reply.show(downloadingMessage());
  let images: FetchedImages;
  try {
    images = await fetchStylizeImages(state.choices, context.config, state.signal);
  } catch (error) {
    if (state.signal.aborted) {
      logger.info('shutdown while preparing the request');
      return giveUp(cancelledMessage(jobId, 'shutdown'));
    }
    if (!isUserFacing(error)) {
      logger.error({ err: error }, 'preparing the request failed');
      return giveUp(failedMessage(jobId, INTERNAL_ERROR_TEXT));
    }
    logger.info({ reason: error.userMessage, err: error }, 'request refused after download');
    return giveUp(failedMessage(jobId, error.userMessage));
  }
  if (state.signal.aborted) return giveUp(cancelledMessage(jobId, 'shutdown'));

  const { choices } = state;
  const input: JobInput = {
    content: images.content,
    styles: images.styles.map((image, index) => ({ image, weight: choices.blend[index] ?? 1 })),
    settings: choices.settings,
    size: Math.max(images.content.width, images.content.height),
    iterations: choices.iterations,
    resultMaxBytes: interaction.attachmentSizeLimit || DEFAULT_ATTACHMENT_LIMIT,
  };
  const submitted = await context.queue.submit(reserved, input, { ...delivery, notes: images.notes });
  if (submitted.accepted) {
    logger.info({ position: submitted.position }, 'job submitted');
    return;
  }
  logger.info({ reason: submitted.reason }, 'queue refused the job after download');
  context.messages.close(jobId);
  if (submitted.reason === 'shutting-down') return reply.finish(cancelledMessage(jobId, 'shutdown'));
  // A limit reached while downloading (a lapsed reservation): like the refusals before the defer, told privately.
  await reply.stop();
  await interaction.deleteReply().catch((error: unknown) => logger.warn({ err: error }, 'could not delete the reply'));
  await interaction
    .followUp({ content: submitted.message, flags: MessageFlags.Ephemeral })
    .catch((error: unknown) => logger.warn({ err: error }, 'could not send the refusal'));
}

/** The Cancel button: the requester, or anyone with Manage Messages, may press it. */
export async function handleCancelButton(interaction: ButtonInteraction, context: BotContext): Promise<void> {
  const jobId = interaction.customId.slice(CANCEL_PREFIX.length);
  const privileged = interaction.memberPermissions?.has(PermissionFlagsBits.ManageMessages) ?? false;
  const result = await context.queue.cancel(jobId, { userId: interaction.user.id, privileged });
  context.logger.info({ jobId, by: interaction.user.id, privileged, result }, 'cancel pressed');
  if (result === 'cancelled') {
    // The job's own message edit ("Cancelled") follows through its events.
    await interaction.deferUpdate();
    return;
  }
  const content =
    result === 'not-allowed'
      ? 'This job is not yours: only the person who asked for it, or a moderator, can cancel it.'
      : 'That job has already finished.';
  await interaction.reply({ content, flags: MessageFlags.Ephemeral });
}

/**
 * Requests between their public reply and the queue (downloading, decoding). Their places are held by queue
 * reservations; shutdown stops them here: their signal aborts, and each tells its user itself.
 */
export class Preparations {
  readonly #running = new Map<AbortController, Promise<unknown>>();
  #stopped = false;

  get size(): number {
    return this.#running.size;
  }

  async run<T>(prepare: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    if (this.#stopped) controller.abort();
    const running = prepare(controller.signal);
    this.#running.set(controller, running);
    try {
      return await running;
    } finally {
      this.#running.delete(controller);
    }
  }

  /** Aborts every request being prepared, and any that starts later; resolves when they have all returned. */
  async stopAll(): Promise<void> {
    this.#stopped = true;
    for (const controller of this.#running.keys()) controller.abort();
    await Promise.allSettled([...this.#running.values()]);
  }
}
