/** Decoded pixels as the whole project passes them around: 8-bit sRGB, 3 channels, row-major, no alpha. */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  /** Length is width * height * 3. */
  readonly data: Uint8Array;
}
