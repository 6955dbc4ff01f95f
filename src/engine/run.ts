import type { Logger } from '../log/logger.ts';
import { LUMINANCE_STYLE_BOOST, prepareImages, presentImage, type PreparedImages } from './colors.ts';
import type { CaffeImage, ComputeBackend, LossSpec, ScaleTargets } from './compute.ts';
import { isOutOfMemoryError } from './errors.ts';
import { adam, lbfgs, type OptimizationProblem, type OptimizationResult } from './optimize.ts';
import { clipToPixelRange, initialImage, resizeImage } from './pixels.ts';
import { resolveSettings, strengthFactor } from './presets.ts';
import { RunProgress } from './progress.ts';
import { planScales, type ScaleStep } from './scales.ts';
import {
  EngineOutOfMemoryError,
  StylizeAbortedError,
  type RunHooks,
  type StylizeRequest,
  type StylizeResult,
  type StylizeSettings,
} from './types.ts';
import { checkMemory, minimumSide, validateRequest, type NetworkLayer } from './validate.ts';

/** Iterations over which stopTolerance is judged (see StylizeSettings.stopTolerance). */
const CONVERGENCE_WINDOW = 10;

export interface RunContext {
  readonly compute: ComputeBackend;
  /** The loaded network's layers with their widths, for validation and the memory estimate. */
  readonly layers: readonly NetworkLayer[];
  readonly logger?: Logger;
}

/**
 * One style transfer, coarse to fine. Every iteration is one evaluation of the loss and its gradient (a
 * forward and a backward pass): L-BFGS line-search evaluations count like Adam steps, so `iterations` bounds
 * the cost and the progress count alike. Iterations an optimizer could not use at a scale carry over to the
 * next; those a scale did not need because its loss had settled are saved, and the result says it converged.
 * Everything but the objective works on plain arrays; each scale's objective is disposed however the run ends.
 */
