import type { RgbImage } from '../images/rgb-image.ts';
import type { OptimizationProblem } from './optimize.ts';
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

  /** A scale ended with `unused` iterations of its budget: they go to the next scale, or nowhere. */
  settle(scale: number, unused: number, what: 'carry' | 'drop'): void {
    this.#eta.settle(scale, unused, what);
  }

  /** The optimizer's report() for one scale; `render` shows an evaluated image in the user's colours. */
  reporter(index: number, render: (x: Float32Array) => RgbImage): OptimizationProblem['report'] {
    const step = this.plan[index]!;
    const scale = { index, count: this.plan.length, width: step.width, height: step.height };
    const { signal, onProgress, timeLimitMs } = this.hooks;
    let doneInScale = 0;
    return async (x, loss) => {
      this.#iterations++;
      doneInScale++;
      this.#initialLoss ??= loss;
      const now = performance.now();
      this.#eta.record(index, now);
      if (signal?.aborted) throw new StylizeAbortedError();
      if (onProgress) {
        // The optimizer reuses x once this returns: a preview is only possible during the callback.
        let live = true;
        try {
          onProgress({
            iteration: this.#iterations,
            total: this.total,
            elapsedMs: Math.round(now - this.startedAt),
            etaMs: this.#eta.remainingMs(index, doneInScale),
            loss,
            scale,
            preview: () => {
              if (!live) throw new Error('preview() must be called synchronously inside onProgress');
              return render(x);
            },
          });
        } finally {
          live = false;
        }
      }
      // Let timers, sockets and the abort signal in between iterations: the computation itself never yields.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (signal?.aborted) throw new StylizeAbortedError();
      return timeLimitMs === undefined || performance.now() - this.startedAt < timeLimitMs;
    };
  }
}

/**
 * Remaining-time estimate across scales. An iteration's cost grows with the pixel count, so a scale not yet
 * measured is predicted from the per-pixel cost of the finest scale measured so far; a measured scale uses its
 * own recent average. The first iteration of each scale (targets, kernel set-up) is not timed.
 */
export class EtaEstimator {
  readonly #pixels: readonly number[];
  readonly #planned: number[];
  readonly #samples: number[][];
  #last: { scale: number; at: number } | undefined;

  constructor(scales: readonly { width: number; height: number; iterations: number }[]) {
    this.#pixels = scales.map((s) => s.width * s.height);
    this.#planned = scales.map((s) => s.iterations);
    this.#samples = scales.map(() => []);
  }

  /** Call after each iteration of `scale`, with a monotonic time in ms. */
  record(scale: number, now: number): void {
    if (this.#last?.scale === scale) {
      const samples = this.#samples[scale]!;
      samples.push(now - this.#last.at);
      if (samples.length > 20) samples.shift();
    }
    this.#last = { scale, at: now };
  }

  /** Iterations a scale did not use: moved on to the next one, or dropped (the scale had converged). */
  settle(scale: number, unused: number, what: 'carry' | 'drop'): void {
    if (unused <= 0) return;
    this.#planned[scale]! -= unused;
    if (what === 'carry' && scale + 1 < this.#planned.length) this.#planned[scale + 1]! += unused;
  }

  /** Estimated ms left after `done` iterations of `scale`; undefined until two iterations have been timed. */
  remainingMs(scale: number, done: number): number | undefined {
    const measured = this.#samples.flatMap((s, i) => (s.length > 0 ? [i] : []));
    if (measured.reduce((n, i) => n + this.#samples[i]!.length, 0) < 2) return undefined;
    const reference = measured[measured.length - 1]!;
    const perPixel = average(this.#samples[reference]!) / this.#pixels[reference]!;
    let total = 0;
    for (let i = scale; i < this.#planned.length; i++) {
      const left = i === scale ? Math.max(0, this.#planned[i]! - done) : this.#planned[i]!;
      const samples = this.#samples[i]!;
      const ms = samples.length >= 2 ? average(samples) : perPixel * this.#pixels[i]!;
      total += left * ms;
    }
    return Math.round(total);
  }
}

function average(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}
