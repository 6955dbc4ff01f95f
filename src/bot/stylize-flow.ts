import {
  MessageFlags,
  PermissionFlagsBits,
  Routes,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type StringSelectMenuInteraction,
  type RepliableInteraction,
  type RESTPostAPIChannelMessageResult,
} from 'discord.js';
import { isUserFacing } from '../errors/user-facing-error.ts';
import type { Logger } from '../log/logger.ts';
import type { JobInput, Reservation } from '../queue/contract.ts';
import type { BotContext } from './bot.ts';
import { keptRecord, loadRecipeImages, randomSeed, type RecipeImages, type Recipe, type RecipeStyle } from './job-images.ts';
import {
  CANCEL_PREFIX,
  cancelledMessage,
  downloadingMessage,
  failedMessage,
  INTERNAL_ERROR_TEXT,
  preparingMessage,
  toRestMessage,
  type JobAbout,
} from './job-messages.ts';
import type { Delivery, JobReply } from './job-reply.ts';
import { styleTitle, styleValue, type StyleLibrary } from './style-library.ts';
import {
  InvalidRequestError,
  limitsFor,
  nextSize,
  readStylizeOptions,
  validateStylizeOptions,
  type StylizeChoices,
} from './stylize-options.ts';

/**
 * One request, from the interaction to the queue, whichever way it came (/stylize, a remix button, "Stylize this
 * image"): validate (private answers) → reserve a place in the queue (private refusal) → publish the job's message
 * → download, read and decode the images → keep them for remixing → submit. From there the queue's events edit the
 * public message (job-reply.ts), wherever the job runs.
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
  const guildId = interaction.guildId ?? undefined;
  let recipe: Recipe;
  try {
    const choices = validateStylizeOptions(readStylizeOptions(interaction), limitsFor(context.config, guildId));
    recipe = recipeFromChoices(choices, guildId, context.styles);
  } catch (error) {
    if (!(error instanceof InvalidRequestError)) throw error;
    context.logger.info({ interaction: interaction.id, userId: interaction.user.id, guildId, reason: error.userMessage }, 'request refused');
    await interaction.reply({ content: error.userMessage, flags: MessageFlags.Ephemeral });
    return;
  }
  await runStylizeRequest(interactionEntry(interaction), recipe, {}, context);
}

/** A validated /stylize as a recipe: the preset found in the style library, a seed chosen when none was given. */
export function recipeFromChoices(choices: StylizeChoices, guildId: string | undefined, library: StyleLibrary): Recipe {
  const styles: RecipeStyle[] = [];
  let preset: string | undefined;
  if (choices.preset !== undefined) {
    const named = library.find(guildId, choices.preset);
    if (!named) {
      throw new InvalidRequestError(
        `There is no style called “${choices.preset.slice(0, 100)}”. Pick one from the preset list, or see /styles list.`,
      );
    }
    preset = styleValue(named);
    styles.push({ source: { kind: 'named', style: named }, weight: choices.blend[0] ?? 1, title: styleTitle(named) });
  }
  for (const attachment of choices.styles) {
    styles.push({ source: { kind: 'upload', attachment }, weight: choices.blend[styles.length] ?? 1, title: uploadTitle(attachment.name) });
  }
  return {
    guildId,
    content: { kind: 'upload', attachment: choices.content },
    styles,
    preset,
    size: choices.size,
    iterations: choices.iterations,
    styleScale: choices.styleScale,
    settings: { ...choices.settings, seed: choices.settings.seed ?? randomSeed() },
  };
}

/** "uploaded image “art.png”", with the name stripped of anything that could format or mention. */
export function uploadTitle(fileName: string): string {
  const safe = fileName.replace(/[^\p{L}\p{N} ._()-]/gu, '').trim().slice(0, 40);
  return safe ? `uploaded image “${safe}”` : 'an uploaded image';
}

/**
 * How a request meets Discord: where private answers go before anything is public, and how its public message is
 * made. /stylize and the remix buttons answer with their own interaction's response; "Stylize this image" posts
 * a reply to the message whose image it uses.
 */
