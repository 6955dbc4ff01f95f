import * as tf from '@tensorflow/tfjs';
import type { Evaluation } from './objective.ts';
import type { LossTerms } from './types.ts';

/** What an optimizer needs from the run: the loss, a budget, and someone to tell after each evaluation. */
export interface OptimizationProblem {
  /** Loss terms and gradient at x; synchronous, returns fresh tensors. */
  evaluate(x: tf.Tensor4D): Evaluation;
  /** Most evaluations (forward + backward passes) this optimization may use. */
  readonly budget: number;
  /**
   * Called after every evaluation with the evaluated image and its loss. Resolves false to stop early (time
   * limit): the optimizer then returns its best point. Rejects to abort: the optimizer frees its tensors and
   * rethrows.
   */
  report(x: tf.Tensor4D, loss: LossTerms): Promise<boolean>;
}

export interface OptimizationResult {
  /** The best point found; the caller owns it. */
  readonly x: tf.Tensor4D;
  readonly loss: LossTerms;
  readonly evaluations: number;
  /** report() asked to stop before the budget was used. */
  readonly stopped: boolean;
}

export interface Probe {
  readonly loss: LossTerms;
  readonly grad: tf.Tensor4D;
  /** Directional derivative g·d, when a direction was given. */
  readonly slope: number;
}

/**
 * Counts evaluations against the budget and turns each into numbers with a single download: the four loss
 * terms and, for line searches, the slope along the search direction.
 */
export class Evaluator {
  #used = 0;
  #stopped = false;

  constructor(private readonly problem: OptimizationProblem) {}

  get evaluations(): number {
    return this.#used;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Whether another evaluation may run. */
  get canContinue(): boolean {
    return !this.#stopped && this.#used < this.problem.budget;
  }

  async probe(x: tf.Tensor4D, direction?: tf.Tensor4D): Promise<Probe> {
    const { terms, grad } = this.problem.evaluate(x);
    this.#used++;
    const packed = direction ? tf.tidy(() => tf.concat([terms, tf.sum(tf.mul(grad, direction)).reshape([1])])) : terms;
    let values: Float32Array;
    try {
      values = (await packed.data()) as Float32Array;
    } catch (error) {
      grad.dispose();
      throw error;
    } finally {
      terms.dispose();
      packed.dispose();
    }
    const loss: LossTerms = { total: values[0]!, content: values[1]!, style: values[2]!, tv: values[3]! };
    try {
      if (!(await this.problem.report(x, loss))) this.#stopped = true;
    } catch (error) {
      grad.dispose();
      throw error;
    }
    return { loss, grad, slope: direction ? values[4]! : Number.NaN };
  }
}

/** Downloads a small tensor's values and frees it. */
export async function readValues(t: tf.Tensor): Promise<number[]> {
  try {
    return Array.from(await t.data());
  } finally {
    t.dispose();
  }
}

/** Downloads a scalar tensor and frees it. */
export async function readScalar(t: tf.Tensor): Promise<number> {
  return (await readValues(t))[0]!;
}
