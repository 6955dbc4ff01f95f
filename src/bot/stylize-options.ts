import {
  InteractionContextType,
  SlashCommandBuilder,
  type Attachment,
  type ChatInputCommandInteraction,
  type SlashCommandOptionsOnlyBuilder,
} from 'discord.js';
import type { Config, ImageFormat } from '../config/index.ts';
import { PRESETS } from '../engine/presets.ts';
import type { StylizeSettings } from '../engine/types.ts';
import { UserFacingError } from '../errors/user-facing-error.ts';
import { formatBytes, formatList } from '../images/errors.ts';

/**
 * The /stylize options, defined once: this table builds the slash command, reads an interaction and validates
 * it, and says which engine setting each option sets. Nothing else in the bot spells an option name.
 */

/** A request refused before anything public happens; the bot answers it privately. */
export class InvalidRequestError extends UserFacingError {}

export type AttachmentLabel = 'content' | 'style' | 'style2' | 'style3';

type Bound = number | ((limits: ServerLimits) => number);

interface OptionBase {
  name: string;
  description: string | ((limits: ServerLimits) => string);
  required?: boolean;
}

type OptionSpec = OptionBase &
  (
    | { kind: 'attachment'; label: AttachmentLabel }
    | {
        kind: 'integer';
        min?: Bound;
        max?: Bound;
        choices?: (limits: ServerLimits) => number[];
        setting?: 'seed' | 'strength';
      }
    | { kind: 'number'; min: Bound; max: Bound; setting?: 'contentWeight' | 'styleWeight' | 'tvWeight' }
    | { kind: 'string'; maxLength: number; autocomplete?: boolean }
    | { kind: 'boolean' }
  );

/** Output sizes offered; the config's MAX_OUTPUT_SIDE (2048) is the largest. */
export const SIZE_CHOICES = [128, 256, 384, 512, 768, 1024, 1536, 2048] as const;

/** The next offered size above `size` that `maxSize` allows (⬆️ Bigger), or undefined. */
export function nextSize(size: number, maxSize: number): number | undefined {
  return SIZE_CHOICES.find((choice) => choice > size && choice <= maxSize);
}

/** Each style_blend value; the engine normalizes them, so a wider range would only invite overflow. */
export const STYLE_BLEND_MAX = 100;

export const STYLIZE_OPTIONS = [
  { name: 'content', kind: 'attachment', label: 'content', description: 'The photo to repaint', required: true },
  { name: 'style', kind: 'attachment', label: 'style', description: 'An artwork whose style to use (or pick a preset)' },
  {
    name: 'preset',
    kind: 'string',
    description: 'A famous painting or a style saved on this server (instead of uploading one)',
    maxLength: 100,
    autocomplete: true,
  },
  { name: 'style2', kind: 'attachment', label: 'style2', description: 'A second artwork to blend in' },
  { name: 'style3', kind: 'attachment', label: 'style3', description: 'A third artwork to blend in' },
  {
    name: 'size',
    kind: 'integer',
    description: (l) => `Long side of the result in pixels (default ${l.defaultSize})`,
    choices: (l) => SIZE_CHOICES.filter((s) => s <= l.maxSize),
    // Clients offer only the choices; a hostile one may send any size in range, which works as well.
    min: 64,
    max: (l) => l.maxSize,
  },
  {
    name: 'strength',
    kind: 'integer',
    description: `How strongly to repaint: 0 keeps the photo, 100 is the most style (default ${PRESETS.default.strength})`,
    min: 0,
    max: 100,
    setting: 'strength',
  },
  {
    name: 'iterations',
    kind: 'integer',
    description: 'At most this many iterations: more can mean more style; stops early once the image settles',
    min: 1,
    max: (l) => l.maxIterations,
  },
  {
    name: 'content_weight',
    kind: 'number',
    description: 'How strongly to keep the photo’s content',
    min: 0,
    max: 1e6,
    setting: 'contentWeight',
  },
  {
    name: 'style_weight',
    kind: 'number',
    description: 'How strongly to apply the artwork’s style',
    min: 0,
    max: 1e9,
    setting: 'styleWeight',
  },
  {
    name: 'tv_weight',
    kind: 'number',
    description: 'Smoothness: higher removes noise, lower keeps detail',
    min: 0,
    max: 1e4,
    setting: 'tvWeight',
  },
  { name: 'style_blend', kind: 'string', description: 'Blend weights of the style images, e.g. 1,1,2', maxLength: 40 },
  {
    name: 'style_scale',
    kind: 'number',
    description: 'Size of the style’s brush strokes relative to the result (default 1)',
    min: 0.25,
    max: 2,
  },
  { name: 'preserve_colors', kind: 'boolean', description: 'Keep the photo’s original colours' },
  {
    name: 'noise',
    kind: 'number',
    description: 'Start from the photo mixed with this much noise (0-1, default 0); the seed then varies the result',
    min: 0,
    max: 1,
  },
  { name: 'seed', kind: 'integer', description: 'Same seed, same result', min: 0, max: 2_147_483_647, setting: 'seed' },
] as const satisfies readonly OptionSpec[];

