import type { RgbImage } from '../../src/images/rgb-image.ts';
import { seededRandom } from '../helpers/tiny-vgg.ts';

/** A photo-like test image: smooth gradients, a bright disc and some noise, so features have structure. */
export function photo(width: number, height: number, seed = 1): RgbImage {
  const random = seededRandom(seed);
  const data = new Uint8Array(width * height * 3);
  const cx = width * (0.3 + 0.4 * random());
  const cy = height * (0.3 + 0.4 * random());
  const radius = Math.min(width, height) / 4;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const inDisc = (x - cx) ** 2 + (y - cy) ** 2 < radius ** 2;
      data[i] = inDisc ? 230 : (x * 200) / width + 20 * random();
      data[i + 1] = inDisc ? 200 : (y * 180) / height + 20 * random();
      data[i + 2] = inDisc ? 40 : 120 + 60 * Math.sin((x + y) / 5) + 20 * random();
    }
  }
  return { width, height, data };
}

/** A style-like test image: diagonal stripes in two colours. */
export function stripes(width: number, height: number, period = 8): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const on = Math.floor((x + y) / period) % 2 === 0;
      data[i] = on ? 30 : 250;
      data[i + 1] = on ? 60 : 210;
      data[i + 2] = on ? 200 : 20;
    }
  }
  return { width, height, data };
}

/** Mean absolute difference of two images' bytes. */
export function meanAbsDiff(a: RgbImage, b: RgbImage): number {
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) sum += Math.abs(a.data[i]! - b.data[i]!);
  return sum / a.data.length;
}
