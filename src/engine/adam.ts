import * as tf from '@tensorflow/tfjs';
import { Evaluator, type OptimizationProblem, type OptimizationResult } from './probe.ts';
import type { LossTerms } from './types.ts';

/** TensorFlow's AdamOptimizer defaults, as the seed article used them. */
const BETA1 = 0.9;
const BETA2 = 0.999;
const EPSILON = 1e-8;

/**
 * Adam on the image, one evaluation per step. Its loss does not fall monotonically, so it keeps a copy of the
 * best image evaluated and returns that.
 */
export async function adam(
  problem: OptimizationProblem,
  start: tf.Tensor4D,
  learningRate: number,
): Promise<OptimizationResult> {
  const evaluator = new Evaluator(problem);
  let x = start.clone();
  let m: tf.Tensor4D = tf.zerosLike(x);
  let v: tf.Tensor4D = tf.zerosLike(x);
  let best: tf.Tensor4D | undefined;
  let bestLoss: LossTerms | undefined;
  try {
    for (let step = 1; evaluator.canContinue; step++) {
      const { loss, grad } = await evaluator.probe(x);
      if (!bestLoss || loss.total < bestLoss.total || !Number.isFinite(bestLoss.total)) {
        best?.dispose();
        best = x.clone();
        bestLoss = loss;
      }
      const next = tf.tidy(() => {
        const m1 = m.mul(BETA1).add(grad.mul(1 - BETA1));
        const v1 = v.mul(BETA2).add(grad.square().mul(1 - BETA2));
        const rate = (learningRate * Math.sqrt(1 - BETA2 ** step)) / (1 - BETA1 ** step);
        const x1 = x.sub(m1.mul(rate).div(v1.sqrt().add(EPSILON)));
        return [x1, m1, v1] as tf.Tensor4D[];
      });
      grad.dispose();
      x.dispose();
      m.dispose();
      v.dispose();
      [x, m, v] = next as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
    }
    if (!best || !bestLoss) throw new Error('Adam ran no evaluation');
    const result = { x: best, loss: bestLoss, evaluations: evaluator.evaluations, stopped: evaluator.stopped };
    best = undefined;
    return result;
  } finally {
    x.dispose();
    m.dispose();
    v.dispose();
    best?.dispose();
  }
}