export type StylizeOptionName = (typeof STYLIZE_OPTIONS)[number]['name'];

/** The server's caps: the global config, lowered by GUILD_LIMITS for this guild. */
export interface ServerLimits {
  maxUploadBytes: number;
  maxInputPixels: number;
  formats: readonly ImageFormat[];
  allowedHosts: readonly string[];
  defaultSize: number;
  maxSize: number;
  defaultIterations: number;
  maxIterations: number;
}

export function limitsFor(config: Config, guildId: string | null | undefined): ServerLimits {
  const guild = guildId ? config.jobs.guildLimits[guildId] : undefined;
  const maxSize = Math.min(config.images.maxSize, guild?.maxSize ?? Infinity);
  const maxIterations = Math.min(config.jobs.maxIterations, guild?.maxIterations ?? Infinity);
  return {
    maxUploadBytes: config.images.maxUploadBytes,
    maxInputPixels: config.images.maxInputPixels,
    formats: config.images.formats,
    allowedHosts: config.discord.attachmentHosts,
    defaultSize: Math.min(config.images.defaultSize, maxSize),
    maxSize,
    defaultIterations: Math.min(config.jobs.defaultIterations ?? PRESETS.default.iterations, maxIterations),
    maxIterations,
  };
}

const bound = (b: Bound | undefined, limits: ServerLimits): number | undefined =>
  typeof b === 'function' ? b(limits) : b;

/** The slash command, with ranges from the global caps (per-server caps are checked when a request comes). */
export function buildStylizeCommand(config: Config): SlashCommandOptionsOnlyBuilder {
  const limits = limitsFor(config, undefined);
  const builder = new SlashCommandBuilder()
    .setName('stylize')
    .setDescription('Repaint a photo in the style of an artwork')
    .setContexts(InteractionContextType.Guild);
  for (const spec of STYLIZE_OPTIONS as readonly OptionSpec[]) {
    const description = typeof spec.description === 'function' ? spec.description(limits) : spec.description;
    const base = <T extends { setName(n: string): T; setDescription(d: string): T; setRequired(r: boolean): T }>(o: T) =>
      o.setName(spec.name).setDescription(description).setRequired(spec.required ?? false);
    switch (spec.kind) {
      case 'attachment':
        builder.addAttachmentOption((o) => base(o));
        break;
      case 'boolean':
        builder.addBooleanOption((o) => base(o));
        break;
      case 'string':
        builder.addStringOption((o) => base(o).setMaxLength(spec.maxLength).setAutocomplete(spec.autocomplete ?? false));
        break;
      case 'integer':
        builder.addIntegerOption((o) => {
          base(o);
          if (spec.choices) return o.addChoices(...spec.choices(limits).map((value) => ({ name: `${value} px`, value })));
          const [min, max] = [bound(spec.min, limits), bound(spec.max, limits)];
          if (min !== undefined) o.setMinValue(min);
          if (max !== undefined) o.setMaxValue(max);
          return o;
        });
        break;
      case 'number':
        builder.addNumberOption((o) =>
          base(o).setMinValue(bound(spec.min, limits)!).setMaxValue(bound(spec.max, limits)!),
        );
        break;
    }
  }
  return builder;
}