export interface RequestEntry {
  interaction: RepliableInteraction;
  /** Answers privately; nothing public exists yet. */
  refuse(text: string): Promise<void>;
  /**
   * Makes the public message showing `first`. Undefined when it could not (logged, and the user told if that is
   * still possible); `problem` when it exists but cannot be followed (the request then ends with an error there).
   */
  publish(first: string, logger: Logger): Promise<Publication | undefined>;
}

export interface Publication {
  delivery: Omit<Delivery, 'notes' | 'about'>;
  problem?: unknown;
  /** Takes the public message back and says `text` privately instead (a refusal that came after the download). */
  withdraw(text: string, logger: Logger): Promise<void>;
}

/** The interaction's own response is the job's message (/stylize, a remix button). */
export function interactionEntry(interaction: ChatInputCommandInteraction | ButtonInteraction): RequestEntry {
  return {
    interaction,
    refuse: async (text) => void (await interaction.reply({ content: text, flags: MessageFlags.Ephemeral })),
    async publish(_first, logger) {
      try {
        await interaction.deferReply();
      } catch (error) {
        // Nothing public exists, and an interaction that cannot be acknowledged cannot be answered either.
        logger.error({ err: error }, 'could not acknowledge the request');
        return undefined;
      }
      let messageId: string | undefined;
      let problem: unknown;
      try {
        messageId = (await interaction.fetchReply()).id;
      } catch (error) {
        logger.error({ err: error }, 'could not read back the public reply');
        problem = error;
      }
      return {
        delivery: {
          applicationId: interaction.applicationId,
          interactionToken: interaction.token,
          tokenIssuedAt: interaction.createdTimestamp,
          channelId: interaction.channelId,
          messageId,
          userId: interaction.user.id,
        },
        ...(problem !== undefined && { problem }),
        async withdraw(text, log) {
          await interaction.deleteReply().catch((error: unknown) => log.warn({ err: error }, 'could not delete the reply'));
          await interaction
            .followUp({ content: text, flags: MessageFlags.Ephemeral })
            .catch((error: unknown) => log.warn({ err: error }, 'could not send the refusal'));
        },
      };
    },
  };
}

/**
 * The job's message is a reply (through the channel) to another message, e.g. the one whose image is used; the
 * private message of the component that asked (`interaction`) then points to it.
 */
export function channelReplyEntry(
  interaction: StringSelectMenuInteraction,
  context: BotContext,
  target: { channelId: string; messageId: string },
): RequestEntry {
  const { rest } = context;
  return {
    interaction,
    refuse: async (text) => void (await interaction.update({ content: text, components: [] })),
    async publish(first, logger) {
      try {
        await interaction.deferUpdate();
      } catch (error) {
        logger.error({ err: error }, 'could not acknowledge the request');
        return undefined;
      }
      let posted: RESTPostAPIChannelMessageResult;
      try {
        const { body } = toRestMessage({ content: first });
        posted = (await rest.post(Routes.channelMessages(target.channelId), {
          body: { ...body, message_reference: { message_id: target.messageId, fail_if_not_exists: false } },
        })) as RESTPostAPIChannelMessageResult;
      } catch (error) {
        logger.warn({ err: error }, 'could not post the reply in the channel');
        await interaction
          .editReply({ content: 'I cannot post in this channel, so I could not start. Please ask an admin to let me send messages here.', components: [] })
          .catch(() => undefined);
        return undefined;
      }
      const link = `https://discord.com/channels/${interaction.guildId ?? '@me'}/${target.channelId}/${posted.id}`;
      await interaction
        .editReply({ content: `Your image is on its way: ${link}`, components: [] })
        .catch((error: unknown) => logger.warn({ err: error }, 'could not update the style menu'));
      return {
        delivery: {
          applicationId: interaction.applicationId,
          interactionToken: undefined,
          tokenIssuedAt: interaction.createdTimestamp,
          channelId: target.channelId,
          messageId: posted.id,
          userId: interaction.user.id,
        },
        async withdraw(text, log) {
          await rest
            .delete(Routes.channelMessage(target.channelId, posted.id))
            .catch((error: unknown) => log.warn({ err: error }, 'could not delete the reply'));
          await interaction.editReply({ content: text, components: [] }).catch(() => undefined);
        },
      };
    },
  };
}

