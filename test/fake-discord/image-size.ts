import sharp from 'sharp';

/** Width and height when the bytes are an image sharp can read (Discord reports them for images only). */
export async function imageSize(bytes: Uint8Array): Promise<{ width: number; height: number } | undefined> {
  try {
    const { width, height } = await sharp(bytes).metadata();
    return width && height ? { width, height } : undefined;
  } catch {
    return undefined;
  }
}

const TYPES_BY_EXTENSION: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  avif: 'image/avif',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  txt: 'text/plain; charset=utf-8',
  json: 'application/json; charset=utf-8',
};

export function contentTypeFor(filename: string, declared: string | undefined): string | undefined {
  if (declared && declared !== 'application/octet-stream') return declared;
  const extension = filename.split('.').pop()?.toLowerCase() ?? '';
  return TYPES_BY_EXTENSION[extension] ?? declared;
}

/** Discord replaces spaces in uploaded file names with underscores and drops characters URLs cannot carry. */
export function sanitizeFilename(name: string): string {
  const cleaned = name
    .replace(/\s+/g, '_')
    .replace(/[^\w.-]/g, '')
    .slice(0, 1024);
  return cleaned.length > 0 && !/^\.+$/.test(cleaned) ? cleaned : 'unknown';
}
