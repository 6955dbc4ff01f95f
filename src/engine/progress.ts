import type * as tf from '@tensorflow/tfjs';
import type { RgbImage } from '../images/rgb-image.ts';
import { EtaEstimator } from './eta.ts';
import type { OptimizationProblem } from './probe.ts';
import type { ScaleStep } from './scales.ts';
import { StylizeAbortedError, type LossTerms, type RunHooks } from './types.ts';

/**
 * A run's side of every evaluation: counts iterations across scales, reports progress with an ETA, yields to
 * the event loop, and turns the abort signal and the time limit into the optimizer's stop conditions.
 */
export class RunProgress {
  readonly #eta: EtaEstimator;
  #iterations = 0;
  #initialLoss: LossTerms | undefined;

  constructor(
    private readonly plan: readonly ScaleStep[],
    private readonly total: number,
    private readonly startedAt: number,
    private readonly hooks: RunHooks,
  ) {
    this.#eta = new EtaEstimator(plan);
  }

  get iterations(): number {
    return this.#iterations;
  }

  /** The loss of the very first evaluation. */
  get initialLoss(): LossTerms | undefined {
    return this.#initialLoss;
  }

  carryOver(scale: number, unused: number): void {
    this.#eta.carryOver(scale, unused);
  }

  /** The optimizer's report() for one scale; `preview` renders an evaluated image on request. */
  reporter(index: number, preview: (image: tf.Tensor4D) => Promise<RgbImage>): OptimizationProblem['report'] {
    const step = this.plan[index]!;
    const scale = { index, count: this.plan.length, width: step.width, height: step.height };
    const { signal, onProgress, timeLimitMs } = this.hooks;
    let doneInScale = 0;
    return async (image, loss) => {
      this.#iterations++;
      doneInScale++;
      this.#initialLoss ??= loss;
      const now = performance.now();
      this.#eta.record(index, now);
      if (signal?.aborted) throw new StylizeAbortedError();
      onProgress?.({
        iteration: this.#iterations,
        total: this.total,
        elapsedMs: Math.round(now - this.startedAt),
        etaMs: this.#eta.remainingMs(index, doneInScale),
        loss,
        scale,
        renderPreview: () => preview(image),
      });
      // Let timers, sockets and the abort signal in between iterations: tfjs on wasm and cpu never yields.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (signal?.aborted) throw new StylizeAbortedError();
      return timeLimitMs === undefined || performance.now() - this.startedAt < timeLimitMs;
    };
  }
}
