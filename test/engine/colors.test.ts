import { describe, expect, it } from 'vitest';
import {
  colorStats,
  matchColors,
  matchedGreyscale,
  presentImage,
  prepareImages,
  symmetricPower,
  withChromaOf,
} from '../../src/engine/colors.ts';
import { floatToRgb, fromCaffe, initialImage, NOISE_AMPLITUDE, resizeImage, toCaffe, type FloatImage } from '../../src/engine/pixels.ts';
import { seededRandom } from '../helpers/tiny-vgg.ts';
import { photo, stripes } from './fixtures.ts';

/** Uniform random RGB in [low, high), per channel times `tint`. */
function randomImage(width: number, height: number, seed: number, low: number, high: number, tint = [1, 1, 1]): FloatImage {
  const random = seededRandom(seed);
  const data = new Float32Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (low + (high - low) * random()) * tint[i % 3]!;
  return { width, height, data };
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

describe('colour preservation', () => {
  it('symmetricPower: (M^½)² = M and M^-½ M M^-½ = I', () => {
    const m = [
      [400, 120, -30],
      [120, 250, 60],
      [-30, 60, 90],
    ];
    const mul = (a: number[][], b: number[][]) => a.map((r) => [0, 1, 2].map((j) => r.reduce((s, v, k) => s + v * b[k]![j]!, 0)));
    const half = symmetricPower(m, 0.5);
    const inv = symmetricPower(m, -0.5);
    mul(half, half).forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(m[i]![j]!, 6)));
    mul(mul(inv, m), inv).forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(i === j ? 1 : 0, 8)));
  });

  it('matchColors gives the style the content’s colour mean and covariance', () => {
    const content = randomImage(24, 24, 1, 60, 160, [1, 0.8, 0.5]);
    const style = randomImage(30, 20, 2, 100, 140);
    const a = colorStats(matchColors(style, content));
    const b = colorStats(content);
    a.mean.forEach((v, i) => expect(v).toBeCloseTo(b.mean[i]!, 1));
    a.covariance.flat().forEach((v, i) => expect(v).toBeCloseTo(b.covariance.flat()[i]!, 0));
  });

  it('luminance-only transfer: a grey style with the content’s luminance spread, recombined with its chroma', () => {
    const content = randomImage(16, 16, 3, 0, 255);
    const style = randomImage(16, 16, 4, 100, 120);
    const grey = matchedGreyscale(style, content);
    for (let i = 0; i < grey.data.length; i += 3) {
      expect(grey.data[i]).toBe(grey.data[i + 1]);
      expect(grey.data[i]).toBe(grey.data[i + 2]);
    }
    const luma = (image: FloatImage) =>
      Array.from({ length: image.data.length / 3 }, (_, p) => 0.299 * image.data[3 * p]! + 0.587 * image.data[3 * p + 1]! + 0.114 * image.data[3 * p + 2]!);
    const variance = (values: number[]) => {
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      return values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length;
    };
    expect(variance(luma(grey))).toBeCloseTo(variance(luma(content)), -1);
    // The content recombined with its own chroma is itself.
    expect(maxDiff(withChromaOf(content, content).data, content.data)).toBeLessThan(0.05);
  });

  it('prepares what the network sees and shows results in the user’s colours', () => {
    const content = photo(20, 16, 1);
    const request = { content, styles: [{ image: stripes(24, 24), weight: 2 }] };
    const plain = prepareImages(request, 'none');
    expect(plain.contentRgb).toBeUndefined();
    expect(plain.styles[0]!.weight).toBe(2);
    expect(presentImage(plain.content, plain)).toEqual(content);
    const luminance = prepareImages(request, 'luminance');
    const seen = fromCaffe(luminance.content).data;
    expect(seen[0]).toBeCloseTo(seen[1]!, 3);
    // Shown with the content's chroma again: close to the photo, at any scale.
    const shown = presentImage(luminance.content, luminance);
    let diff = 0;
    for (let i = 0; i < content.data.length; i++) diff += Math.abs(shown.data[i]! - content.data[i]!);
    expect(diff / content.data.length).toBeLessThan(1);
    expect(presentImage(resizeImage(luminance.content, 10, 8), luminance)).toMatchObject({ width: 10, height: 8 });
  });
});

describe('pixels', () => {
  it('caffe preprocessing round-trips', () => {
    const rgb = randomImage(7, 5, 5, 0, 255);
    const caffe = toCaffe(rgb);
    // BGR order: the first channel is blue minus its mean.
    expect(caffe.data[0]).toBeCloseTo(rgb.data[2]! - 103.939, 3);
    expect(maxDiff(fromCaffe(caffe).data, rgb.data)).toBeLessThan(1e-4);
    expect(floatToRgb({ width: 1, height: 1, data: Float32Array.of(-3, 127.6, 300) }).data).toEqual(Uint8Array.of(0, 128, 255));
  });

  it('resizes: 2x2 averages while at least twice the target, then bilinear; the same size is the same image', () => {
    const ramp: FloatImage = { width: 8, height: 4, data: new Float32Array(8 * 4 * 3).map((_, i) => Math.floor(i / 3) % 8) };
    const half = resizeImage(ramp, 4, 2);
    expect(Array.from(half.data.filter((_, i) => i % 3 === 0))).toEqual([0.5, 2.5, 4.5, 6.5, 0.5, 2.5, 4.5, 6.5]);
    expect(resizeImage(ramp, 8, 4)).toBe(ramp);
    // Bilinear with half-pixel centres: 8 → 6 columns samples at 0.17, 1.5, 2.83, ...
    const six = resizeImage(ramp, 6, 4);
    const row = Array.from(six.data.filter((_, i) => i % 3 === 0)).slice(0, 6);
    row.forEach((v, x) => expect(v).toBeCloseTo(Math.max(0, (x + 0.5) * (8 / 6) - 0.5), 5));
    // Enlarging keeps the edge values.
    const up = resizeImage(ramp, 16, 8);
    expect(up.data[0]).toBe(0);
    expect(up.data[(16 - 1) * 3]).toBe(7);
  });

  it('starts from the content, from seeded noise blended in, or from noise alone', () => {
    const content = toCaffe(randomImage(9, 7, 6, 0, 255));
    expect(initialImage('content', content, 0.7, 1).data).toEqual(content.data);
    const a = initialImage('noise', content, 0.7, 42);
    expect(initialImage('noise', content, 0.7, 42).data).toEqual(a.data);
    expect(maxDiff(initialImage('noise', content, 0.7, 43).data, a.data)).toBeGreaterThan(1);
    const noise = initialImage('random', content, 0.7, 42).data;
    expect(Math.max(...noise.map(Math.abs))).toBeLessThanOrEqual(NOISE_AMPLITUDE);
    // noise·0.7 + content·0.3
    expect(a.data[5]).toBeCloseTo(noise[5]! * 0.7 + content.data[5]! * 0.3, 4);
  });
});
