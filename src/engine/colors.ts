import type { RgbImage } from '../images/rgb-image.ts';
import type { CaffeImage } from './compute.ts';
import { floatToRgb, fromCaffe, resizeImage, rgbToFloat, toCaffe, type FloatImage } from './pixels.ts';
import type { ColorMode, StylizeRequest } from './types.ts';

/**
 * Colour preservation (Gatys et al., "Preserving Color in Neural Artistic Style Transfer", 2016), on float RGB
 * 0-255 images, and the colours a run's images are seen and shown in:
 * - luminance-only transfer: the network sees the luminance of both images (the style's matched to the
 *   content's mean and spread), and the result keeps the content's chroma (YIQ);
 * - colour matching: the style image's colours are mapped so that their mean and covariance equal the
 *   content's, before its Gram matrices are taken.
 */

/**
 * Luminance-only transfer compares grey images whose brightness statistics were matched: their Gram matrices
 * start about 40x closer than colour ones (initial style loss 1.1e5 against 4.3e6 on tubingen + starry_night),
 * so the usual weights leave the texture faint. The style term is scaled up to keep the balance of a colour run.
 */
export const LUMINANCE_STYLE_BOOST = 10;

const RGB_TO_YIQ = [
  [0.299, 0.587, 0.114],
  [0.595716, -0.274453, -0.321263],
  [0.211456, -0.522591, 0.311135],
] as const;
const YIQ_TO_RGB = [
  [1, 0.9563, 0.621],
  [1, -0.2721, -0.6474],
  [1, -1.107, 1.7046],
] as const;

/** The images of a run as the network sees them, and what it takes to show a result in the user's colours. */
export interface PreparedImages {
  readonly content: CaffeImage;
  readonly styles: readonly { image: CaffeImage; weight: number }[];
  /** Only for luminance-only transfer: the content's colours, whose chroma the result keeps. */
  readonly contentRgb: FloatImage | undefined;
}

/** A request's images in caffe form, in the colours the network should see. */
export function prepareImages(request: StylizeRequest, colors: ColorMode): PreparedImages {
  const contentRgb = rgbToFloat(request.content);
  const styles = request.styles.map(({ image, weight }) => {
    const rgb = rgbToFloat(image);
    const seen =
      colors === 'luminance'
        ? matchedGreyscale(rgb, contentRgb)
        : colors === 'match'
          ? matchColors(rgb, contentRgb)
          : rgb;
    return { image: toCaffe(seen), weight };
  });
  const content = toCaffe(colors === 'luminance' ? greyscale(contentRgb) : contentRgb);
  return { content, styles, contentRgb: colors === 'luminance' ? contentRgb : undefined };
}

/** An optimized image in the user's colours, at its own size. */
export function presentImage(x: CaffeImage, images: PreparedImages): RgbImage {
  const rgb = fromCaffe(x);
  if (!images.contentRgb) return floatToRgb(rgb);
  return floatToRgb(withChromaOf(rgb, resizeImage(images.contentRgb, rgb.width, rgb.height)));
}

/** Y of YIQ for every pixel. */
function luma(image: FloatImage): Float32Array {
  const [r, g, b] = RGB_TO_YIQ[0];
  const source = image.data;
  const y = new Float32Array(source.length / 3);
  for (let p = 0, i = 0; p < y.length; p++, i += 3) y[p] = r * source[i]! + g * source[i + 1]! + b * source[i + 2]!;
  return y;
}

/** One value per pixel, in all three channels: a grey image. */
function grey(width: number, height: number, values: Float32Array, map: (v: number) => number = (v) => v): FloatImage {
  const data = new Float32Array(values.length * 3);
  for (let p = 0; p < values.length; p++) data[3 * p] = data[3 * p + 1] = data[3 * p + 2] = map(values[p]!);
  return { width, height, data };
}

/** The luminance of `image` in all three channels. */
export function greyscale(image: FloatImage): FloatImage {
  return grey(image.width, image.height, luma(image));
}

function moments(values: Float32Array): { mean: number; variance: number } {
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / values.length;
  let squares = 0;
  for (const v of values) squares += (v - mean) ** 2;
  return { mean, variance: squares / values.length };
}

/** A grey version of `style` whose luminance has the mean and standard deviation of `content`'s. */
export function matchedGreyscale(style: FloatImage, content: FloatImage): FloatImage {
  const s = luma(style);
  const sm = moments(s);
  const cm = moments(luma(content));
  const scale = Math.sqrt(cm.variance) / (Math.sqrt(sm.variance) + 1e-6);
  return grey(style.width, style.height, s, (v) => (v - sm.mean) * scale + cm.mean);
}