/** What Discord tells us about an attachment before we download it; all of it may be a lie. */
export interface AttachmentInfo {
  url: string;
  name: string;
  /** Null when Discord does not say (an embed's image); the download enforces the byte limit anyway. */
  size: number | null;
  contentType: string | null;
  width: number | null;
  height: number | null;
}

export interface AttachmentRef extends AttachmentInfo {
  label: AttachmentLabel;
}

/** The options as Discord sent them, unchecked: attachments by label, everything else by option name. */
export interface RawOptions {
  attachments: Partial<Record<AttachmentLabel, AttachmentInfo>>;
  values: Partial<Record<StylizeOptionName, string | number | boolean>>;
}

/** A validated /stylize: the images to fetch and everything the engine needs besides them. */
export interface StylizeChoices {
  content: AttachmentRef;
  /** The uploaded styles (`style`, `style2`, `style3`); a preset takes the place of `style`. */
  styles: AttachmentRef[];
  /** The `preset` option as sent (a value from the autocomplete, or whatever was typed); the library resolves it. */
  preset: string | undefined;
  /** One blend weight per style, the preset first. */
  blend: number[];
  /** Output long side. */
  size: number;
  /** The most iterations the run may use. */
  iterations: number;
  styleScale: number;
  /** Engine overrides of the default preset. */
  settings: Partial<StylizeSettings>;
}

export function readStylizeOptions(interaction: ChatInputCommandInteraction): RawOptions {
  const raw: RawOptions = { attachments: {}, values: {} };
  for (const spec of STYLIZE_OPTIONS as readonly OptionSpec[]) {
    if (spec.kind === 'attachment') {
      const attachment = interaction.options.getAttachment(spec.name);
      if (attachment) raw.attachments[spec.label] = attachmentInfo(attachment);
      continue;
    }
    const value = interaction.options.get(spec.name)?.value;
    if (value !== undefined && value !== null) raw.values[spec.name as StylizeOptionName] = value;
  }
  return raw;
}

/** What Discord says of an attachment, as plain data. */
export function attachmentInfo(attachment: Attachment): AttachmentInfo {
  return {
    url: attachment.url,
    name: attachment.name,
    size: attachment.size,
    contentType: attachment.contentType,
    width: attachment.width,
    height: attachment.height,
  };
}

/**
 * Checks everything that can be checked before a download, fast enough to answer within Discord's 3 seconds.
 * Throws InvalidRequestError with a message that says exactly what to fix.
 */
