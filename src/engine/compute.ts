import type { VggLayerName } from '../weights/vgg19-layout.ts';
import type { BackendInfo, LossNormalization, LossTerms, Pooling } from './types.ts';

/**
 * What the optimization needs from a compute library: the Gatys loss and its gradient with respect to the image,
 * at one image size, with the targets fixed for that size. tfjs (wasm, cpu, tfjs-node-gpu) and ONNX Runtime (CPU,
 * CUDA, WebGPU) each implement it; the optimizers, the scales, the initialisation, colour preservation and
 * previews work on plain typed arrays and never see which one runs.
 */

/**
 * An image as VGG19 sees it: Keras "caffe" preprocessing (BGR, 0-255, ImageNet mean subtracted), NHWC
 * [1, height, width, 3] flattened row-major.
 */
export interface CaffeImage {
  readonly width: number;
  readonly height: number;
  /** Length width × height × 3. */
  readonly data: Float32Array;
}

/**
 * The loss of a run, backend-neutral. Weights are final (run weight × layer weight); terms whose weight is 0 are
 * left out by the caller. The formulas are the ones in tfjs/objective.ts: `mse` (neural-style) or `paper`;
 * `balanced` is `mse` with weights rescaled per scale by balanceWeights below.
 */
export interface LossSpec {
  readonly content: readonly { layer: VggLayerName; weight: number }[];
  readonly style: readonly { layer: VggLayerName; weight: number }[];
  readonly tvWeight: number;
  readonly pooling: Pooling;
  readonly normalization: LossNormalization;
}

/** One scale's inputs: the content features come from `content`, the Gram targets from the blended styles. */
export interface ScaleTargets {
  readonly content: CaffeImage;
  /** Blend weights are relative; the backend normalizes them to sum to 1. */
  readonly styles: readonly { image: CaffeImage; weight: number }[];
}

export interface Evaluation {
  /** Each term already weighted; total = content + style + tv. */
  readonly loss: LossTerms;
  /** d total / d x, same layout as x; a fresh array the caller owns. */
  readonly grad: Float32Array;
}

/** The loss at one image size (the content's), with its targets computed once. */
export interface Objective {
  readonly width: number;
  readonly height: number;
  /** `x` has the content's size and layout. Never keeps a reference to `x`. */
  evaluate(x: Float32Array): Promise<Evaluation>;
  /** Frees the targets and anything cached for this objective. Idempotent. */
  dispose(): void;
}

/** A compute library with the VGG19 weights loaded onto it, ready to build objectives for any size. */
export interface ComputeBackend {
  readonly info: BackendInfo;
  /** The convolution layers the weights provide, in network order (a prefix of VGG19). */
  readonly layers: readonly VggLayerName[];
  createObjective(loss: LossSpec, targets: ScaleTargets): Promise<Objective>;
  /**
   * Bytes a run may use beyond what is loaded, when the backend has a hard ceiling that a run must not cross (the
   * wasm heap's 4 GiB, where running out aborts the module for good); undefined when there is none to check.
   */
  readonly memoryLimitBytes: number | undefined;
  /** Frees the weights. Objectives still alive keep working until disposed. */
  dispose(): Promise<void>;
}

/**
 * What `balanced` normalization reads from one scale's targets, per term in LossSpec order. Each backend measures
 * these on its own tensors when it builds an objective; balanceWeights turns them into weights.
 */
export interface TargetStatistics {
  /** ΣP² over each content term's target features P. */
  readonly contentEnergy: readonly number[];
  /** Values in each content term's feature map (channels × height × width). */
  readonly contentSize: readonly number[];
  /** Σ(G_l(content) − A_l)²: how far the photo's own Gram matrix is from each style term's target. */
  readonly styleDistance: readonly number[];
  /** ΣA_l² of each style term's target, to bound the distance away from 0 when style and photo agree. */
  readonly styleEnergy: readonly number[];
  /** Channels of each style term's layer. */
  readonly styleChannels: readonly number[];
}

/**
 * The `balanced` loss, in terms of the `mse` formulas every backend already computes: the weights to give them.
 *
 * With w the LossSpec's weights, F, P a content layer's features and target, G_l, A_l a style layer's Gram
 * matrix and target, and d_l = Σ(G_l(content) − A_l)²:
 *   content = Σ_terms w · Σ(F − P)² / ΣP²             (judge.py's content_rel, per layer)
 *   style   = Σ_l w_l · Σ(G_l − A_l)² / Σ_k d_k        (judge.py's style_rel when every w_l is the same)
 *   TV      = w · TV(x) / TV(photo)                  (TV: Σ of squared neighbour differences)
 * so that at the photo itself the content term is 0 and the style term is the style weight, whatever the
 * images' contrast, size or subject. One denominator for all style layers rather than one each: the layers
 * then count in proportion to how far apart photo and artwork are there, as judge.py counts them.
 *
 * crowsonkb/style-transfer-pytorch normalizes differently: each term is Σd²/Σ|d| of its current difference d, so
 * that every layer's gradient has an L1 norm near 1, recomputed at every step. Here the denominators are fixed
 * once per scale from the targets instead: L-BFGS needs one fixed function to minimize (its line search and
 * curvature pairs compare losses across steps), and a fixed denominator keeps the loss readable as the judge's
 * relative errors. mse divides content by N (values) and style by C² (Gram entries), hence the factors.
 */
export function balanceWeights(
  loss: {
    readonly content: readonly { weight: number }[];
    readonly style: readonly { weight: number }[];
    readonly tvWeight: number;
  },
  stats: TargetStatistics,
  photo: CaffeImage,
): { content: number[]; style: number[]; tv: number } {
  const content = loss.content.map(
    (term, i) => (term.weight * stats.contentSize[i]!) / Math.max(stats.contentEnergy[i]!, Number.MIN_VALUE),
  );
  const tv = loss.tvWeight / Math.max(totalVariation(photo), 1);
  // A distance of 0 (the artwork is the photo) would give the style term an infinite weight.
  const energy = stats.styleEnergy.reduce((a, b) => a + b, 0);
  const distance = Math.max(
    stats.styleDistance.reduce((a, b) => a + b, 0),
    1e-6 * energy,
    Number.MIN_VALUE,
  );
  const style = loss.style.map((term, i) => (term.weight * stats.styleChannels[i]! ** 2) / distance);
  return { content, style, tv };
}

/** Σ of squared differences between vertical and horizontal neighbours, as the objectives compute TV. */
export function totalVariation(image: CaffeImage): number {
  const { width, height, data } = image;
  let sum = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) {
        if (x + 1 < width) sum += (data[i + 3 + c]! - data[i + c]!) ** 2;
        if (y + 1 < height) sum += (data[i + 3 * width + c]! - data[i + c]!) ** 2;
      }
    }
  }
  return sum;
}
