import * as tf from '@tensorflow/tfjs';
import type { RgbImage } from '../images/rgb-image.ts';
import { rgbToTensor, tensorToRgb } from '../images/tensor-convert.ts';
import type { Logger } from '../log/logger.ts';
import { adam } from './adam.ts';
import { greyscale, matchColors, matchedGreyscale, withChromaOf } from './colors.ts';
import { isOutOfMemoryError } from './errors.ts';
import { EtaEstimator } from './eta.ts';
import { initialImage } from './init.ts';
import { lbfgs } from './lbfgs.ts';
import { estimatePeakBytes } from './memory.ts';
import { evaluate, type Objective } from './objective.ts';
import { clipToPixelRange, fromCaffe, resizeImage, rgbTensorToCaffe } from './pixels.ts';
import { resolveSettings } from './presets.ts';
import type { OptimizationProblem, OptimizationResult } from './probe.ts';
import { planScales, type ScaleStep } from './scales.ts';
import { buildObjective, disposeObjective, type WeightedImage } from './targets.ts';
import {
  EngineOutOfMemoryError,
  StylizeAbortedError,
  type LossTerms,
  type RunHooks,
  type StylizeRequest,
  type StylizeResult,
  type StylizeSettings,
} from './types.ts';
import { minimumSide, validateRequest } from './validate.ts';
import type { VggNetwork } from './vgg-network.ts';

export interface RunContext {
  readonly net: VggNetwork;
  readonly backend: string;
  /** Refuse runs whose estimated peak memory is above this many bytes (the wasm heap tops out at 4 GiB). */
  readonly memoryLimitBytes: number | undefined;
  readonly logger?: Logger;
}

/** The images as the network sees them, and how to turn an optimized image back into the user's colours. */
interface PreparedImages {
  readonly content: tf.Tensor4D;
  readonly styles: WeightedImage[];
  /** Only for luminance-only transfer: the content's colours, whose chroma the result keeps. */
  readonly contentRgb: tf.Tensor3D | undefined;
}

/**
 * One style transfer, coarse to fine. Every iteration is one evaluation of the loss and its gradient (a
 * forward and a backward pass): L-BFGS line-search evaluations count like Adam steps, so `iterations` bounds
 * the cost and the progress count alike. Iterations an optimizer leaves unused at a scale (it converged) carry
 * over to the next scale. All tensors the run creates are freed however it ends.
 */
export async function runStylize(context: RunContext, request: StylizeRequest, hooks: RunHooks = {}): Promise<StylizeResult> {
  const startedAt = performance.now();
  const requested = resolveSettings(request.preset, request.settings);
  validateRequest(request, requested, context.net);
  const settings: StylizeSettings = { ...requested, seed: requested.seed ?? randomSeed() };
  const { signal } = hooks;
  if (signal?.aborted) throw new StylizeAbortedError();

  const { width, height } = request.content;
  const plan = planScales(width, height, settings.scales, settings.iterations, minimumSide(context.net, settings));
  checkMemory(context, settings, plan, request);
  context.logger?.info(
    { width, height, iterations: settings.iterations, scales: plan.map((s) => `${s.width}x${s.height}`), optimizer: settings.optimizer, seed: settings.seed },
    'style transfer started',
  );

  let prepared: PreparedImages | undefined;
  let x: tf.Tensor4D | undefined;
  try {
    prepared = prepareImages(request, settings);
    const images = prepared;
    const eta = new EtaEstimator(plan);
    let iteration = 0;
    let initialLoss: LossTerms | undefined;
    let result: OptimizationResult | undefined;
    let carry = 0;

    for (const [index, step] of plan.entries()) {
      const scale = { index, count: plan.length, width: step.width, height: step.height };
      let doneInScale = 0;
      const budget = step.iterations + carry;
      const report: OptimizationProblem['report'] = async (image, loss) => {
          iteration++;
          doneInScale++;
          initialLoss ??= loss;
          eta.record(index, performance.now());
          if (signal?.aborted) throw new StylizeAbortedError();
          hooks.onProgress?.({
            iteration,
            total: settings.iterations,
            elapsedMs: Math.round(performance.now() - startedAt),
            etaMs: eta.remainingMs(index, doneInScale),
            loss,
            scale,
            renderPreview: () => renderPreview(image, images),
          });
          // Let timers, sockets and the abort signal in between iterations (tfjs on wasm/cpu never yields).
          await new Promise<void>((resolve) => setImmediate(resolve));
          if (signal?.aborted) throw new StylizeAbortedError();
          return hooks.timeLimitMs === undefined || performance.now() - startedAt < hooks.timeLimitMs;
      };
      result = await optimizeScale(context.net, settings, images, step, x, { budget, report });
      x?.dispose();
      x = result.x;
      carry = budget - result.evaluations;
      eta.carryOver(index, carry);
      if (result.stopped) break;
    }

    const final = x!.shape[1] === height && x!.shape[2] === width ? x! : resizeImage(x!, height, width);
    const image = await toRgbImage(final, images);
    if (final !== x) final.dispose();
    const seconds = (performance.now() - startedAt) / 1000;
    const stopReason = result!.stopped ? 'time-limit' : 'completed';
    context.logger?.info({ seconds: round(seconds), iterations: iteration, stopReason, loss: result!.loss }, 'style transfer finished');
    return {
      image,
      iterations: iteration,
      seconds,
      msPerIter: iteration > 0 ? (seconds * 1000) / iteration : 0,
      backend: context.backend,
      loss: result!.loss,
      initialLoss: initialLoss!,
      stopReason,
      settings,
    };
  } catch (error) {
    if (!(error instanceof StylizeAbortedError) && isOutOfMemoryError(error)) {
      throw new EngineOutOfMemoryError({ cause: error });
    }
    throw error;
  } finally {
    x?.dispose();
    if (prepared) {
      prepared.content.dispose();
      for (const style of prepared.styles) style.image.dispose();
      prepared.contentRgb?.dispose();
    }
  }
}

