import type { Sharp } from 'sharp';
import { EncodeTooLargeError, formatBytes } from './errors.ts';
import { assertRgbImage, type RgbImage } from './rgb-image.ts';
import { resizeRgb } from './resize.ts';
import { openRgb } from './sharp-setup.ts';
import { processingFailure } from './sharp-errors.ts';
import { MIN_SIDE, longSide, scaleToLongSide, shortSide } from './size-plan.ts';

export type OutputFormat = 'png' | 'jpeg' | 'webp';

export interface EncodedImage {
  bytes: Buffer;
  format: OutputFormat;
  mime: string;
  /** Without the dot: png, jpg, webp. */
  extension: string;
  width: number;
  height: number;
  /** For the user when the result is not the lossless full-size PNG, e.g. a JPEG or a smaller size. */
  note?: string;
}

export const PREVIEW_MAX_SIDE = 384;
/** Previews above this are encoded again at a lower quality. */
export const PREVIEW_MAX_BYTES = 100 * 1024;

const MIME: Record<OutputFormat, string> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' };
const EXTENSION: Record<OutputFormat, string> = { png: 'png', jpeg: 'jpg', webp: 'webp' };

/** Lossy steps for a final image that is too big as a PNG; 4:4:4 chroma keeps painted edges crisp. */
const JPEG_LADDER: readonly { quality: number; chroma: '4:4:4' | '4:2:0' }[] = [
  { quality: 95, chroma: '4:4:4' },
  { quality: 90, chroma: '4:4:4' },
  { quality: 85, chroma: '4:2:0' },
  { quality: 80, chroma: '4:2:0' },
];
/** Shrinks aim a little below the limit so that one step usually suffices. */
const SHRINK_MARGIN = 0.9;

export interface EncodeSettings {
  format: OutputFormat;
  /** JPEG and WebP only. */
  quality?: number;
  chroma?: '4:4:4' | '4:2:0';
}

function applyFormat(pipeline: Sharp, settings: EncodeSettings): Sharp {
  switch (settings.format) {
    case 'png':
      return pipeline.png({ compressionLevel: 6 });
    case 'jpeg':
      return pipeline.jpeg({ quality: settings.quality ?? 92, chromaSubsampling: settings.chroma ?? '4:4:4' });
    case 'webp':
      return pipeline.webp({ quality: settings.quality ?? 92, effort: 4 });
  }
}

/** Encodes as asked, no size games. */
export async function encodeImage(image: RgbImage, settings: EncodeSettings): Promise<EncodedImage> {
  assertRgbImage(image);
  try {
    const bytes = await applyFormat(openRgb(image), settings).toBuffer();
    return {
      bytes,
      format: settings.format,
      mime: MIME[settings.format],
      extension: EXTENSION[settings.format],
      width: image.width,
      height: image.height,
    };
  } catch (error) {
    throw processingFailure(error);
  }
}

/** A small, quick JPEG for progress updates: long side at most 384 px, about 30-100 KB. */
export async function encodePreview(image: RgbImage): Promise<EncodedImage> {
  assertRgbImage(image);
  const small =
    longSide(image) > PREVIEW_MAX_SIDE ? await resizeRgb(image, scaleToLongSide(image, PREVIEW_MAX_SIDE)) : image;
  const preview = await encodeImage(small, { format: 'jpeg', quality: 80, chroma: '4:2:0' });
  if (preview.bytes.length <= PREVIEW_MAX_BYTES) return preview;
  return encodeImage(small, { format: 'jpeg', quality: 60, chroma: '4:2:0' });
}

/**
 * The final image within `maxBytes`: a lossless PNG when it fits, otherwise the best JPEG that fits (quality 95
 * down to 80), otherwise a JPEG at a smaller size. `format` and `note` say which. Throws EncodeTooLargeError
 * when not even a tiny JPEG fits.
 */
export async function encodeFinal(image: RgbImage, maxBytes: number): Promise<EncodedImage> {
  assertRgbImage(image);
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) throw new RangeError('maxBytes must be a positive integer');

  const png = await encodeImage(image, { format: 'png' });
  if (png.bytes.length <= maxBytes) return png;
  const why = `the PNG would be ${formatBytes(png.bytes.length)}, over the ${formatBytes(maxBytes)} limit`;

  let current = image;
  let lastSize = png.bytes.length;
  for (;;) {
    for (const step of JPEG_LADDER) {
      const jpeg = await encodeImage(current, { format: 'jpeg', quality: step.quality, chroma: step.chroma });
      lastSize = jpeg.bytes.length;
      if (jpeg.bytes.length > maxBytes) continue;
      const resized = current !== image;
      const note = resized
        ? `Sent as a ${current.width}×${current.height} JPEG (quality ${step.quality}) because ${why}.`
        : `Sent as a JPEG (quality ${step.quality}) because ${why}.`;
      return { ...jpeg, note };
    }
    // JPEG size grows about linearly with the pixel count.
    const factor = Math.sqrt((maxBytes / lastSize) * SHRINK_MARGIN);
    const size = scaleToLongSide(current, Math.floor(longSide(current) * Math.min(factor, SHRINK_MARGIN)));
    if (shortSide(size) < MIN_SIDE) throw new EncodeTooLargeError(maxBytes);
    current = await resizeRgb(image, size);
  }
}
