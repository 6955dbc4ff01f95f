import type { ImageFormat } from '../config/index.ts';
import {
  CorruptImageError,
  ImageError,
  ImageProcessingError,
  ImageTimeoutError,
  TooManyPixelsError,
} from './errors.ts';

/** libvips' messages are the only signal it gives; these are the ones with a better name than "corrupt". */
const TIMEOUT = /\btimeout\b|killed for image/i;
const PIXEL_LIMIT = /exceeds pixel limit/i;
const OUT_OF_MEMORY = /out of memory|vips_malloc|cannot allocate|std::bad_alloc/i;

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Turns whatever sharp threw while decoding an upload into a typed error. Bytes that passed the format check and
 * still fail to decode are, short of a timeout or memory exhaustion, damaged: that is what the user hears.
 */
export function decodeFailure(
  error: unknown,
  context: { format: ImageFormat; label?: string; width?: number; height?: number; maxPixels: number },
): ImageError {
  if (error instanceof ImageError) return error;
  const message = messageOf(error);
  const { format, label } = context;
  if (TIMEOUT.test(message)) return new ImageTimeoutError(label, { cause: error });
  if (PIXEL_LIMIT.test(message) && context.width !== undefined && context.height !== undefined) {
    return new TooManyPixelsError(context.width, context.height, context.maxPixels, label);
  }
  if (OUT_OF_MEMORY.test(message)) return new ImageProcessingError(label, { cause: error });
  return new CorruptImageError(format, label, { cause: error });
}

/** Turns a failure while resizing or encoding our own pixels into a typed error. */
export function processingFailure(error: unknown, label?: string): ImageError {
  if (error instanceof ImageError) return error;
  if (TIMEOUT.test(messageOf(error))) return new ImageTimeoutError(label, { cause: error });
  return new ImageProcessingError(label, { cause: error });
}
