import type { Metadata } from 'sharp';
import type { Config, ImageFormat } from '../config/index.ts';
import {
  CorruptImageError,
  EmptyFileError,
  ImageTooLargeError,
  TooManyPixelsError,
  UnsupportedFormatError,
  subject,
} from './errors.ts';
import type { RgbImage } from './rgb-image.ts';
import { openHeader, openUntrusted, toRgb } from './sharp-setup.ts';
import { decodeFailure } from './sharp-errors.ts';
import { planFit, planStyleSize, type Dimensions, type SizePlan } from './size-plan.ts';
import { sniffFormat } from './sniff-format.ts';

export interface Rgb {
  r: number;
  g: number;
  b: number;
}

export interface DecodeLimits {
  /** Larger files are refused before anything is parsed. */
  maxBytes: number;
  /** Width × height (after choosing the first frame); larger images are refused from their header. */
  maxPixels: number;
  /** Accepted formats, detected from the bytes. */
  formats: readonly ImageFormat[];
  /** Transparent pixels are flattened onto this colour; white by default. */
  background?: Rgb;
  /** A decode that takes longer fails with ImageTimeoutError; 30 s by default. Whole seconds, at least 1. */
  timeoutSeconds?: number;
}

export interface DecodeOptions {
  /**
   * Decides the final size from the upload's dimensions (after EXIF orientation); decoding then resizes in the
   * same pass, which lets JPEG and WebP shrink while they load: faster, and the full-size pixels never exist.
   */
  plan?: (original: Dimensions) => SizePlan;
}

export interface DecodedImage extends RgbImage {
  /** The real format, from the bytes. */
  readonly format: ImageFormat;
  /** The upload's size after EXIF orientation, before any resize. */
  readonly originalWidth: number;
  readonly originalHeight: number;
  /** For the user, e.g. that only the first frame of an animation was used, or that the image was enlarged. */
  readonly note?: string;
}

export const DEFAULT_BACKGROUND: Rgb = { r: 255, g: 255, b: 255 };
export const DEFAULT_DECODE_TIMEOUT_SECONDS = 30;

/** The limits from the validated settings (MAX_UPLOAD_BYTES, MAX_INPUT_PIXELS, IMAGE_FORMATS). */
export function decodeLimitsFromConfig(images: Config['images']): DecodeLimits {
  return { maxBytes: images.maxUploadBytes, maxPixels: images.maxInputPixels, formats: images.formats };
}

function checkLimits(limits: DecodeLimits): void {
  const positiveInt = (n: number) => Number.isSafeInteger(n) && n > 0;
  if (!positiveInt(limits.maxBytes) || !positiveInt(limits.maxPixels)) {
    throw new RangeError('maxBytes and maxPixels must be positive integers');
  }
  if (limits.formats.length === 0) throw new RangeError('at least one image format must be allowed');
  const timeout = limits.timeoutSeconds ?? DEFAULT_DECODE_TIMEOUT_SECONDS;
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > 3600) {
    throw new RangeError('timeoutSeconds must be a whole number from 1 to 3600');
  }
}

/** The format sharp's own loader reports must be the one the magic bytes named. */
function loaderMatches(format: ImageFormat, header: Metadata): boolean {
  if (format === 'avif') return header.format === 'heif' && header.compression === 'av1';
  return header.format === format;
}

async function readHeader(bytes: Uint8Array, format: ImageFormat, label: string | undefined): Promise<Metadata> {
  let header: Metadata;
  try {
    header = await openHeader(bytes).metadata();
  } catch (error) {
    throw new CorruptImageError(format, label, { cause: error });
  }
  if (!loaderMatches(format, header) || !(header.width > 0) || !(header.height > 0)) {
    throw new CorruptImageError(format, label, {
      cause: new Error(`sharp read ${header.format} ${header.width}x${header.height}, expected ${format}`),
    });
  }
  return header;
}

