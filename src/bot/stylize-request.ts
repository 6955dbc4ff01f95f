import type { Config, ImageFormat } from '../config/index.ts';
import { UserFacingError } from '../errors/user-facing-error.ts';
import { formatBytes, formatList } from '../images/index.ts';
import { isAllowedUrl } from './attachment-download.ts';

/** A request refused before anything public happens; the bot answers it ephemerally. */
export class InvalidRequestError extends UserFacingError {}

export type AttachmentLabel = 'content' | 'style' | 'style2' | 'style3';

/** What Discord tells us about an attachment before we download it; all of it may be a lie. */
export interface AttachmentInfo {
  url: string;
  name: string;
  size: number;
  contentType: string | null;
  width: number | null;
  height: number | null;
}

export interface RawStylizeOptions {
  content: AttachmentInfo | null;
  style: AttachmentInfo | null;
  style2: AttachmentInfo | null;
  style3: AttachmentInfo | null;
  contentWeight: number | null;
  styleWeight: number | null;
  tvWeight: number | null;
  iterations: number | null;
  size: number | null;
  styleBlend: string | null;
  styleScale: number | null;
  preserveColors: boolean | null;
  seed: number | null;
}

export interface AttachmentRef extends AttachmentInfo {
  label: AttachmentLabel;
}

export interface StylizeRequestInput {
  content: AttachmentRef;
  styles: AttachmentRef[];
  blend: number[];
  size: number;
  iterations: number | undefined;
  contentWeight: number | undefined;
  styleWeight: number | undefined;
  tvWeight: number | undefined;
  styleScale: number;
  preserveColors: boolean;
  seed: number | undefined;
}

export interface RequestLimits {
  maxUploadBytes: number;
  maxInputPixels: number;
  formats: readonly ImageFormat[];
  allowedHosts: readonly string[];
  defaultSize: number;
  maxSize: number;
  defaultIterations: number | undefined;
  maxIterations: number;
}

/** Bounds that also shape the slash command's option ranges. */
export const OPTION_BOUNDS = {
  contentWeight: { min: 0, max: 1e6 },
  styleWeight: { min: 0, max: 1e9 },
  tvWeight: { min: 0, max: 1e4 },
  styleScale: { min: 0.25, max: 2 },
  /** Each style_blend value; the engine normalizes them, so a wider range would only invite overflow. */
  styleBlend: { min: 0, max: 100 },
  seed: { min: 0, max: 2_147_483_647 },
  sizes: [128, 256, 384, 512, 768, 1024, 1536, 2048],
} as const;

const MIME_BY_FORMAT: Record<ImageFormat, string[]> = {
  jpeg: ['image/jpeg', 'image/jpg', 'image/pjpeg'],
  png: ['image/png', 'image/apng'],
  webp: ['image/webp'],
  gif: ['image/gif'],
  avif: ['image/avif'],
  tiff: ['image/tiff'],
};

/** The server's caps: the global config, lowered by GUILD_LIMITS for this guild. */
export function limitsFor(config: Config, guildId: string | null): RequestLimits {
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
    defaultIterations:
      config.jobs.defaultIterations === undefined ? undefined : Math.min(config.jobs.defaultIterations, maxIterations),
    maxIterations,
  };
}

/**
 * Checks everything that can be checked before a download, fast enough to answer within Discord's 3 seconds.
 * Throws InvalidRequestError with a message that says exactly what to fix.
 */
