import { MessageFlags, type ChatInputCommandInteraction } from 'discord.js';
import { PRESETS } from '../engine/index.ts';
import type { Logger } from '../log/logger.ts';
import { admissionRefusal } from './admission.ts';
import type { BotContext } from './bot-context.ts';
import { trackDelivery } from './deliveries.ts';
import { prepareInputs, settingsFor } from './job-inputs.ts';
import { jobListenerFor } from './job-listener.ts';
import { cancelledMessage, queuedMessage } from './job-messages.ts';
import { publishAndFetch, type PreparedRequest } from './prepare-request.ts';
import { newReferenceId, RequestFailure } from './reference-id.ts';
import { readStylizeOptions } from './stylize-options.ts';
import {
  InvalidRequestError,
  limitsFor,
  validateStylizeOptions,
  type RequestLimits,
  type StylizeRequestInput,
} from './stylize-request.ts';

/** Discord's default upload limit for bots when an interaction does not say (10 MiB). */
const DEFAULT_ATTACHMENT_LIMIT = 10 * 1024 * 1024;

/**
 * /stylize: validate (ephemeral answers) → defer publicly → download and decode → queue → live edits → result.
 */
export async function runStylizeCommand(interaction: ChatInputCommandInteraction, context: BotContext): Promise<void> {
  const requestId = newReferenceId(context.queue);
  try {
    await stylize(interaction, context, requestId);
  } catch (error) {
    throw new RequestFailure(requestId, error);
  }
}

async function stylize(interaction: ChatInputCommandInteraction, context: BotContext, requestId: string): Promise<void> {
  const userId = interaction.user.id;
  const where = { interaction: interaction.id, userId, guildId: interaction.guildId };
  const logger = context.logger.child({ jobId: requestId, ...where });

  const limits = limitsFor(context.config, interaction.guildId);
  let input: StylizeRequestInput;
  try {
    input = validateStylizeOptions(readStylizeOptions(interaction), limits);
  } catch (error) {
    if (!(error instanceof InvalidRequestError)) throw error;
    logger.info({ reason: error.userMessage }, 'request refused');
    await interaction.reply({ content: error.userMessage, flags: MessageFlags.Ephemeral });
    return;
  }
  const refusal = admissionRefusal(context, userId);
  if (refusal) {
    logger.info({ reason: refusal }, 'request refused by the queue limits');
    await interaction.reply({ content: refusal, flags: MessageFlags.Ephemeral });
    return;
  }

  const prepared = await context.preparing.run(userId, (signal) =>
    publishAndFetch({ interaction, context, input, jobId: requestId, logger, signal }),
  );
  if (prepared) await submitJob({ interaction, context, input, limits, prepared, requestId, logger, where });
}

interface SubmitOptions {
  interaction: ChatInputCommandInteraction;
  context: BotContext;
  input: StylizeRequestInput;
  limits: RequestLimits;
  prepared: PreparedRequest;
  requestId: string;
  logger: Logger;
  where: Record<string, unknown>;
}

async function submitJob(options: SubmitOptions): Promise<void> {
  const { interaction, context, input, limits, prepared, requestId, logger } = options;
  const { reply, images } = prepared;
  const track = (delivery: Promise<void>) => trackDelivery(context.deliveries, delivery);
  const state = { jobId: requestId, logger };
  const submitted = context.queue.submit(
    {
      userId: interaction.user.id,
      ...(interaction.guildId ? { guildId: interaction.guildId } : {}),
      size: Math.max(images.content.width, images.content.height),
      iterations: input.iterations ?? Math.min(PRESETS.default.iterations, limits.maxIterations),
      settings: settingsFor(input),
      prepare: (size) => prepareInputs(images, input, size, context.config.images.maxSize),
    },
    jobListenerFor({
      reply,
      state,
      attachmentLimit: interaction.attachmentSizeLimit || DEFAULT_ATTACHMENT_LIMIT,
      notes: images.notes,
      track,
    }),
  );
  if (!submitted.accepted) {
    logger.info({ reason: submitted.reason }, 'queue refused the job after download');
    if (submitted.reason === 'shutting-down') {
      track(reply.finish(cancelledMessage(requestId, 'shutdown')));
      return;
    }
    // A limit reached while downloading: like the refusals before the defer, it is told privately.
    await reply.stop();
    await interaction.deleteReply().catch((error: unknown) => logger.warn({ err: error }, 'could not delete the reply'));
    await interaction
      .followUp({ content: submitted.message, flags: MessageFlags.Ephemeral })
      .catch((error: unknown) => logger.warn({ err: error }, 'could not send the refusal'));
    return;
  }
  const { job } = submitted;
  // From here on the queue's id names the job, in messages and in the queue's own log lines.
  state.jobId = job.id;
  state.logger = context.logger.child({ jobId: job.id, ref: requestId, ...options.where });
  reply.useLogger(state.logger);
  state.logger.info('job submitted');
  if (job.state === 'queued') reply.show(queuedMessage(job.id, job.position ?? 1));
}
