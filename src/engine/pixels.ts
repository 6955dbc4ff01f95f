import { assertRgbImage, type RgbImage } from '../images/rgb-image.ts';
import type { CaffeImage } from './compute.ts';
import type { InitMode } from './types.ts';

/**
 * Images as the engine handles them between evaluations: float32, 3 channels interleaved, row-major. RGB 0-255
 * for colour work, and Keras "caffe" preprocessing (BGR, 0-255, ImageNet mean subtracted), the input VGG19 was
 * trained on, for optimization. `toCaffe` and `fromCaffe` are exact inverses.
 */

export interface FloatImage {
  readonly width: number;
  readonly height: number;
  /** Length width × height × 3. */
  readonly data: Float32Array;
}

export const CAFFE_MEAN_BGR: readonly [number, number, number] = [103.939, 116.779, 123.68];

/** 8-bit RGB → float RGB 0-255. */
export function rgbToFloat(image: RgbImage): FloatImage {
  assertRgbImage(image);
  return { width: image.width, height: image.height, data: Float32Array.from(image.data) };
}

/** Float RGB → 8-bit RGB, rounded and clipped to 0-255. */
export function floatToRgb(image: FloatImage): RgbImage {
  // A Uint8ClampedArray clips and rounds on assignment (NaN becomes 0).
  const clamped = new Uint8ClampedArray(image.data.length);
  clamped.set(image.data);
  return { width: image.width, height: image.height, data: new Uint8Array(clamped.buffer) };
}

/** Float RGB 0-255 → caffe. */
export function toCaffe(rgb: FloatImage): CaffeImage {
  const [b, g, r] = CAFFE_MEAN_BGR;
  const source = rgb.data;
  const data = new Float32Array(source.length);
  for (let i = 0; i < source.length; i += 3) {
    data[i] = source[i + 2]! - b;
    data[i + 1] = source[i + 1]! - g;
    data[i + 2] = source[i]! - r;
  }
  return { width: rgb.width, height: rgb.height, data };
}

/** Caffe → float RGB, unclipped. */
export function fromCaffe(x: CaffeImage): FloatImage {
  const [b, g, r] = CAFFE_MEAN_BGR;
  const source = x.data;
  const data = new Float32Array(source.length);
  for (let i = 0; i < source.length; i += 3) {
    data[i] = source[i + 2]! + r;
    data[i + 1] = source[i + 1]! + g;
    data[i + 2] = source[i]! + b;
  }
  return { width: x.width, height: x.height, data };
}

/** Clips a caffe image, in place, to colours that exist (0-255 per channel). Returns it. */
export function clipToPixelRange<T extends CaffeImage>(x: T): T {
  const data = x.data;
  for (let i = 0; i < data.length; i += 3) {
    for (let c = 0; c < 3; c++) {
      const mean = CAFFE_MEAN_BGR[c]!;
      const v = data[i + c]!;
      if (v < -mean) data[i + c] = -mean;
      else if (v > 255 - mean) data[i + c] = 255 - mean;
    }
  }
  return x;
}

/**
 * Resizes an image. Shrinking halves with 2x2 averages while the image is at least twice the target, then
 * finishes bilinearly (half-pixel centres), so that strong reductions do not alias. Returns `image` itself when
 * it already has the size.
 */
export function resizeImage(image: FloatImage, width: number, height: number): FloatImage {
  let current: FloatImage = image;
  while (current.height >= 2 * height && current.width >= 2 * width) current = halve(current);
  if (current.width === width && current.height === height) return current;
  return bilinear(current, width, height);
}

/** 2x2 averages; an odd last row or column is dropped. */
function halve(image: FloatImage): FloatImage {
  const width = Math.floor(image.width / 2);
  const height = Math.floor(image.height / 2);
  const source = image.data;
  const row = image.width * 3;
  const data = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const top = 2 * y * row;
    const bottom = top + row;
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      const s = 6 * x;
      for (let c = 0; c < 3; c++) {
        data[o + c] = (source[top + s + c]! + source[top + s + 3 + c]! + source[bottom + s + c]! + source[bottom + s + 3 + c]!) / 4;
      }
    }
  }
  return { width, height, data };
}

/** Bilinear resampling with half-pixel centres (as tf.image.resizeBilinear with halfPixelCenters). */
function bilinear(image: FloatImage, width: number, height: number): FloatImage {
  const source = image.data;
  const rowScale = image.height / height;
  const colScale = image.width / width;
  const columns = Array.from({ length: width }, (_, x) => sample(x, colScale, image.width));
  const data = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const [y0, y1, fy] = sample(y, rowScale, image.height);
    const top = y0 * image.width * 3;
    const bottom = y1 * image.width * 3;
    for (let x = 0; x < width; x++) {
      const [x0, x1, fx] = columns[x]!;
      const o = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) {
        const a = source[top + x0 * 3 + c]!;
        const b = source[top + x1 * 3 + c]!;
        const upper = a + (b - a) * fx;
        const d = source[bottom + x0 * 3 + c]!;
        const e = source[bottom + x1 * 3 + c]!;
        const lower = d + (e - d) * fx;
        data[o + c] = upper + (lower - upper) * fy;
      }
    }
  }
  return { width, height, data };
}

/** The two source indices an output index reads and the weight of the second one. */
function sample(index: number, ratio: number, size: number): [number, number, number] {
  const position = Math.max(0, (index + 0.5) * ratio - 0.5);
  const low = Math.min(Math.floor(position), size - 1);
  return [low, Math.min(low + 1, size - 1), position - low];
}

/** Half-width of the uniform noise, in 0-255 units around the mean colour (the seed article's ±20). */
export const NOISE_AMPLITUDE = 20;

/**
 * The starting image: the content itself, the content blended with uniform noise (`ratio` of noise, as the
 * seed article's 0.7), or noise alone. The noise comes from a seeded generator in JavaScript, so the same seed
 * gives the same start on every backend.
 */
export function initialImage(mode: InitMode, content: CaffeImage, ratio: number, seed: number): CaffeImage {
  const data = Float32Array.from(content.data);
  if (mode !== 'content') {
    const random = seededRandom(seed);
    const keep = mode === 'random' ? 0 : 1 - ratio;
    const mix = mode === 'random' ? 1 : ratio;
    for (let i = 0; i < data.length; i++) {
      const noise = (2 * random() - 1) * NOISE_AMPLITUDE;
      data[i] = noise * mix + data[i]! * keep;
    }
  }
  return { width: content.width, height: content.height, data };
}

/** mulberry32: a small, fast generator of uniform numbers in [0, 1) from a 32-bit seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