export function validateStylizeOptions(raw: RawOptions, limits: ServerLimits): StylizeChoices {
  const values = checkValues(raw.values, limits);
  const { content, style } = raw.attachments;
  const preset = (values.preset as string | undefined)?.trim() || undefined;
  if (!content) throw new InvalidRequestError('Please attach a content photo (the `content` option).');
  if (!style && !preset) {
    throw new InvalidRequestError('Please choose a style: upload an artwork as `style`, or pick one from `preset`.');
  }
  if (style && preset) {
    throw new InvalidRequestError(
      'Use either `style` (an upload) or `preset`, not both. To blend in more artworks, add them as `style2` and `style3`.',
    );
  }
  const styles = (['style', 'style2', 'style3'] as const).flatMap((label) => {
    const info = raw.attachments[label];
    return info ? [checkAttachment(label, info, limits)] : [];
  });

  const size = (values.size as number | undefined) ?? limits.defaultSize;
  const settings: Partial<StylizeSettings> = {};
  for (const spec of STYLIZE_OPTIONS as readonly OptionSpec[]) {
    const value = values[spec.name as StylizeOptionName];
    if ((spec.kind === 'number' || spec.kind === 'integer') && spec.setting && value !== undefined) {
      settings[spec.setting] = value as number;
    }
  }
  if (values.preserve_colors === true) settings.colors = 'luminance';
  const noise = values.noise as number | undefined;
  if (noise !== undefined && noise > 0) Object.assign(settings, { init: 'noise', noiseRatio: noise });
  return {
    content: checkAttachment('content', content, limits),
    styles,
    preset,
    blend: parseBlend(values.style_blend as string | undefined, styles.length + (preset ? 1 : 0)),
    size,
    iterations: (values.iterations as number | undefined) ?? limits.defaultIterations,
    styleScale: (values.style_scale as number | undefined) ?? 1,
    settings,
  };
}

/** Every scalar option against its kind and bounds (a hostile client can send anything). */
function checkValues(
  values: RawOptions['values'],
  limits: ServerLimits,
): Partial<Record<StylizeOptionName, string | number | boolean>> {
  const checked: Partial<Record<StylizeOptionName, string | number | boolean>> = {};
  for (const spec of STYLIZE_OPTIONS as readonly OptionSpec[]) {
    const name = spec.name as StylizeOptionName;
    const value = values[name];
    if (value === undefined || spec.kind === 'attachment') continue;
    if (spec.kind === 'boolean') {
      if (typeof value !== 'boolean') throw new InvalidRequestError(`${name} must be true or false.`);
    } else if (spec.kind === 'string') {
      if (typeof value !== 'string' || value.length > spec.maxLength) {
        throw new InvalidRequestError(`${name} must be text of at most ${spec.maxLength} characters.`);
      }
    } else {
      if (typeof value !== 'number' || !Number.isFinite(value)) throw new InvalidRequestError(`${name} must be a number.`);
      if (spec.kind === 'integer' && !Number.isInteger(value)) {
        throw new InvalidRequestError(`${name} must be a whole number.`);
      }
      const min = bound(spec.min, limits);
      const max = bound(spec.max, limits);
      if ((min !== undefined && value < min) || (max !== undefined && value > max)) {
        throw new InvalidRequestError(
          name === 'iterations'
            ? `Iterations must be between ${min} and ${max} on this server.`
            : name === 'size'
              ? `The size must be between ${min} and ${max} pixels on this server.`
              : `${name} must be between ${min} and ${max}.`,
        );
      }
    }
    checked[name] = value;
  }
  return checked;
}

const MIME_BY_FORMAT: Record<ImageFormat, string[]> = {
  jpeg: ['image/jpeg', 'image/jpg', 'image/pjpeg'],
  png: ['image/png', 'image/apng'],
  webp: ['image/webp'],
  gif: ['image/gif'],
  avif: ['image/avif'],
  tiff: ['image/tiff'],
};

/** True when the URL is http(s) and its host is on the allow-list (`host:port` entries match only that port). */
export function isAllowedUrl(url: URL, allowedHosts: readonly string[]): boolean {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return false;
  if (url.username || url.password) return false;
  const host = url.host.toLowerCase();
  const hostname = url.hostname.toLowerCase();
  return allowedHosts.some((allowed) => (allowed.includes(':') ? allowed === host : allowed === hostname));
}

