import * as tf from '@tensorflow/tfjs';

/**
 * Gram matrix of a [1, H, W, C] feature map normalized by layer size: G = FᵀF / (C·H·W), with F the [H·W, C]
 * matrix of the map. The transpose is explicit: on wasm, matMul(F, F, transposeA) is about ten times slower than
 * transposing first and multiplying plain matrices.
 */
export function gram(features: tf.Tensor4D): tf.Tensor2D {
  const [, height, width, channels] = features.shape;
  return tf.tidy(() => {
    const f = features.reshape([height * width, channels]);
    return tf.matMul(f.transpose(), f).mul(1 / (channels * height * width));
  });
}

/**
 * Gradient of Σ scale·(G − A)² with respect to the feature map, where G = gram(features):
 * dF = F · (4·scale / (C·H·W)) · (G − A), using that G − A is symmetric.
 */
export function gramLossGradient(
  features: tf.Tensor4D,
  gramMinusTarget: tf.Tensor2D,
  scale: number,
): tf.Tensor4D {
  const [, height, width, channels] = features.shape;
  return tf.tidy(() => {
    const f = features.reshape([height * width, channels]);
    const d = gramMinusTarget.mul((4 * scale) / (channels * height * width));
    return tf.matMul(f, d).reshape(features.shape);
  });
}

/** Σx² with a two-level reduction, so that float32 rounding stays small on maps of millions of values. */
export function sumOfSquares(x: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const rows = x.rank > 2 ? x.shape[0] * x.shape[1]! : (x.shape[0] ?? 1);
    return tf.square(x).reshape([rows, -1]).sum(1).sum();
  });
}
