import * as tf from '@tensorflow/tfjs';

/**
 * Colour preservation (Gatys et al., "Preserving Color in Neural Artistic Style Transfer", 2016), on [H, W, 3]
 * RGB 0-255 float tensors:
 * - luminance-only transfer: the network sees the luminance of both images (the style's matched to the
 *   content's mean and spread), and the result keeps the content's chroma (YIQ);
 * - colour matching: the style image's colours are mapped so that their mean and covariance equal the
 *   content's, before its Gram matrices are taken.
 */

const RGB_TO_YIQ = [
  [0.299, 0.587, 0.114],
  [0.595716, -0.274453, -0.321263],
  [0.211456, -0.522591, 0.311135],
];
const YIQ_TO_RGB = [
  [1, 0.9563, 0.621],
  [1, -0.2721, -0.6474],
  [1, -1.107, 1.7046],
];

/** Applies a 3x3 colour matrix M to every pixel: out = M · rgb. */
function mapPixels(image: tf.Tensor3D, matrix: number[][]): tf.Tensor3D {
  return tf.tidy(() => {
    const [height, width] = image.shape;
    const transposed = tf.tensor2d(matrix).transpose();
    return tf.matMul(image.reshape([height * width, 3]), transposed).reshape<tf.Tensor3D>([height, width, 3]);
  });
}

function luma(image: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => tf.sum<tf.Tensor3D>(tf.mul(image, tf.tensor1d(RGB_TO_YIQ[0]!)), 2, true));
}

/** The luminance of `image` in all three channels: a grey image. */
export function greyscale(image: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => tf.tile(luma(image), [1, 1, 3]));
}

/** A grey version of `style` whose luminance has the mean and standard deviation of `content`'s. */
export function matchedGreyscale(style: tf.Tensor3D, content: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    const s = luma(style);
    const c = luma(content);
    const sm = tf.moments(s);
    const cm = tf.moments(c);
    const scale = tf.sqrt(cm.variance).div(tf.sqrt(sm.variance).add(1e-6));
    return tf.tile(s.sub(sm.mean).mul(scale).add<tf.Tensor3D>(cm.mean), [1, 1, 3]);
  });
}

/** `output`'s luminance with `content`'s chroma (I and Q). Both must have the same size. */
export function withChromaOf(output: tf.Tensor3D, content: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    const y = luma(output);
    const iq = mapPixels(content, RGB_TO_YIQ).slice([0, 0, 1], [-1, -1, 2]);
    return mapPixels(tf.concat([y, iq], 2), YIQ_TO_RGB);
  });
}

interface ColorStats {
  mean: number[];
  covariance: number[][];
}

function colorStats(image: tf.Tensor3D): ColorStats {
  const values = tf.tidy(() => {
    const pixels = image.reshape([-1, 3]);
    const mean = pixels.mean(0);
    const centered = pixels.sub(mean);
    const covariance = tf.matMul(centered, centered, true, false).div(pixels.shape[0]);
    return tf.concat([mean, covariance.reshape([9])]);
  });
  const v = Array.from(values.dataSync());
  values.dispose();
  return { mean: v.slice(0, 3), covariance: [v.slice(3, 6), v.slice(6, 9), v.slice(9, 12)] };
}

/** `style` with its colours moved to `content`'s mean and covariance, clipped to 0-255. */
export function matchColors(style: tf.Tensor3D, content: tf.Tensor3D): tf.Tensor3D {
  const s = colorStats(style);
  const c = colorStats(content);
  // x' = A (x − μs) + μc with A = Σc^½ Σs^-½, which maps the style covariance onto the content's.
  const a = multiply(symmetricPower(c.covariance, 0.5), symmetricPower(s.covariance, -0.5));
  const offset = [0, 1, 2].map((i) => c.mean[i]! - a[i]!.reduce((sum, aij, j) => sum + aij * s.mean[j]!, 0));
  return tf.tidy(() => tf.clipByValue(mapPixels(style, a).add<tf.Tensor3D>(tf.tensor1d(offset)), 0, 255));
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