/** Builds this scale's targets and starting image, runs the optimizer, and frees all but its result. */
async function optimizeScale(
  net: VggNetwork,
  settings: StylizeSettings,
  images: PreparedImages,
  step: ScaleStep,
  previous: tf.Tensor4D | undefined,
  run: Pick<OptimizationProblem, 'budget' | 'report'>,
): Promise<OptimizationResult> {
  const factor = step.width / images.content.shape[2];
  const content = resizeImage(images.content, step.height, step.width);
  let objective: Objective | undefined;
  let start: tf.Tensor4D | undefined;
  try {
    const styles = images.styles.map(({ image, weight }) => ({ image: scaleStyle(image, factor), weight }));
    try {
      objective = buildObjective(net, settings, content, styles);
    } finally {
      for (const style of styles) style.image.dispose();
    }
    start = previous
      ? tf.tidy(() => clipToPixelRange(resizeImage(previous, step.height, step.width)))
      : initialImage(settings.init, content, settings.noiseRatio, settings.seed!);
    const target = objective;
    const problem: OptimizationProblem = { ...run, evaluate: (image) => evaluate(net, target, image) };
    return settings.optimizer === 'lbfgs' ? await lbfgs(problem, start) : await adam(problem, start, settings.learningRate);
  } finally {
    content.dispose();
    start?.dispose();
    if (objective) disposeObjective(objective);
  }
}

/** Style images shrink with the scale like the content, but not below 32 px a side: Gram matrices need area. */
function scaleStyle(image: tf.Tensor4D, factor: number): tf.Tensor4D {
  const [, height, width] = image.shape;
  const f = Math.min(1, Math.max(factor, 32 / Math.min(height, width)));
  return resizeImage(image, Math.round(height * f), Math.round(width * f));
}

function prepareImages(request: StylizeRequest, settings: StylizeSettings): PreparedImages {
  return tf.tidy(() => {
    const contentRgb = rgbToTensor(request.content);
    const styles = request.styles.map(({ image, weight }) => {
      const rgb = rgbToTensor(image);
      const seen =
        settings.colors === 'luminance'
          ? matchedGreyscale(rgb, contentRgb)
          : settings.colors === 'match'
            ? matchColors(rgb, contentRgb)
            : rgb;
      return { image: rgbTensorToCaffe(seen), weight };
    });
    const content = rgbTensorToCaffe(settings.colors === 'luminance' ? greyscale(contentRgb) : contentRgb);
    return { content, styles, contentRgb: settings.colors === 'luminance' ? contentRgb : undefined };
  });
}

/** The user-visible colours of an optimized image, at its own size. */
function present(x: tf.Tensor4D, images: PreparedImages): tf.Tensor3D {
  return tf.tidy(() => {
    const rgb = fromCaffe(x);
    if (!images.contentRgb) return rgb;
    const [height, width] = rgb.shape;
    const content = images.contentRgb.shape[0] === height && images.contentRgb.shape[1] === width
      ? images.contentRgb
      : resizeImage(images.contentRgb.expandDims<tf.Tensor4D>(0), height, width).squeeze<tf.Tensor3D>([0]);
    return withChromaOf(rgb, content);
  });
}

async function toRgbImage(x: tf.Tensor4D, images: PreparedImages): Promise<RgbImage> {
  const rgb = present(x, images);
  try {
    return await tensorToRgb(rgb);
  } finally {
    rgb.dispose();
  }
}

function renderPreview(x: tf.Tensor4D, images: PreparedImages): Promise<RgbImage> {
  if (x.isDisposed) {
    return Promise.reject(new Error('renderPreview() must be called synchronously inside onProgress'));
  }
  // The snapshot is taken now; only its download waits.
  const rgb = present(x, images);
  return tensorToRgb(rgb).finally(() => rgb.dispose());
}

function checkMemory(context: RunContext, settings: StylizeSettings, plan: readonly ScaleStep[], request: StylizeRequest) {
  if (context.memoryLimitBytes === undefined) return;
  const bytes = estimatePeakBytes(context.net, settings, plan, request.styles.map((s) => s.image));
  if (bytes > context.memoryLimitBytes) {
    throw new EngineOutOfMemoryError({
      cause: new Error(`estimated peak ${Math.round(bytes / 2 ** 20)} MiB > limit ${Math.round(context.memoryLimitBytes / 2 ** 20)} MiB`),
    });
  }
}

function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 32);
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
