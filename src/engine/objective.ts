import * as tf from '@tensorflow/tfjs';
import { backward, forward } from './feature-pass.ts';
import { gram, gramLossGradient, sumOfSquares } from './gram.ts';
import type { LossNormalization, Pooling } from './types.ts';
import type { VggNetwork } from './vgg-network.ts';

/**
 * The Gatys loss on one image size and its gradient with respect to the image, in one forward and one
 * hand-written backward pass.
 *
 * With F a layer's [H·W, C] feature matrix, G = FᵀF/(C·H·W) its Gram matrix, P and A the targets:
 * - `mse` (neural-style, and the PyTorch reference tools): content = mean((F−P)²), style = mean over the C×C
 *   entries of (G−A)²;
 * - `paper` (the seed article): content = Σ(F−P)²/(4·C·H·W), style = Σ(Ĝ−Â)²/(4·C²·(H·W)²) with
 *   unnormalized   Ĝ = FᵀF, which equals Σ(G−A)²/4.
 * Each term is multiplied by its run weight times its layer weight. TV is Σ of squared differences between
 * neighbouring pixels (on 0-255 values) times the TV weight.
 */

export interface ContentTerm {
  readonly index: number;
  readonly target: tf.Tensor4D;
  /** Content weight times layer weight. */
  readonly weight: number;
}

export interface StyleTerm {
  readonly index: number;
  /** Blended Gram matrix of the style image(s). */
  readonly target: tf.Tensor2D;
  /** Style weight times layer weight. */
  readonly weight: number;
}

export interface Objective {
  readonly content: readonly ContentTerm[];
  readonly style: readonly StyleTerm[];
  readonly tvWeight: number;
  readonly pooling: Pooling;
  readonly normalization: LossNormalization;
}

export interface Evaluation {
  /** [total, content, style, tv], each already weighted; total = content + style + tv. */
  readonly terms: tf.Tensor1D;
  readonly grad: tf.Tensor4D;
}

/** The network depth (number of convolution layers) an objective needs. */
export function objectiveDepth(objective: Objective): number {
  const indices = [...objective.content, ...objective.style].map((term) => term.index);
  return Math.max(-1, ...indices) + 1;
}

/** Loss terms and gradient at `x` ([1, H, W, 3], caffe-preprocessed). Returns fresh tensors; frees the rest. */
export function evaluate(net: VggNetwork, objective: Objective, x: tf.Tensor4D): Evaluation {
  return tf.tidy(() => {
    const pass = forward(net, x, objectiveDepth(objective), objective.pooling);
    const injected = new Map<number, tf.Tensor4D>();
    const inject = (index: number, g: tf.Tensor4D) => {
      const previous = injected.get(index);
      injected.set(index, previous ? previous.add(g) : g);
    };
    const zero = tf.scalar(0);

    let content: tf.Scalar = zero;
    for (const term of objective.content) {
      const f = pass.outputs[term.index]!;
      const scale = (term.weight * (objective.normalization === 'paper' ? 0.25 : 1)) / f.size;
      const diff = tf.sub(f, term.target);
      content = content.add(sumOfSquares(diff).mul(scale));
      inject(term.index, diff.mul(2 * scale));
    }

    let style: tf.Scalar = zero;
    for (const term of objective.style) {
      const f = pass.outputs[term.index]!;
      const channels = f.shape[3];
      const scale = term.weight * (objective.normalization === 'paper' ? 0.25 : 1 / (channels * channels));
      const diff: tf.Tensor2D = tf.sub(gram(f), term.target);
      style = style.add(sumOfSquares(diff).mul(scale));
      inject(term.index, gramLossGradient(f, diff, scale));
    }

    let grad = injected.size > 0 ? backward(net, pass, injected, objective.pooling) : tf.zerosLike(x);
    let tv: tf.Scalar = zero;
    if (objective.tvWeight > 0) {
      const smooth = totalVariation(x);
      tv = smooth.value.mul(objective.tvWeight);
      grad = grad.add(smooth.grad.mul(objective.tvWeight));
    }
    const total = content.add(style).add(tv);
    return { terms: tf.stack([total, content, style, tv]) as tf.Tensor1D, grad };
  });
}

/** Σ squared differences of vertical and horizontal neighbours, and its gradient. */
export function totalVariation(x: tf.Tensor4D): { value: tf.Scalar; grad: tf.Tensor4D } {
  return tf.tidy(() => {
    const [, height, width] = x.shape;
    const dh = tf.sub(x.slice([0, 1, 0, 0], [-1, -1, -1, -1]), x.slice([0, 0, 0, 0], [-1, height - 1, -1, -1]));
    const dw = tf.sub(x.slice([0, 0, 1, 0], [-1, -1, -1, -1]), x.slice([0, 0, 0, 0], [-1, -1, width - 1, -1]));
    const value: tf.Scalar = sumOfSquares(dh).add(sumOfSquares(dw));
    // d/dx[i] Σ(x[k+1]−x[k])² = 2·(d[i−1] − d[i]), with d taken as 0 outside the image.
    const gradH = tf.sub(
      tf.pad(dh, [[0, 0], [1, 0], [0, 0], [0, 0]]),
      tf.pad(dh, [[0, 0], [0, 1], [0, 0], [0, 0]]),
    );
    const gradW = tf.sub(
      tf.pad(dw, [[0, 0], [0, 0], [1, 0], [0, 0]]),
      tf.pad(dw, [[0, 0], [0, 0], [0, 1], [0, 0]]),
    );
    return { value, grad: gradH.add(gradW).mul<tf.Tensor4D>(2) };
  });
}
