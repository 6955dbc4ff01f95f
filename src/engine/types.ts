import type { RgbImage } from '../images/rgb-image.ts';
import type { VggLayerName } from '../weights/vgg19-layout.ts';

export type Pooling = 'avg' | 'max';
export type OptimizerName = 'lbfgs' | 'adam';
export type InitMode = 'content' | 'noise' | 'random';
export type ColorMode = 'none' | 'luminance' | 'match';
export type PresetName = 'default' | 'seed' | 'keras';
/**
 * How loss terms are normalized. `mse`: mean squared errors, as neural-style and the PyTorch reference tools.
 * `paper`: the seed article's 1/(4NM) content and 1/(4N²M²) style factors on unnormalized Gram matrices.
 * `balanced`: relative errors, as judge.py scores them: the content term divided by the content target's own
 * energy, the style term by the distance between the photo's Gram matrices and the style targets, so that a
 * weight means the same balance on every image pair and at every scale (see balanceWeights in compute.ts).
 */
export type LossNormalization = 'mse' | 'paper' | 'balanced';

export interface WeightedLayer {
  layer: VggLayerName;
  weight: number;
}

/** Everything that shapes one optimization. Presets fill it; callers override single fields. */
export interface StylizeSettings {
  iterations: number;
  contentWeight: number;
  styleWeight: number;
  tvWeight: number;
  /**
   * 0–100, the one knob most users need: how far the style moves the photo. 50 keeps the weights as they are;
   * lower scales the style weight down (0 turns the style off: the photo comes back), higher scales it up
   * (see strengthFactor in presets.ts).
   */
  strength: number;
  contentLayers: WeightedLayer[];
  styleLayers: WeightedLayer[];
  pooling: Pooling;
  lossNormalization: LossNormalization;
  optimizer: OptimizerName;
  /** Adam only. */
  learningRate: number;
  init: InitMode;
  /** Share of noise when init is 'noise' (the seed article uses 0.7). */
  noiseRatio: number;
  /** Makes a run reproducible on the same backend. */
  seed: number | undefined;
  colors: ColorMode;
  /** Number of coarse-to-fine scales (1 = single scale). */
  scales: number;
  /**
   * Early stop: a scale ends once its best loss has improved by less than this fraction over the last
   * CONVERGENCE_WINDOW iterations, and its unused iterations go to the next scale; `iterations` is then a maximum.
   * 0 runs every iteration.
   */
  stopTolerance: number;
}

export interface StyleInput {
  image: RgbImage;
  /** Blend weight; weights are normalized over all styles. */
  weight: number;
}

export interface StylizeRequest {
  /** At the output size: the result has the content image's dimensions. */
  content: RgbImage;
  /** At least one, already sized for the output and the style scale. */
  styles: StyleInput[];
  preset?: PresetName;
  settings?: Partial<StylizeSettings>;
}

/** Loss values, each already multiplied by its weight: total = content + style + tv. */
export interface LossTerms {
  total: number;
  content: number;
  style: number;
  tv: number;
}

export interface Progress {
  iteration: number;
  total: number;
  elapsedMs: number;
  /** Undefined until a few iterations have been timed. */
  etaMs: number | undefined;
  loss: LossTerms;
  /** The scale being optimized (coarse to fine); the image is smaller than the output until the last one. */
  scale?: { index: number; count: number; width: number; height: number };
  /**
   * The image just evaluated, at the current scale (not upscaled), colours as in the final result. Computed only
   * when asked; call it synchronously inside the progress callback (it throws afterwards).
   */
  preview(): RgbImage;
}

export interface RunHooks {
  /** Aborting stops the run within one iteration; stylize() then rejects with StylizeAbortedError. */
  signal?: AbortSignal;
  /** When this many ms have passed, the run stops and resolves with its best image (stopReason 'time-limit'). */
  timeLimitMs?: number;
  onProgress?: (progress: Progress) => void;
}

export interface StylizeResult {
  image: RgbImage;
  iterations: number;
  seconds: number;
  msPerIter: number;
  backend: string;
  loss: LossTerms;
  initialLoss: LossTerms;
  /** `converged`: the loss stopped improving before the maximum; `time-limit`: best image at the time limit. */
  stopReason: 'completed' | 'converged' | 'time-limit';
  settings: StylizeSettings;
}

/**
 * The compute paths: ONNX Runtime on the CPU, on CUDA or on WebGPU (Dawn: Vulkan, Metal or D3D12); tfjs on native
 * TensorFlow (tfjs-node-gpu), WebAssembly or plain JavaScript.
 */
export type BackendName = 'onnx' | 'onnx-cuda' | 'onnx-webgpu' | 'tensorflow' | 'wasm' | 'cpu';

export interface BackendInfo {
  name: BackendName;
  gpu: boolean;
  /** What computes, for logs and admins: "CPU, 2 threads", "NVIDIA GeForce RTX 4090 (nvidia)". */
  device: string;
  /** CPU threads it computes with (1 for wasm and cpu; the host's share for GPU paths). */
  threads: number;
  /** Why this one was chosen, e.g. "forced by ENGINE_BACKEND" or "no CUDA provider installed". */
  reason: string;
}

/** The one function the queue needs; the real engine and test fakes both implement it. */
export type StylizeFn = (request: StylizeRequest, hooks?: RunHooks) => Promise<StylizeResult>;

export class StylizeAbortedError extends Error {
  constructor() {
    super('The style transfer was cancelled');
    this.name = 'StylizeAbortedError';
  }
}

/** The backend ran out of memory (GPU or CPU/wasm heap); the queue retries once at a smaller size. */
export class EngineOutOfMemoryError extends Error {
  constructor(options?: { cause?: unknown }) {
    super('The style transfer ran out of memory', options);
    this.name = 'EngineOutOfMemoryError';
  }
}
