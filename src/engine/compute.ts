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
 * left out by the caller. The formulas are the ones in tfjs/objective.ts: `mse` (neural-style) or `paper`.
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
