import * as tf from '@tensorflow/tfjs';
import type { Logger } from '../log/logger.ts';
import { adam } from './adam.ts';
import { isOutOfMemoryError } from './errors.ts';
import { initialImage } from './init.ts';
import { lbfgs } from './lbfgs.ts';
import { estimatePeakBytes } from './memory.ts';
import { evaluate, type Objective } from './objective.ts';
import { clipToPixelRange, resizeImage } from './pixels.ts';
import { resolveSettings } from './presets.ts';
import { RunProgress } from './progress.ts';
import { disposeImages, prepareImages, renderPreview, toRgbImage, type PreparedImages } from './run-images.ts';
import type { OptimizationProblem, OptimizationResult } from './probe.ts';
import { planScales, type ScaleStep } from './scales.ts';
import { buildObjective, disposeObjective } from './targets.ts';
import {
  EngineOutOfMemoryError,
  StylizeAbortedError,
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

/**
 * One style transfer, coarse to fine. Every iteration is one evaluation of the loss and its gradient (a
 * forward and a backward pass): L-BFGS line-search evaluations count like Adam steps, so `iterations` bounds
 * the cost and the progress count alike. Iterations an optimizer leaves unused at a scale (it converged) carry
 * over to the next scale. All tensors the run creates are freed however it ends.
 */
export async function runStylize(
  context: RunContext,
  request: StylizeRequest,
  hooks: RunHooks = {},
): Promise<StylizeResult> {
  const startedAt = performance.now();
  const requested = resolveSettings(request.preset, request.settings);
  validateRequest(request, requested, context.net);
  const settings: StylizeSettings = { ...requested, seed: requested.seed ?? randomSeed() };
  const { signal } = hooks;
  if (signal?.aborted) throw new StylizeAbortedError();

  const { width, height } = request.content;
  const plan = planScales(width, height, settings.scales, settings.iterations, minimumSide(context.net, settings));
  checkMemory(context, settings, plan, request);
  const scales = plan.map((s) => `${s.width}x${s.height}`);
  context.logger?.info(
    { width, height, iterations: settings.iterations, scales, optimizer: settings.optimizer, seed: settings.seed },
    'style transfer started',
  );

  let prepared: PreparedImages | undefined;
  let x: tf.Tensor4D | undefined;
  try {
    prepared = prepareImages(request, settings);
    const images = prepared;
    const progress = new RunProgress(plan, settings.iterations, startedAt, hooks);
    let result: OptimizationResult | undefined;
    let carry = 0;
    for (const [index, step] of plan.entries()) {
      const budget = step.iterations + carry;
      const report = progress.reporter(index, (image) => renderPreview(image, images));
      result = await optimizeScale(context.net, settings, images, step, x, { budget, report });
      x?.dispose();
      x = result.x;
      carry = budget - result.evaluations;
      progress.carryOver(index, carry);
      if (result.stopped) break;
    }

    const final = x!.shape[1] === height && x!.shape[2] === width ? x! : resizeImage(x!, height, width);
    const image = await toRgbImage(final, images);
    if (final !== x) final.dispose();
    const seconds = (performance.now() - startedAt) / 1000;
    const stopReason = result!.stopped ? 'time-limit' : 'completed';
    const iterations = progress.iterations;
    const summary = { seconds: round(seconds), iterations, stopReason, loss: result!.loss };
    context.logger?.info(summary, 'style transfer finished');
    return {
      image,
      iterations,
      seconds,
      msPerIter: iterations > 0 ? (seconds * 1000) / iterations : 0,
      backend: context.backend,
      loss: result!.loss,
      initialLoss: progress.initialLoss!,
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
    if (prepared) disposeImages(prepared);
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
      ? upscaleStart(previous, content, settings.init)
      : initialImage(settings.init, content, settings.noiseRatio, settings.seed!);
    const target = objective;
    const problem: OptimizationProblem = { ...run, evaluate: (image) => evaluate(net, target, image) };
    return settings.optimizer === 'lbfgs'
      ? await lbfgs(problem, start)
      : await adam(problem, start, settings.learningRate);
  } finally {
    content.dispose();
    start?.dispose();
    if (objective) disposeObjective(objective);
  }
}

/**
 * The start of a finer scale: the coarser result, upscaled. When the run started from the photo, the photo's
 * fine detail that the coarse scale could not hold is added back (content minus its own down-and-up-scaled
 * copy); the plain upscale is blurry at the finer scale, and the optimizer would spend iterations restoring it.
 */
function upscaleStart(previous: tf.Tensor4D, content: tf.Tensor4D, init: StylizeSettings['init']): tf.Tensor4D {
  return tf.tidy(() => {
    const [, height, width] = content.shape;
    const up = resizeImage(previous, height, width);
    if (init !== 'content') return clipToPixelRange(up);
    const [, coarseHeight, coarseWidth] = previous.shape;
    const blurred = resizeImage(resizeImage(content, coarseHeight, coarseWidth), height, width);
    return clipToPixelRange(up.add(content.sub(blurred)));
  });
}

/** Style images shrink with the scale like the content, but not below 32 px a side: Gram matrices need area. */
function scaleStyle(image: tf.Tensor4D, factor: number): tf.Tensor4D {
  const [, height, width] = image.shape;
  const f = Math.min(1, Math.max(factor, 32 / Math.min(height, width)));
  return resizeImage(image, Math.round(height * f), Math.round(width * f));
}

function checkMemory(
  context: RunContext,
  settings: StylizeSettings,
  plan: readonly ScaleStep[],
  request: StylizeRequest,
): void {
  const limit = context.memoryLimitBytes;
  if (limit === undefined) return;
  const bytes = estimatePeakBytes(context.net, settings, plan, request.styles.map((s) => s.image));
  if (bytes > limit) {
    const mib = (n: number) => Math.round(n / 2 ** 20);
    const cause = new Error(`estimated peak ${mib(bytes)} MiB > limit ${mib(limit)} MiB`);
    throw new EngineOutOfMemoryError({ cause });
  }
}

function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 32);
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