/**
 * Turns an upload into 8-bit sRGB pixels, refusing anything hostile with a typed ImageError before it costs
 * memory: size in bytes, then the real format from the magic bytes, then the header's pixel count, and only
 * then a full decode (EXIF orientation applied, any colour space or depth converted to sRGB, alpha flattened
 * onto `limits.background`, first frame of animations). `label` ("content", "style") names the upload in
 * messages. `options.plan` may refuse the size with its own ImageError. Invalid `limits` are a programming
 * error (RangeError), never the upload's fault.
 */
export async function decodeImage(
  bytes: Uint8Array,
  limits: DecodeLimits,
  label?: string,
  options: DecodeOptions = {},
): Promise<DecodedImage> {
  checkLimits(limits);
  if (bytes.byteLength === 0) throw new EmptyFileError(label);
  if (bytes.byteLength > limits.maxBytes) throw new ImageTooLargeError(bytes.byteLength, limits.maxBytes, label);

  const sniffed = sniffFormat(bytes);
  if (sniffed.kind !== 'image' || !limits.formats.includes(sniffed.format)) {
    throw new UnsupportedFormatError(sniffed.name, limits.formats, label);
  }
  const format = sniffed.format;

  const header = await readHeader(bytes, format, label);
  const original = { width: header.autoOrient.width, height: header.autoOrient.height };
  if (header.width * header.height > limits.maxPixels) {
    throw new TooManyPixelsError(original.width, original.height, limits.maxPixels, label);
  }
  const plan = options.plan?.(original);
  const notes: string[] = [];
  if ((header.pages ?? 1) > 1 && (format === 'gif' || format === 'webp' || format === 'avif')) {
    notes.push(`${subject(label, 'image')} is animated; I used its first frame.`);
  }
  if (plan?.note) notes.push(plan.note);

  const pipeline = openUntrusted(bytes, limits.maxPixels)
    .timeout({ seconds: limits.timeoutSeconds ?? DEFAULT_DECODE_TIMEOUT_SECONDS })
    .flatten({ background: limits.background ?? DEFAULT_BACKGROUND })
    .toColourspace('srgb');
  if (plan && (plan.width !== original.width || plan.height !== original.height)) {
    const enlarging = plan.width > original.width;
    // JPEG and WebP shrink by a power of two while decoding (never below the target), then lanczos3 does the
    // rest: on average within one level of a full decode and resize (a test checks it), at a fraction of the cost.
    pipeline.resize(plan.width, plan.height, { fit: 'fill', kernel: enlarging ? 'mitchell' : 'lanczos3' });
  }

  let pixels: RgbImage;
  try {
    pixels = await toRgb(pipeline);
  } catch (error) {
    throw decodeFailure(error, { format, label, ...original, maxPixels: limits.maxPixels });
  }
  return {
    ...pixels,
    format,
    originalWidth: original.width,
    originalHeight: original.height,
    ...(notes.length > 0 ? { note: notes.join(' ') } : {}),
  };
}

/**
 * Decodes a content upload straight to its output size (see planFit): long side `size`, clamped to `maxSize`,
 * aspect ratio kept, tiny images refused.
 */
export function decodeContentImage(
  bytes: Uint8Array,
  limits: DecodeLimits,
  size: { requested: number; max: number },
  label = 'content',
): Promise<DecodedImage> {
  return decodeImage(bytes, limits, label, {
    plan: (original) => planFit(original, size.requested, size.max, label),
  });
}

/** Decodes a style upload straight to its size for an output of `output` at `styleScale` (see planStyleSize). */
export function decodeStyleImage(
  bytes: Uint8Array,
  limits: DecodeLimits,
  output: Dimensions,
  styleScale: number,
  label = 'style',
): Promise<DecodedImage> {
  return decodeImage(bytes, limits, label, {
    plan: (original) => planStyleSize(original, output, styleScale, label),
  });
}
