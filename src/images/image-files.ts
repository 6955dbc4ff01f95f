import { randomBytes } from 'node:crypto';
import { open, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeImage, type DecodeLimits, type DecodeOptions, type DecodedImage } from './decode.ts';
import { encodeImage, type EncodedImage, type EncodeSettings } from './encode.ts';
import {
  ImageFileNotFoundError,
  ImageFileReadError,
  ImageFileWriteError,
  ImageTooLargeError,
  NotAFileError,
  UnsupportedOutputFormatError,
} from './errors.ts';
import type { RgbImage } from './rgb-image.ts';

function errno(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Reads at most `maxBytes` + 1 bytes, so a file that grows after the size check still cannot flood memory. */
async function readBounded(file: string, maxBytes: number, label: string | undefined): Promise<Uint8Array> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if (errno(error) === 'ENOENT') throw new ImageFileNotFoundError(file);
    if (errno(error) === 'EISDIR') throw new NotAFileError(file);
    throw new ImageFileReadError(file, { cause: error });
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new NotAFileError(file);
    if (stats.size > maxBytes) throw new ImageTooLargeError(stats.size, maxBytes, label);
    const buffer = Buffer.alloc(Math.min(stats.size, maxBytes) + 1);
    let filled = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
      if (filled > maxBytes) throw new ImageTooLargeError(filled, maxBytes, label);
      if (filled === buffer.length) break;
    }
    return buffer.subarray(0, filled);
  } catch (error) {
    if (error instanceof NotAFileError || error instanceof ImageTooLargeError) throw error;
    if (errno(error) === 'EISDIR') throw new NotAFileError(file);
    throw new ImageFileReadError(file, { cause: error });
  } finally {
    await handle.close();
  }
}

/** For the CLI: reads and decodes an image file with the same checks as an upload. */
export async function readImageFile(
  file: string,
  limits: DecodeLimits,
  label?: string,
  options?: DecodeOptions,
): Promise<DecodedImage> {
  const bytes = await readBounded(file, limits.maxBytes, label);
  return decodeImage(bytes, limits, label, options);
}

const BY_EXTENSION: Record<string, EncodeSettings> = {
  '.png': { format: 'png' },
  '.jpg': { format: 'jpeg', quality: 95, chroma: '4:4:4' },
  '.jpeg': { format: 'jpeg', quality: 95, chroma: '4:4:4' },
  '.webp': { format: 'webp', quality: 95 },
};

/** The encoding writeImageFile would use for `file`, or undefined for an extension it does not write. */
export function outputSettingsFor(file: string): EncodeSettings | undefined {
  return BY_EXTENSION[path.extname(file).toLowerCase()];
}

/**
 * Writes `image` to `file` in the format its extension names (.png, .jpg/.jpeg at quality 95, .webp at 95).
 * Writes a temporary file beside it and renames it, so a failure never leaves a half-written image.
 */
export async function writeImageFile(file: string, image: RgbImage): Promise<EncodedImage> {
  const settings = outputSettingsFor(file);
  if (!settings) throw new UnsupportedOutputFormatError(file);
  const encoded = await encodeImage(image, settings);
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(temporary, encoded.bytes, { flag: 'wx' });
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw new ImageFileWriteError(file, { cause: error });
  }
  return encoded;
}
