import { UserFacingError } from '../errors/user-facing-error.ts';
import type { ImageFormat } from '../config/index.ts';

/**
 * Every failure of the image pipeline that a user may see. `label` names the upload ("content", "style") so
 * that messages can say which one was bad; without it they say "That file" / "That image".
 */
export abstract class ImageError extends UserFacingError {}

const FORMAT_NAMES: Record<ImageFormat, string> = {
  jpeg: 'JPEG',
  png: 'PNG',
  webp: 'WebP',
  gif: 'GIF',
  avif: 'AVIF',
  tiff: 'TIFF',
};

export function formatName(format: ImageFormat): string {
  return FORMAT_NAMES[format];
}

/** "a PNG, JPEG, WebP, GIF or AVIF" in the order the admin configured them. */
export function formatList(formats: readonly ImageFormat[]): string {
  const names = formats.map(formatName);
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;
}

/** "The style image" / "That image": how messages and notes name an upload. */
export function subject(label: string | undefined, noun: 'file' | 'image'): string {
  return label ? `The ${label} ${noun}` : `That ${noun}`;
}

/** "300 bytes", "48 KB", "2.5 MB", "20 MB" (binary units, as Discord counts them). */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  const mb = bytes / (1024 * 1024);
  return mb >= 10 ? `${Math.round(mb)} MB` : `${Number(mb.toFixed(1))} MB`;
}

function megapixels(pixels: number): string {
  const mp = pixels / 1_000_000;
  return mp >= 10 ? `${Math.round(mp)} megapixels` : `${Number(mp.toFixed(1))} megapixels`;
}

export class EmptyFileError extends ImageError {
  constructor(readonly label?: string) {
    super(`${subject(label, 'file')} is empty (0 bytes). Please upload the image again.`);
  }
}

export class ImageTooLargeError extends ImageError {
  constructor(
    readonly bytes: number,
    readonly maxBytes: number,
    readonly label?: string,
  ) {
    super(
      `${subject(label, 'file')} is ${formatBytes(bytes)}, over the ${formatBytes(maxBytes)} limit. ` +
        'Please upload a smaller file.',
    );
  }
}

export class UnsupportedFormatError extends ImageError {
  constructor(
    /** What the bytes turned out to be, e.g. "SVG", "HEIC", "text", "unknown data". */
    readonly found: string,
    readonly allowed: readonly ImageFormat[],
    readonly label?: string,
  ) {
    super(
      `${subject(label, 'file')} is not an image I can read (found: ${found}). ` +
        `Please upload a ${formatList(allowed)}.`,
    );
  }
}

export class TooManyPixelsError extends ImageError {
  constructor(
    readonly width: number,
    readonly height: number,
    readonly maxPixels: number,
    readonly label?: string,
  ) {
    super(
      `${subject(label, 'image')} is ${width}×${height} pixels (${megapixels(width * height)}), more than the ` +
        `${megapixels(maxPixels)} I accept. Please upload a smaller image.`,
    );
  }
}

export class CorruptImageError extends ImageError {
  constructor(
    readonly format: ImageFormat,
    readonly label?: string,
    options?: { cause?: unknown },
  ) {
    super(
      `${subject(label, 'image')} (${formatName(format)}) looks damaged or incomplete. ` +
        'Please upload it again, or re-save it as a PNG or JPEG.',
      options,
    );
  }
}

export class ImageTimeoutError extends ImageError {
  constructor(
    readonly label?: string,
    options?: { cause?: unknown },
  ) {
    super(`${subject(label, 'image')} took too long to read. Please try a smaller or simpler image.`, options);
  }
}

export class ImageTooSmallError extends ImageError {
  constructor(
    readonly width: number,
    readonly height: number,
    readonly minSide: number,
    readonly label?: string,
  ) {
    super(
      `${subject(label, 'image')} is only ${width}×${height} pixels. ` +
        `Please upload one at least ${minSide} pixels on each side.`,
    );
  }
}

/** So long and thin that keeping every side at least `minSide` would exceed `maxSide`. */
export class ExtremeAspectRatioError extends ImageError {
  constructor(
    readonly width: number,
    readonly height: number,
    readonly minSide: number,
    readonly maxSide: number,
    readonly label?: string,
  ) {
    super(
      `${subject(label, 'image')} is too long and thin (${width}×${height}) to fit in ${maxSide} pixels with every ` +
        `side at least ${minSide}. Please crop it closer to a rectangle.`,
    );
  }
}

export class EncodeTooLargeError extends ImageError {
  constructor(readonly maxBytes: number) {
    super(
      `The result does not fit in ${formatBytes(maxBytes)}, even as a smaller JPEG. Please try a smaller size.`,
    );
  }
}

/** Anything the image library reported that has no better name; the cause keeps the details for the logs. */
export class ImageProcessingError extends ImageError {
  constructor(
    readonly label?: string,
    options?: { cause?: unknown },
  ) {
    const what = label ? `the ${label} image` : 'that image';
    super(`Something went wrong while processing ${what}. Please try again or use another image.`, options);
  }
}

export class ImageFileNotFoundError extends ImageError {
  constructor(readonly path: string) {
    super(`There is no file at ${path}. Please check the path.`);
  }
}

export class NotAFileError extends ImageError {
  constructor(readonly path: string) {
    super(`${path} is not a file (it may be a folder). Please give the path of an image file.`);
  }
}

export class ImageFileReadError extends ImageError {
  constructor(
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(`I could not read ${path}${reasonOf(options?.cause)}. Please check the file and its permissions.`, options);
  }
}

export class ImageFileWriteError extends ImageError {
  constructor(
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(
      `I could not write ${path}${reasonOf(options?.cause)}. Please check the folder and its permissions.`,
      options,
    );
  }
}

export class UnsupportedOutputFormatError extends ImageError {
  constructor(readonly path: string) {
    super(`I can only write .png, .jpg, .jpeg or .webp files, not ${path}. Please change the file name.`);
  }
}

const ERRNO_REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOENT: 'the folder does not exist',
  ENOTDIR: 'a part of the path is not a folder',
  EISDIR: 'it is a folder',
  ENOSPC: 'the disk is full',
  EROFS: 'the disk is read-only',
  EIO: 'an input/output error',
};

function reasonOf(cause: unknown): string {
  const code = (cause as { code?: unknown } | undefined)?.code;
  const reason = typeof code === 'string' ? ERRNO_REASONS[code] : undefined;
  return reason ? ` (${reason})` : '';
}
