/** Decoded pixels as the whole project passes them around: 8-bit sRGB, 3 channels, row-major, no alpha. */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  /** Length is width * height * 3. */
  readonly data: Uint8Array;
}

/** Throws a RangeError unless `image` has positive whole dimensions and exactly width × height × 3 bytes. */
export function assertRgbImage(image: RgbImage): void {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`image dimensions must be positive integers, got ${width}x${height}`);
  }
  if (data.length !== width * height * 3) {
    throw new RangeError(`RGB buffer holds ${data.length} bytes, expected ${width}x${height}x3`);
  }
}
