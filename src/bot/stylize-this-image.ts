import { randomBytes } from 'node:crypto';
import {
  ApplicationCommandType,
  ContextMenuCommandBuilder,
  InteractionContextType,
  MessageFlags,
  type Message,
  type MessageContextMenuCommandInteraction,
  type StringSelectMenuInteraction,
} from 'discord.js';
import type { BotContext } from './bot.ts';
import { randomSeed, type Recipe } from './job-images.ts';
import { STYLE_PICK_PREFIX, stylePickMenu } from './job-messages.ts';
import { MAX_CHOICES, styleTitle, styleValue } from './style-library.ts';
import { channelReplyEntry, runStylizeRequest } from './stylize-flow.ts';
import {
  attachmentInfo,
  checkAttachment,
  InvalidRequestError,
  isAllowedUrl,
  limitsFor,
  type AttachmentInfo,
  type AttachmentRef,
} from './stylize-options.ts';

/**
 * "Stylize this image", a message command (Apps → Stylize this image on any message with an image): a private
 * menu of the gallery and the server's saved styles, then a job posted as a reply to that message, with the
 * defaults of /stylize. The image is checked like a /stylize upload (Discord's hosts only, its declared size and
 * type) before the menu is shown.
 */

export const STYLIZE_THIS_IMAGE = 'Stylize this image';

export function buildStylizeThisImageCommand(): ContextMenuCommandBuilder {
  return new ContextMenuCommandBuilder()
    .setName(STYLIZE_THIS_IMAGE)
    .setType(ApplicationCommandType.Message)
    .setContexts(InteractionContextType.Guild);
}

/** A menu shown and not yet answered: the image it is for. Only the bot's memory: a restart expires them. */
interface PendingPick {
  image: AttachmentRef;
  channelId: string;
  messageId: string;
  userId: string;
  expiresAt: number;
}

/** The menus waiting for a choice; they live as long as the interaction token that can edit them (15 minutes). */
export class PendingPicks {
  static readonly LIFETIME_MS = 15 * 60 * 1000;
  /** A bound on memory, whatever members do. */
  static readonly MAX = 1000;
  readonly #picks = new Map<string, PendingPick>();

  add(pick: Omit<PendingPick, 'expiresAt'>, now = Date.now()): string {
    for (const [id, old] of this.#picks) if (old.expiresAt <= now) this.#picks.delete(id);
    if (this.#picks.size >= PendingPicks.MAX) this.#picks.delete(this.#picks.keys().next().value!);
    const id = randomBytes(9).toString('base64url');
    this.#picks.set(id, { ...pick, expiresAt: now + PendingPicks.LIFETIME_MS });
    return id;
  }

  /** The pick, once: a second choice from the same menu finds nothing. */
  take(id: string, now = Date.now()): PendingPick | undefined {
    const pick = this.#picks.get(id);
    this.#picks.delete(id);
    return pick && pick.expiresAt > now ? pick : undefined;
  }
}

/** The first image of a message: an attachment, else an embed's image or thumbnail (through Discord's proxy). */
export function imageOf(message: Message): AttachmentInfo | undefined {
  for (const attachment of message.attachments.values()) {
    const type = attachment.contentType?.split(';')[0]?.trim().toLowerCase();
    if (type ? type.startsWith('image/') : attachment.width !== null) return attachmentInfo(attachment);
  }
  for (const embed of message.embeds) {
    const media = embed.image ?? embed.thumbnail;
    if (!media?.url) continue;
    return {
      url: media.proxyURL ?? media.url,
      name: 'embedded image',
      size: null,
      contentType: null,
      width: media.width ?? null,
      height: media.height ?? null,
    };
  }
  return undefined;
}

const privately = (interaction: MessageContextMenuCommandInteraction, content: string) =>
  interaction.reply({ content, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });

export async function runStylizeThisImage(interaction: MessageContextMenuCommandInteraction, context: BotContext): Promise<void> {
  const target = interaction.targetMessage;
  const where = { interaction: interaction.id, userId: interaction.user.id, target: target.id };
  const found = imageOf(target);
  if (!found) {
    context.logger.info(where, 'stylize this image: no image');
    return void (await privately(interaction, 'That message has no image I can stylize. Try it on a message with an image.'));
  }
  const limits = limitsFor(context.config, interaction.guildId);
  let allowed = false;
  try {
    allowed = isAllowedUrl(new URL(found.url), limits.allowedHosts);
  } catch {
    // Not a URL at all: refused below.
  }
  if (!allowed) {
    context.logger.info({ ...where, reason: 'host' }, 'stylize this image: refused');
    return void (await privately(interaction, 'That image is not hosted on Discord, so I will not fetch it. Upload the file itself.'));
  }
  let image: AttachmentRef;
  try {
    image = checkAttachment('content', found, limits);
  } catch (error) {
    if (!(error instanceof InvalidRequestError)) throw error;
    context.logger.info({ ...where, reason: error.userMessage }, 'stylize this image: refused');
    return void (await privately(interaction, error.userMessage));
  }
  const choices = context.styles.suggest(interaction.guildId ?? undefined, '', { limit: MAX_CHOICES });
  const pickId = context.picks.add({ image, channelId: target.channelId, messageId: target.id, userId: interaction.user.id });
  await interaction.reply({
    content: 'Pick a style for this image. The result will be posted as a reply to it.',
    components: [stylePickMenu(pickId, choices).toJSON()],
    flags: MessageFlags.Ephemeral,
  });
}

/** The menu's answer: the style picked, the job queued as a reply to the message. */
export async function handleStylePick(interaction: StringSelectMenuInteraction, context: BotContext): Promise<void> {
  const pick = context.picks.take(interaction.customId.slice(STYLE_PICK_PREFIX.length));
  if (!pick || pick.userId !== interaction.user.id) {
    await interaction.update({ content: 'This menu has expired. Use “Stylize this image” on the message again.', components: [] });
    return;
  }
  const guildId = interaction.guildId ?? undefined;
  const style = context.styles.find(guildId, interaction.values[0] ?? '');
  if (!style) {
    await interaction.update({ content: 'That style is no longer available. Use “Stylize this image” again.', components: [] });
    return;
  }
  const limits = limitsFor(context.config, guildId);
  const recipe: Recipe = {
    guildId,
    content: { kind: 'upload', attachment: pick.image },
    styles: [{ source: { kind: 'named', style }, weight: 1, title: styleTitle(style) }],
    preset: styleValue(style),
    size: limits.defaultSize,
    iterations: limits.defaultIterations,
    styleScale: 1,
    settings: { seed: randomSeed() },
  };
  const entry = channelReplyEntry(interaction, context, { channelId: pick.channelId, messageId: pick.messageId });
  await runStylizeRequest(entry, recipe, { heading: `🖼️ This image in a new style, for <@${interaction.user.id}>` }, context);
}