export async function runStylize(
  context: RunContext,
  request: StylizeRequest,
  hooks: RunHooks = {},
): Promise<StylizeResult> {
  const startedAt = performance.now();
  const requested = resolveSettings(request.preset, request.settings);
  validateRequest(request, requested, context.layers);
  const settings: StylizeSettings = { ...requested, seed: requested.seed ?? randomSeed() };
  if (hooks.signal?.aborted) throw new StylizeAbortedError();

  const { width, height } = request.content;
  const plan = planScales(width, height, settings.scales, settings.iterations, minimumSide(context.layers, settings));
  checkMemory(context.compute.memoryLimitBytes, context.layers, settings, plan, request);
  const scales = plan.map((s) => `${s.width}x${s.height}`);
  context.logger?.info(
    { width, height, iterations: settings.iterations, scales, optimizer: settings.optimizer, seed: settings.seed },
    'style transfer started',
  );

  try {
    const images = prepareImages(request, settings.colors);
    const loss = lossSpec(settings);
    const progress = new RunProgress(plan, settings.iterations, startedAt, hooks);
    let x: CaffeImage | undefined;
    let result: OptimizationResult | undefined;
    const timing = { evaluateMs: 0, reportMs: 0, totalMs: 0 };
    let carry = 0;
    let converged = false;
    const convergence =
      settings.stopTolerance > 0 ? { window: CONVERGENCE_WINDOW, tolerance: settings.stopTolerance } : undefined;
    for (const [index, step] of plan.entries()) {
      const budget = step.iterations + carry;
      const render = (pixels: Float32Array) => presentImage({ width: step.width, height: step.height, data: pixels }, images);
      const report = progress.reporter(index, render);
      result = await optimizeScale(context.compute, loss, settings, images, step, x, { budget, report, convergence });
      x = { width: step.width, height: step.height, data: result.x };
      for (const key of ['evaluateMs', 'reportMs', 'totalMs'] as const) timing[key] += result.timing[key];
      // Iterations an optimizer could not use move on to the next scale; those a converged scale did not need
      // are saved, which is the point of stopping early.
      const unused = budget - result.evaluations;
      carry = result.converged ? 0 : unused;
      converged ||= result.converged;
      progress.settle(index, unused, result.converged ? 'drop' : 'carry');
      if (result.stopped) break;
    }

    const image = presentImage(resizeImage(x!, width, height), images);
    const seconds = (performance.now() - startedAt) / 1000;
    // A coarse scale that settled early counts too: the run used fewer iterations than it was given.
    const stopReason = result!.stopped ? 'time-limit' : converged ? 'converged' : 'completed';
    const iterations = progress.iterations;
    const optimizerMs = timing.totalMs - timing.evaluateMs - timing.reportMs;
    context.logger?.info(
      {
        seconds: round(seconds),
        iterations,
        stopReason,
        loss: result!.loss,
        // The optimizers' own vector work, next to the time spent computing the loss.
        evaluateMs: Math.round(timing.evaluateMs),
        optimizerMs: Math.round(optimizerMs),
      },
      'style transfer finished',
    );
    return {
      image,
      iterations,
      seconds,
      msPerIter: iterations > 0 ? (seconds * 1000) / iterations : 0,
      backend: context.compute.info.name,
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
  }
}

/**
 * The loss as the backend computes it: run weights times layer weights, zero terms left out. Strength scales the
 * style weight and the TV weight with it (the smoothing is there for the style's noise), so that strength 0 leaves
 * the photo alone (strengthFactor); luminance-only transfer boosts the style (see LUMINANCE_STYLE_BOOST).
 */
export function lossSpec(settings: StylizeSettings): LossSpec {
  const strength = strengthFactor(settings.strength);
  const styleWeight = settings.styleWeight * strength * (settings.colors === 'luminance' ? LUMINANCE_STYLE_BOOST : 1);
  const weighted = (layers: StylizeSettings['contentLayers'], factor: number) =>
    layers.map(({ layer, weight }) => ({ layer, weight: weight * factor })).filter((term) => term.weight > 0);
  return {
    content: weighted(settings.contentLayers, settings.contentWeight),
    style: weighted(settings.styleLayers, styleWeight),
    tvWeight: settings.tvWeight * strength,
    pooling: settings.pooling,
    normalization: settings.lossNormalization,
  };
}

/** Builds this scale's objective and starting image, runs the optimizer, and frees the objective. */
async function optimizeScale(
  compute: ComputeBackend,
  loss: LossSpec,
  settings: StylizeSettings,
  images: PreparedImages,
  step: ScaleStep,
  previous: CaffeImage | undefined,
  run: Pick<OptimizationProblem, 'budget' | 'report' | 'convergence'>,
): Promise<OptimizationResult> {
  const content = resizeImage(images.content, step.width, step.height);
  const factor = step.width / images.content.width;
  const targets: ScaleTargets = {
    content,
    styles: images.styles.map(({ image, weight }) => ({ image: scaleStyle(image, factor), weight })),
  };
  const objective = await compute.createObjective(loss, targets);
  try {
    const start = previous
      ? upscaleStart(previous, content, settings.init)
      : initialImage(settings.init, content, settings.noiseRatio, settings.seed!);
    const problem: OptimizationProblem = { ...run, evaluate: (x) => objective.evaluate(x) };
    return settings.optimizer === 'lbfgs'
      ? await lbfgs(problem, start.data)
      : await adam(problem, start.data, settings.learningRate);
  } finally {
    objective.dispose();
  }
}

/**
 * The start of a finer scale: the coarser result, upscaled. When the run started from the photo, the photo's
 * fine detail that the coarse scale could not hold is added back (content minus its own down-and-up-scaled
 * copy); the plain upscale is blurry at the finer scale, and the optimizer would spend iterations restoring it.
 */
function upscaleStart(previous: CaffeImage, content: CaffeImage, init: StylizeSettings['init']): CaffeImage {
  const resized = resizeImage(previous, content.width, content.height);
  const up = resized === previous ? { ...previous, data: Float32Array.from(previous.data) } : resized;
  if (init === 'content') {
    const blurred = resizeImage(resizeImage(content, previous.width, previous.height), content.width, content.height);
    const [u, c, b] = [up.data, content.data, blurred.data];
    for (let i = 0; i < u.length; i++) u[i]! += c[i]! - b[i]!;
  }
  return clipToPixelRange(up);
}

/** Style images shrink with the scale like the content, but not below 32 px a side: Gram matrices need area. */
function scaleStyle(image: CaffeImage, factor: number): CaffeImage {
  const { width, height } = image;
  const f = Math.min(1, Math.max(factor, 32 / Math.min(height, width)));
  return resizeImage(image, Math.round(width * f), Math.round(height * f));
}

function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 32);
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
