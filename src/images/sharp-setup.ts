import sharp, { type Sharp } from 'sharp';
import { assertRgbImage, type RgbImage } from './rgb-image.ts';

// Every upload is decoded once, so libvips' operation cache would only keep strangers' pixels in memory.
sharp.cache(false);

/**
 * sharp for bytes nobody vouches for. `failOn: 'warning'` (sharp's advice for untrusted input) makes truncated
 * and corrupt data an error instead of grey or garbled pixels; `limitInputPixels` refuses oversized images
 * before libvips allocates them; only the first frame or page is read; `unlimited: false` keeps libpng's and
 * librsvg's own size guards on.
 */
export function openUntrusted(bytes: Uint8Array, maxPixels: number): Sharp {
  return sharp(bytes, {
    failOn: 'warning',
    limitInputPixels: maxPixels,
    unlimited: false,
    autoOrient: true,
    animated: false,
    pages: 1,
    page: 0,
    sequentialRead: true,
  });
}

/** Header-only view of untrusted bytes: no pixel limit here, so that an oversized image can be named exactly. */
export function openHeader(bytes: Uint8Array): Sharp {
  return sharp(bytes, { failOn: 'warning', limitInputPixels: false, unlimited: false, animated: false });
}

/** sharp over our own RGB pixels (engine output, already-decoded images). */
export function openRgb(image: RgbImage): Sharp {
  assertRgbImage(image);
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
}

/** Raw sharp output as an RgbImage, checking that it really is 8-bit, 3-channel. */
export async function toRgb(pipeline: Sharp): Promise<RgbImage> {
  const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
    throw new Error(`expected 8-bit RGB from sharp, got ${info.channels} channels, ${data.length} bytes`);
  }
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}