/** Runs a validated request: reserve → publish → images → keep → submit. */
export async function runStylizeRequest(
  entry: RequestEntry,
  recipe: Recipe,
  options: { heading?: string },
  context: BotContext,
): Promise<void> {
  const { interaction } = entry;
  const userId = interaction.user.id;
  const guildId = interaction.guildId ?? undefined;
  const where = { interaction: interaction.id, userId, guildId };
  const reserved = await context.queue.reserve({ userId, guildId });
  if (!('jobId' in reserved)) {
    context.logger.info({ ...where, reason: reserved.reason }, 'request refused by the queue');
    await entry.refuse(reserved.message);
    return;
  }
  const logger = context.logger.child({ jobId: reserved.jobId, ...where });
  try {
    await context.preparing.run((signal) => publishPrepareAndSubmit({ entry, context, recipe, heading: options.heading, reserved, logger, signal }));
  } catch (error) {
    await context.queue.release(reserved).catch(() => undefined);
    context.kept.forget(reserved.jobId);
    throw new RequestFailure(reserved.jobId, error);
  }
}

interface RequestState {
  entry: RequestEntry;
  context: BotContext;
  recipe: Recipe;
  heading: string | undefined;
  reserved: Reservation;
  logger: Logger;
  /** Aborts at shutdown. */
  signal: AbortSignal;
}

async function publishPrepareAndSubmit(state: RequestState): Promise<void> {
  const { entry, context, recipe, reserved, logger } = state;
  const { jobId } = reserved;
  const limits = limitsFor(context.config, recipe.guildId);
  const about: JobAbout = {
    ...(state.heading !== undefined && { heading: state.heading }),
    styles: recipe.styles.map((s) => s.title),
    preset: recipe.preset,
    size: recipe.size,
    styleScale: recipe.styleScale,
    blend: recipe.styles.map((s) => s.weight),
  };
  const downloads = [recipe.content, ...recipe.styles.map((s) => s.source)].some((s) => s.kind === 'upload');
  const first = downloads ? downloadingMessage() : preparingMessage();
  const published = await entry.publish(state.heading ? `${state.heading}\n${first.content}` : first.content, logger);
  if (!published) {
    await context.queue.release(reserved);
    return;
  }
  const delivery: Delivery = { ...published.delivery, notes: [], about };
  const reply = context.messages.open(jobId, delivery, logger);
  const giveUp = async (payload: Parameters<JobReply['finish']>[0]) => {
    context.messages.close(jobId);
    await context.queue.release(reserved);
    await reply.finish(payload);
  };
  if (published.problem !== undefined) return giveUp(failedMessage(jobId, INTERNAL_ERROR_TEXT));

  reply.show(first);
  let images: RecipeImages;
  try {
    images = await loadRecipeImages(recipe, context, state.signal);
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

  try {
    await context.kept.keep(jobId, keptRecord(images.kept.recipe), images.kept.images);
    about.remix = { biggerSize: nextSize(recipe.size, limits.maxSize) };
  } catch (error) {
    // The job runs all the same; its result just has no remix buttons.
    logger.warn({ err: error }, 'could not keep the inputs for remixing');
  }
  const input: JobInput = {
    content: images.content,
    styles: images.styles.map((image, index) => ({ image, weight: recipe.styles[index]!.weight })),
    settings: recipe.settings,
    size: Math.max(images.content.width, images.content.height),
    iterations: recipe.iterations,
    resultMaxBytes: entry.interaction.attachmentSizeLimit || DEFAULT_ATTACHMENT_LIMIT,
  };
  const submitted = await context.queue.submit(reserved, input, { ...delivery, notes: images.notes, about });
  if (submitted.accepted) {
    logger.info({ position: submitted.position, seed: recipe.settings.seed }, 'job submitted');
    return;
  }
  logger.info({ reason: submitted.reason }, 'queue refused the job after download');
  context.messages.close(jobId);
  context.kept.forget(jobId);
  if (submitted.reason === 'shutting-down') return reply.finish(cancelledMessage(jobId, 'shutdown'));
  // A limit reached while downloading (a lapsed reservation): like the refusals before publishing, told privately.
  await reply.stop();
  await published.withdraw(submitted.message, logger);
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