export function validateStylizeOptions(raw: RawStylizeOptions, limits: RequestLimits): StylizeRequestInput {
  if (!raw.content) throw new InvalidRequestError('Please attach a content photo (the `content` option).');
  if (!raw.style) throw new InvalidRequestError('Please attach a style image (the `style` option).');
  const content = checkAttachment('content', raw.content, limits);
  const styles = (['style', 'style2', 'style3'] as const)
    .map((label) => (raw[label] ? checkAttachment(label, raw[label], limits) : undefined))
    .filter((s): s is AttachmentRef => s !== undefined);

  const size = raw.size ?? limits.defaultSize;
  if (!Number.isInteger(size) || size < 64 || size > limits.maxSize) {
    throw new InvalidRequestError(`The size must be between 64 and ${limits.maxSize} pixels on this server.`);
  }
  const iterations = raw.iterations ?? limits.defaultIterations;
  if (iterations !== undefined && (!Number.isInteger(iterations) || iterations < 1 || iterations > limits.maxIterations)) {
    throw new InvalidRequestError(`Iterations must be between 1 and ${limits.maxIterations} on this server.`);
  }

  return {
    content,
    styles,
    blend: parseBlend(raw.styleBlend, styles.length),
    size,
    iterations,
    contentWeight: checkNumber('content_weight', raw.contentWeight, OPTION_BOUNDS.contentWeight),
    styleWeight: checkNumber('style_weight', raw.styleWeight, OPTION_BOUNDS.styleWeight),
    tvWeight: checkNumber('tv_weight', raw.tvWeight, OPTION_BOUNDS.tvWeight),
    styleScale: checkNumber('style_scale', raw.styleScale, OPTION_BOUNDS.styleScale) ?? 1,
    preserveColors: raw.preserveColors ?? false,
    seed: checkInteger('seed', raw.seed, OPTION_BOUNDS.seed),
  };
}

function checkAttachment(label: AttachmentLabel, info: AttachmentInfo, limits: RequestLimits): AttachmentRef {
  const name = `the ${label} attachment`;
  let url: URL;
  try {
    url = new URL(info.url);
  } catch {
    throw new InvalidRequestError(`${capitalize(name)} has an invalid link. Please upload it again.`);
  }
  if (!isAllowedUrl(url, limits.allowedHosts)) {
    throw new InvalidRequestError(`${capitalize(name)} is not hosted on Discord. Please upload the file directly.`);
  }
  if (info.size > limits.maxUploadBytes) {
    throw new InvalidRequestError(
      `${capitalize(name)} is ${formatBytes(info.size)}; the limit is ${formatBytes(limits.maxUploadBytes)}. Please upload a smaller image.`,
    );
  }
  if (info.size === 0) throw new InvalidRequestError(`${capitalize(name)} is empty. Please upload an image.`);
  const mime = info.contentType?.split(';')[0]?.trim().toLowerCase();
  if (mime) {
    const accepted = limits.formats.flatMap((f) => MIME_BY_FORMAT[f]);
    if (!accepted.includes(mime)) {
      throw new InvalidRequestError(
        `${capitalize(name)} is not an image I accept (${mime}). Please upload a ${formatList(limits.formats)}.`,
      );
    }
  }
  if (info.width && info.height && info.width * info.height > limits.maxInputPixels) {
    throw new InvalidRequestError(
      `${capitalize(name)} is ${info.width}×${info.height}, more than ${Math.round(limits.maxInputPixels / 1e6)} megapixels. Please upload a smaller image.`,
    );
  }
  return { ...info, label };
}

function parseBlend(text: string | null, styleCount: number): number[] {
  if (text === null || text.trim() === '') return Array.from({ length: styleCount }, () => 1);
  const parts = text.split(/[,\s]+/).filter(Boolean);
  const values = parts.map(Number);
  if (parts.length !== styleCount || values.some((v) => !Number.isFinite(v) || v < 0)) {
    throw new InvalidRequestError(
      `style_blend needs ${styleCount} non-negative number${styleCount > 1 ? 's' : ''}, one per style image (e.g. "${Array.from({ length: styleCount }, (_, i) => i + 1).join(',')}").`,
    );
  }
  const { min, max } = OPTION_BOUNDS.styleBlend;
  if (values.some((v) => v > max) || values.every((v) => v === 0)) {
    throw new InvalidRequestError(
      `Each style_blend value must be between ${min} and ${max}, and at least one must be above ${min}.`,
    );
  }
  return values;
}

function checkNumber(name: string, value: number | null, bounds: { min: number; max: number }): number | undefined {
  if (value === null) return undefined;
  if (!Number.isFinite(value) || value < bounds.min || value > bounds.max) {
    throw new InvalidRequestError(`${name} must be between ${bounds.min} and ${bounds.max}.`);
  }
  return value;
}

function checkInteger(name: string, value: number | null, bounds: { min: number; max: number }): number | undefined {
  const checked = checkNumber(name, value, bounds);
  if (checked !== undefined && !Number.isInteger(checked)) throw new InvalidRequestError(`${name} must be a whole number.`);
  return checked;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