/** The checks an attachment can pass before it is downloaded: a Discord host, its declared size, type and pixels. */
export function checkAttachment(label: AttachmentLabel, info: AttachmentInfo, limits: ServerLimits): AttachmentRef {
  const name = `The ${label} attachment`;
  let url: URL;
  try {
    url = new URL(info.url);
  } catch {
    throw new InvalidRequestError(`${name} has an invalid link. Please upload it again.`);
  }
  if (!isAllowedUrl(url, limits.allowedHosts)) {
    throw new InvalidRequestError(`${name} is not hosted on Discord. Please upload the file directly.`);
  }
  if (info.size !== null && info.size > limits.maxUploadBytes) {
    throw new InvalidRequestError(
      `${name} is ${formatBytes(info.size)}; the limit is ${formatBytes(limits.maxUploadBytes)}. Please upload a smaller image.`,
    );
  }
  if (info.size === 0) throw new InvalidRequestError(`${name} is empty. Please upload an image.`);
  const mime = info.contentType?.split(';')[0]?.trim().toLowerCase();
  if (mime) {
    const accepted = limits.formats.flatMap((f) => MIME_BY_FORMAT[f]);
    if (!accepted.includes(mime)) {
      throw new InvalidRequestError(
        `${name} is not an image I accept (${mime}). Please upload a ${formatList(limits.formats)}.`,
      );
    }
  }
  if (info.width && info.height && info.width * info.height > limits.maxInputPixels) {
    throw new InvalidRequestError(
      `${name} is ${info.width}×${info.height}, more than ${Math.round(limits.maxInputPixels / 1e6)} megapixels. Please upload a smaller image.`,
    );
  }
  return { ...info, label };
}

function parseBlend(text: string | undefined, styleCount: number): number[] {
  if (text === undefined || text.trim() === '') return Array.from({ length: styleCount }, () => 1);
  const parts = text.split(/[,\s]+/).filter(Boolean);
  const values = parts.map(Number);
  if (parts.length !== styleCount || values.some((v) => !Number.isFinite(v) || v < 0)) {
    const example = Array.from({ length: styleCount }, (_, i) => i + 1).join(',');
    throw new InvalidRequestError(
      `style_blend needs ${styleCount} non-negative number${styleCount > 1 ? 's' : ''}, one per style image (e.g. "${example}").`,
    );
  }
  if (values.some((v) => v > STYLE_BLEND_MAX) || values.every((v) => v === 0)) {
    throw new InvalidRequestError(
      `Each style_blend value must be between 0 and ${STYLE_BLEND_MAX}, and at least one must be above 0.`,
    );
  }
  return values;
}

/** How a job's request reads as /stylize options, for the result's text: anyone can repeat it. */
export interface OptionsSummary {
  /** The `preset` value, when the first style is a named one. */
  preset: string | undefined;
  size: number;
  styleScale: number;
  blend: readonly number[];
  /** The settings that ran (the engine's defaults filled in). */
  settings: Pick<StylizeSettings, 'iterations' | 'strength' | 'contentWeight' | 'styleWeight' | 'tvWeight' | 'colors' | 'init' | 'noiseRatio' | 'seed'>;
}

/** `preset:udnie size:512 iterations:80 content_weight:5 … seed:42`, in the table's order. */
export function describeOptions(summary: OptionsSummary): string {
  const { settings } = summary;
  const values: Partial<Record<StylizeOptionName, string | number | boolean | undefined>> = {
    preset: summary.preset,
    size: summary.size,
    iterations: settings.iterations,
    strength: settings.strength,
    content_weight: settings.contentWeight,
    style_weight: settings.styleWeight,
    tv_weight: settings.tvWeight,
    style_blend: summary.blend.length > 1 ? summary.blend.join(',') : undefined,
    style_scale: summary.styleScale === 1 ? undefined : summary.styleScale,
    preserve_colors: settings.colors === 'luminance' ? true : undefined,
    noise: settings.init === 'noise' && settings.noiseRatio > 0 ? settings.noiseRatio : undefined,
    seed: settings.seed,
  };
  return STYLIZE_OPTIONS.flatMap((spec) => {
    const value = values[spec.name];
    return value === undefined ? [] : [`${spec.name}:${String(value)}`];
  }).join(' ');
}
