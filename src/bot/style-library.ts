import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  InteractionContextType,
  MessageFlags,
  PermissionFlagsBits,
  SlashCommandBuilder,
  type AutocompleteInteraction,
  type ChatInputCommandInteraction,
} from 'discord.js';
import type { Config } from '../config/index.ts';
import { isUserFacing } from '../errors/user-facing-error.ts';
import { decodeImage, decodeLimitsFromConfig, encodeImage, planKeep } from '../images/index.ts';
import { downloadAttachment } from './attachments.ts';
import type { BotContext } from './bot.ts';
import type { Db } from './database.ts';
import { checkAttachment, InvalidRequestError, limitsFor } from './stylize-options.ts';

/**
 * Every style that has a name: the built-in gallery (public-domain artworks in assets/styles) and each server's
 * own saved styles (SQLite, added with /styles). `/stylize preset:` and "Stylize this image" offer both.
 */

export interface GalleryStyle {
  /** The `preset` value and the file name without `.jpg`. */
  id: string;
  title: string;
  artist: string;
  year: string;
}

/** The same six as assets/styles/CREDITS.md, which has their sources and the artists' dates. */
export const GALLERY: readonly GalleryStyle[] = [
  { id: 'starry-night', title: 'The Starry Night', artist: 'Vincent van Gogh', year: '1889' },
  { id: 'the-scream', title: 'The Scream', artist: 'Edvard Munch', year: '1893' },
  { id: 'great-wave', title: 'The Great Wave off Kanagawa', artist: 'Katsushika Hokusai', year: 'c. 1831' },
  { id: 'shipwreck-of-the-minotaur', title: 'The Shipwreck of the Minotaur', artist: 'J. M. W. Turner', year: 'c. 1810' },
  { id: 'woman-with-a-hat', title: 'Woman with a Hat', artist: 'Henri Matisse', year: '1905' },
  { id: 'udnie', title: 'Udnie (Young American Girl, The Dance)', artist: 'Francis Picabia', year: '1913' },
];

export const GALLERY_DIR = fileURLToPath(new URL('../../assets/styles/', import.meta.url));

/** Saved styles are stored once at this long side at most. */
export const SAVED_STYLE_MAX_SIDE = 1024;

/** Discord shows at most 25 autocomplete choices and 25 select-menu options. */
export const MAX_CHOICES = 25;

export type NamedStyle = { kind: 'gallery'; style: GalleryStyle } | { kind: 'saved'; name: string };

export interface SavedStyleInfo {
  name: string;
  width: number;
  height: number;
  addedBy: string;
  addedAt: number;
}

/** What the result says about the style: "The Starry Night by Vincent van Gogh (1889)" or "“Name” (this server)". */
export function styleTitle(style: NamedStyle): string {
  return style.kind === 'gallery'
    ? `${style.style.title} by ${style.style.artist} (${style.style.year})`
    : `“${style.name}” (saved on this server)`;
}

/** The `preset` value that picks this style again. */
export function styleValue(style: NamedStyle): string {
  return style.kind === 'gallery' ? style.style.id : style.name;
}

