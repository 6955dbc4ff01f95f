import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../../src/engine/backend.ts';
import type { Evaluation, LossSpec, ScaleTargets } from '../../../src/engine/compute.ts';
import { evaluate } from '../../../src/engine/objective.ts';
import { PRESETS } from '../../../src/engine/presets.ts';
import { buildObjective, disposeObjective } from '../../../src/engine/targets.ts';
import { VggNetwork } from '../../../src/engine/vgg-network.ts';
import type { VggWeights } from '../../../src/weights/types.ts';

/**
 * The tfjs objective as the reference for the ONNX one: the loss and gradient at `x` for one LossSpec and its
 * targets, on tfjs' plain-JavaScript `cpu` backend.
 *
 * This is the only place the ONNX tests touch tfjs. It uses the engine's tfjs API of this branch
 * (targets.ts buildObjective + objective.ts evaluate on tensors); once tfjs implements the ComputeBackend
 * interface of compute.ts, its body becomes `backend.createObjective(loss, targets)` then `evaluate(x)`.
 */
export async function tfjsEvaluate(
  weights: VggWeights,
  loss: LossSpec,
  targets: ScaleTargets,
  x: Float32Array,
): Promise<Evaluation> {
  await selectBackend('cpu');
  const net = new VggNetwork(weights);
  const image = (data: Float32Array, width: number, height: number) => tf.tensor4d(data, [1, height, width, 3]);
  const content = image(targets.content.data, targets.content.width, targets.content.height);
  const styles = targets.styles.map(({ image: style, weight }) => ({
    image: image(style.data, style.width, style.height),
    weight,
  }));
  // LossSpec weights are final (run weight × layer weight): run weights of 1 pass them through unchanged.
  const settings = {
    ...PRESETS.default,
    contentWeight: 1,
    styleWeight: 1,
    tvWeight: loss.tvWeight,
    contentLayers: loss.content.map((t) => ({ ...t })),
    styleLayers: loss.style.map((t) => ({ ...t })),
    pooling: loss.pooling,
    lossNormalization: loss.normalization,
    colors: 'none' as const,
  };
  const objective = buildObjective(net, settings, content, styles);
  const input = image(x, targets.content.width, targets.content.height);
  try {
    const { terms, grad } = evaluate(net, objective, input);
    const [total, contentLoss, style, tv] = terms.dataSync();
    const gradient = grad.dataSync() as Float32Array;
    tf.dispose([terms, grad]);
    return { loss: { total: total!, content: contentLoss!, style: style!, tv: tv! }, grad: gradient };
  } finally {
    disposeObjective(objective);
    tf.dispose([content, input, ...styles.map((s) => s.image)]);
    net.dispose();
  }
}