/** `output`'s luminance with `content`'s chroma (I and Q). Both must have the same size. */
export function withChromaOf(output: FloatImage, content: FloatImage): FloatImage {
  const y = luma(output);
  const [, toI, toQ] = RGB_TO_YIQ;
  const c = content.data;
  const data = new Float32Array(c.length);
  for (let p = 0, k = 0; p < y.length; p++, k += 3) {
    const i = toI[0] * c[k]! + toI[1] * c[k + 1]! + toI[2] * c[k + 2]!;
    const q = toQ[0] * c[k]! + toQ[1] * c[k + 1]! + toQ[2] * c[k + 2]!;
    for (let ch = 0; ch < 3; ch++) {
      const row = YIQ_TO_RGB[ch]!;
      data[k + ch] = row[0] * y[p]! + row[1] * i + row[2] * q;
    }
  }
  return { width: output.width, height: output.height, data };
}

interface ColorStats {
  mean: number[];
  covariance: number[][];
}

/** Mean colour and colour covariance (population), in float64. */
export function colorStats(image: FloatImage): ColorStats {
  const d = image.data;
  const pixels = d.length / 3;
  const mean = [0, 0, 0];
  for (let k = 0; k < d.length; k += 3) for (let c = 0; c < 3; c++) mean[c]! += d[k + c]!;
  for (let c = 0; c < 3; c++) mean[c]! /= pixels;
  const covariance = [
    [0, 0, 0],
    [0, 0, 0],
    [0, 0, 0],
  ];
  for (let k = 0; k < d.length; k += 3) {
    const v = [d[k]! - mean[0]!, d[k + 1]! - mean[1]!, d[k + 2]! - mean[2]!];
    for (let a = 0; a < 3; a++) for (let b = a; b < 3; b++) covariance[a]![b]! += v[a]! * v[b]!;
  }
  for (let a = 0; a < 3; a++) {
    for (let b = a; b < 3; b++) covariance[b]![a] = covariance[a]![b]! /= pixels;
  }
  return { mean, covariance };
}

/** `style` with its colours moved to `content`'s mean and covariance, clipped to 0-255. */
export function matchColors(style: FloatImage, content: FloatImage): FloatImage {
  const s = colorStats(style);
  const c = colorStats(content);
  // x' = A (x − μs) + μc with A = Σc^½ Σs^-½, which maps the style covariance onto the content's.
  const a = multiply(symmetricPower(c.covariance, 0.5), symmetricPower(s.covariance, -0.5));
  const offset = [0, 1, 2].map((i) => c.mean[i]! - a[i]!.reduce((sum, aij, j) => sum + aij * s.mean[j]!, 0));
  const source = style.data;
  const data = new Float32Array(source.length);
  for (let k = 0; k < source.length; k += 3) {
    for (let i = 0; i < 3; i++) {
      const row = a[i]!;
      const v = row[0]! * source[k]! + row[1]! * source[k + 1]! + row[2]! * source[k + 2]! + offset[i]!;
      data[k + i] = Math.min(255, Math.max(0, v));
    }
  }
  return { width: style.width, height: style.height, data };
}

function multiply(a: number[][], b: number[][]): number[][] {
  return a.map((row) => [0, 1, 2].map((j) => row.reduce((sum, aik, k) => sum + aik * b[k]![j]!, 0)));
}

/**
 * M^p for a symmetric positive semi-definite 3x3 matrix, through its eigen-decomposition (cyclic Jacobi).
 * Eigenvalues are floored so that flat (single-colour) images do not divide by zero.
 */
export function symmetricPower(m: number[][], power: number): number[][] {
  const a = m.map((row) => [...row]);
  const v = [
    [1, 0, 0],
    [0, 1, 0],
    [0, 0, 1],
  ];
  for (let sweep = 0; sweep < 50; sweep++) {
    const off = a[0]![1]! ** 2 + a[0]![2]! ** 2 + a[1]![2]! ** 2;
    if (off < 1e-20) break;
    for (let p = 0; p < 2; p++) {
      for (let q = p + 1; q < 3; q++) {
        const apq = a[p]![q]!;
        if (Math.abs(apq) < 1e-30) continue;
        const theta = (a[q]![q]! - a[p]![p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const cos = 1 / Math.sqrt(t * t + 1);
        const sin = t * cos;
        for (let k = 0; k < 3; k++) {
          const akp = a[k]![p]!;
          const akq = a[k]![q]!;
          a[k]![p] = cos * akp - sin * akq;
          a[k]![q] = sin * akp + cos * akq;
        }
        for (let k = 0; k < 3; k++) {
          const apk = a[p]![k]!;
          const aqk = a[q]![k]!;
          a[p]![k] = cos * apk - sin * aqk;
          a[q]![k] = sin * apk + cos * aqk;
        }
        for (let k = 0; k < 3; k++) {
          const vkp = v[k]![p]!;
          const vkq = v[k]![q]!;
          v[k]![p] = cos * vkp - sin * vkq;
          v[k]![q] = sin * vkp + cos * vkq;
        }
      }
    }
  }
  const scaled = [0, 1, 2].map((i) => Math.max(a[i]![i]!, 1e-3) ** power);
  const entry = (i: number, j: number) => [0, 1, 2].reduce((s, k) => s + v[i]![k]! * scaled[k]! * v[j]![k]!, 0);
  return [0, 1, 2].map((i) => [0, 1, 2].map((j) => entry(i, j)));
}