const NAME = /^[\p{L}\p{N}][\p{L}\p{N} '’&().,!?+-]*$/u;
export const NAME_MAX_LENGTH = 40;
const key = (name: string) => name.trim().toLowerCase();
/** How a gallery style is recognised however it is typed: "starry-night", "The Starry Night", "starry night". */
const looseKey = (name: string) =>
  key(name)
    .replace(/^the\s+/, '')
    .replace(/[\s_-]+/g, ' ');
const galleryByName = (name: string) => GALLERY.find((g) => looseKey(g.id) === looseKey(name) || looseKey(g.title) === looseKey(name));

export class StyleLibrary {
  readonly #db: Db;
  readonly #maxPerServer: number;

  constructor(db: Db, options: { maxPerServer: number }) {
    this.#db = db;
    this.#maxPerServer = options.maxPerServer;
  }

  get maxPerServer(): number {
    return this.#maxPerServer;
  }

  /** A style by its `preset` value or name as typed (any case): the gallery first, then the server's. */
  find(guildId: string | undefined, text: string): NamedStyle | undefined {
    const wanted = key(text);
    if (wanted === '') return undefined;
    const gallery = galleryByName(wanted);
    if (gallery) return { kind: 'gallery', style: gallery };
    if (!guildId) return undefined;
    const row = this.#db.prepare('SELECT name FROM saved_styles WHERE guild_id = ? AND name_key = ?').get(guildId, wanted) as
      | { name: string }
      | undefined;
    return row ? { kind: 'saved', name: row.name } : undefined;
  }

  /** Gallery styles then the server's, whose name (or artist) contains `typed`; at most `limit`. */
  suggest(
    guildId: string | undefined,
    typed: string,
    options: { gallery?: boolean; limit?: number } = {},
  ): { name: string; value: string }[] {
    const wanted = key(typed);
    const gallery = (options.gallery === false ? [] : GALLERY).filter((g) => [g.id, g.title, g.artist].some((text) => key(text).includes(wanted))).map((g) => ({
      name: `🖼️ ${g.title} — ${g.artist}`.slice(0, 100),
      value: g.id,
    }));
    const saved = (guildId ? this.list(guildId) : [])
      .filter((s) => key(s.name).includes(wanted))
      .map((s) => ({ name: `⭐ ${s.name} (this server)`, value: s.name }));
    return [...gallery, ...saved].slice(0, options.limit ?? MAX_CHOICES);
  }

  list(guildId: string): SavedStyleInfo[] {
    return (
      this.#db
        .prepare('SELECT name, width, height, added_by, added_at FROM saved_styles WHERE guild_id = ? ORDER BY name_key')
        .all(guildId) as { name: string; width: number; height: number; added_by: string; added_at: number }[]
    ).map((r) => ({ name: r.name, width: r.width, height: r.height, addedBy: r.added_by, addedAt: r.added_at }));
  }

  count(guildId: string): number {
    return (this.#db.prepare('SELECT COUNT(*) AS n FROM saved_styles WHERE guild_id = ?').get(guildId) as { n: number }).n;
  }

  /** Saves a PNG under `name`; refuses a taken name or a full server (checked again here, atomically). */
  add(
    guildId: string,
    name: string,
    image: { png: Uint8Array; width: number; height: number },
    addedBy: string,
  ): 'added' | 'exists' | 'full' {
    return this.#db.transaction(() => {
      if (this.find(guildId, name)) return 'exists' as const;
      if (this.count(guildId) >= this.#maxPerServer) return 'full' as const;
      this.#db
        .prepare(
          'INSERT INTO saved_styles (guild_id, name, name_key, png, width, height, added_by, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(guildId, name.trim(), key(name), image.png, image.width, image.height, addedBy, Date.now());
      return 'added' as const;
    })();
  }

  /** Removes a saved style; returns its name as stored, or undefined when the server has none by that name. */
  remove(guildId: string, name: string): string | undefined {
    const found = this.find(guildId, name);
    if (found?.kind !== 'saved') return undefined;
    this.#db.prepare('DELETE FROM saved_styles WHERE guild_id = ? AND name_key = ?').run(guildId, key(found.name));
    return found.name;
  }

  /** The encoded image of a style: a gallery JPEG from assets/styles, or a saved style's PNG. */
  async bytes(guildId: string | undefined, style: NamedStyle): Promise<Uint8Array | undefined> {
    if (style.kind === 'gallery') {
      // By the list's own id, never a path taken from stored data.
      const known = GALLERY.find((g) => g.id === style.style.id);
      return known ? readFile(path.join(GALLERY_DIR, `${known.id}.jpg`)) : undefined;
    }
    const row = this.#db.prepare('SELECT png FROM saved_styles WHERE guild_id = ? AND name_key = ?').get(guildId ?? '', key(style.name)) as
      | { png: Buffer }
      | undefined;
    return row?.png;
  }
}

/** Why a name cannot be used, or undefined when it can. */
export function checkStyleName(name: string): string | undefined {
  const trimmed = name.trim();
  if (trimmed.length === 0 || trimmed.length > NAME_MAX_LENGTH || !NAME.test(trimmed)) {
    return `A style name is 1 to ${NAME_MAX_LENGTH} letters, digits and spaces (also - ' & ( ) . , ! ? +), starting with a letter or digit.`;
  }
  if (galleryByName(trimmed)) {
    return `“${trimmed}” is the name of a built-in style. Please choose another name.`;
  }
  return undefined;
}

/** Manage Server, or the role in STYLE_MANAGER_ROLE (by id or by name). */
export function canManageStyles(interaction: ChatInputCommandInteraction, config: Config): boolean {
  if (interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild)) return true;
  const wanted = config.data.styleManagerRole;
  const member = interaction.member;
  if (!wanted || !member) return false;
  if (Array.isArray(member.roles)) return member.roles.includes(wanted);
  return member.roles.cache.some((role) => role.id === wanted || role.name === wanted);
}

export function buildStylesCommand(config: Config) {
  const imageLimit = `${Math.round(config.images.maxUploadBytes / (1024 * 1024))} MB`;
  return new SlashCommandBuilder()
    .setName('styles')
    .setDescription('This server’s own styles, offered in /stylize preset')
    .setContexts(InteractionContextType.Guild)
    .addSubcommand((sub) =>
      sub
        .setName('add')
        .setDescription('Save an artwork as a style of this server (Manage Server or the style manager role)')
        .addStringOption((o) => o.setName('name').setDescription('Its name in the preset list').setRequired(true).setMaxLength(NAME_MAX_LENGTH))
        .addAttachmentOption((o) => o.setName('image').setDescription(`The artwork (an image up to ${imageLimit})`).setRequired(true)),
    )
    .addSubcommand((sub) => sub.setName('list').setDescription('The styles saved on this server'))
    .addSubcommand((sub) =>
      sub
        .setName('remove')
        .setDescription('Remove a saved style (Manage Server or the style manager role)')
        .addStringOption((o) =>
          o.setName('name').setDescription('The style to remove').setRequired(true).setMaxLength(NAME_MAX_LENGTH).setAutocomplete(true),
        ),
    );
}

const reply = (interaction: ChatInputCommandInteraction, content: string) =>
  interaction.reply({ content, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });

export async function runStylesCommand(interaction: ChatInputCommandInteraction, context: BotContext): Promise<void> {
  const guildId = interaction.guildId;
  if (!guildId) return void (await reply(interaction, 'Saved styles belong to a server; use this command in one.'));
  const library = context.styles;
  const subcommand = interaction.options.getSubcommand();
  if (subcommand === 'list') {
    const saved = library.list(guildId);
    const lines = saved.map((s) => `• **${s.name}** · ${s.width}×${s.height} · added by <@${s.addedBy}>`);
    const head =
      saved.length === 0
        ? 'No styles are saved on this server yet.'
        : `**Styles saved on this server** (${saved.length} of ${library.maxPerServer}):`;
    const gallery = `Built in: ${GALLERY.map((g) => g.title).join(', ')}.`;
    return void (await reply(interaction, [head, ...lines, gallery].join('\n').slice(0, 2000)));
  }
  if (!canManageStyles(interaction, context.config)) {
    const role = context.config.data.styleManagerRole;
    return void (await reply(
      interaction,
      `Only members with the Manage Server permission${role ? ` or the ${role} role` : ''} can ${subcommand} saved styles.`,
    ));
  }
  const name = interaction.options.getString('name', true);
  if (subcommand === 'remove') {
    const removed = library.remove(guildId, name);
    context.logger.info({ guildId, by: interaction.user.id, name, removed: removed !== undefined }, 'saved style remove');
    return void (await reply(
      interaction,
      removed ? `Removed the style “${removed}”.` : `This server has no saved style called “${name.trim()}”. See /styles list.`,
    ));
  }

  // add: everything that needs no download first, so that refusals are immediate and private.
  const problem = checkStyleName(name);
  if (problem) return void (await reply(interaction, problem));
  if (library.find(guildId, name)) {
    return void (await reply(interaction, `A style called “${name.trim()}” already exists here. Remove it first to replace it.`));
  }
  if (library.count(guildId) >= library.maxPerServer) {
    return void (await reply(
      interaction,
      `This server already has ${library.maxPerServer} saved styles, its limit. Remove one with /styles remove first.`,
    ));
  }
  const attachment = interaction.options.getAttachment('image', true);
  const limits = limitsFor(context.config, guildId);
  let ref;
  try {
    ref = checkAttachment('style', { ...attachment, name: attachment.name }, limits);
  } catch (error) {
    if (error instanceof InvalidRequestError) return void (await reply(interaction, error.userMessage));
    throw error;
  }
  await interaction.deferReply({ flags: MessageFlags.Ephemeral });
  try {
    const bytes = await downloadAttachment(
      ref.url,
      { allowedHosts: limits.allowedHosts, maxBytes: limits.maxUploadBytes, timeoutMs: context.config.bot.downloadTimeoutMs },
      'style',
    );
    const decoded = await decodeImage(bytes, decodeLimitsFromConfig(context.config.images), 'style', {
      plan: (original) => planKeep(original, SAVED_STYLE_MAX_SIDE, 'style'),
    });
    const png = await encodeImage(decoded, { format: 'png' });
    const added = library.add(guildId, name, { png: png.bytes, width: decoded.width, height: decoded.height }, interaction.user.id);
    context.logger.info({ guildId, by: interaction.user.id, name, added, width: decoded.width, height: decoded.height }, 'saved style add');
    await interaction.editReply(
      added === 'added'
        ? `Saved “${name.trim()}” (${decoded.width}×${decoded.height}). Pick it in /stylize preset, or with “Stylize this image”.`
        : added === 'exists'
          ? `A style called “${name.trim()}” was just saved by someone else. Remove it first to replace it.`
          : `This server already has ${library.maxPerServer} saved styles, its limit. Remove one with /styles remove first.`,
    );
  } catch (error) {
    if (!isUserFacing(error)) throw error;
    context.logger.info({ guildId, reason: error.userMessage }, 'saved style refused');
    await interaction.editReply(error.userMessage);
  }
}

/** Autocomplete for /stylize preset (gallery and saved) and /styles remove name (saved only). */
export async function answerStyleAutocomplete(interaction: AutocompleteInteraction, context: BotContext): Promise<void> {
  const focused = interaction.options.getFocused(true);
  const typed = String(focused.value ?? '').slice(0, 100);
  const gallery = interaction.commandName !== 'styles';
  await interaction.respond(context.styles.suggest(interaction.guildId ?? undefined, typed, { gallery }));
}
