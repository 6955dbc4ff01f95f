import type { Evaluation, LossSpec, ScaleTargets } from '../../../src/engine/compute.ts';
import { createTfjsBackend } from '../../../src/engine/tfjs/backend.ts';
import type { VggWeights } from '../../../src/weights/types.ts';

/**
 * The tfjs objective as the reference for the ONNX one: the loss and gradient at `x` for one LossSpec and its
 * targets, on tfjs' plain-JavaScript `cpu` backend, through the same ComputeBackend interface the engine uses.
 */
export async function tfjsEvaluate(
  weights: VggWeights,
  loss: LossSpec,
  targets: ScaleTargets,
  x: Float32Array,
): Promise<Evaluation> {
  const attempt = await createTfjsBackend('cpu', weights, {});
  if (!('backend' in attempt)) throw new Error(`tfjs cpu did not start: ${attempt.why}`);
  const objective = await attempt.backend.createObjective(loss, targets);
  try {
    return await objective.evaluate(x);
  } finally {
    objective.dispose();
    await attempt.backend.dispose();
  }
}
