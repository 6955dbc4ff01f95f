import * as tf from '@tensorflow/tfjs';
import type { ConvLayerWeights, VggWeights } from '../weights/types.ts';
import { VGG19_LAYERS, type VggLayerName } from '../weights/vgg19-layout.ts';
import { evaluate } from './objective.ts';
import { PRESETS } from './presets.ts';
import { buildObjective, disposeObjective } from './targets.ts';
import type { LossTerms } from './types.ts';
import { VggNetwork } from './vgg-network.ts';

export interface BenchmarkOptions {
  /** Square image side in pixels. */
  size: number;
  /** Real weights; random ones of the real VGG19 shapes otherwise (timing does not depend on the values). */
  weights?: VggWeights;
}

export interface Benchmark {
  /** One full iteration: forward through block5_conv1, five Gram style layers, content, TV, image gradient. */
  step(): Promise<LossTerms>;
  dispose(): void;
}

/**
 * The exact loss evaluation a default run performs (style block1..5_conv1, content block4_conv2, TV, average
 * pooling), on random images, for `npm run bench`.
 */
export function createBenchmark(options: BenchmarkOptions): Benchmark {
  const net = new VggNetwork(options.weights ?? randomVggWeights('block5_conv1'));
  const settings = PRESETS.default;
  const shape: [number, number, number, number] = [1, options.size, options.size, 3];
  let objective: ReturnType<typeof buildObjective> | undefined;
  let x: tf.Tensor4D | undefined;
  try {
    const content = tf.randomUniform<tf.Rank.R4>(shape, -120, 120, 'float32', 1);
    const style = tf.randomUniform<tf.Rank.R4>(shape, -120, 120, 'float32', 2);
    objective = buildObjective(net, settings, content, [{ image: style, weight: 1 }]);
    content.dispose();
    style.dispose();
    x = tf.randomUniform<tf.Rank.R4>(shape, -120, 120, 'float32', 3);
  } catch (error) {
    if (objective) disposeObjective(objective);
    net.dispose();
    throw error;
  }
  const target = objective;
  const image = x;
  return {
    async step() {
      const { terms, grad } = evaluate(net, target, image);
      grad.dispose();
      const values = await terms.data();
      terms.dispose();
      return { total: values[0]!, content: values[1]!, style: values[2]!, tv: values[3]! };
    },
    dispose() {
      image.dispose();
      disposeObjective(target);
      net.dispose();
    },
  };
}

/** He-initialized random weights with the real VGG19 shapes, up to and including `upTo`. */
export function randomVggWeights(upTo: VggLayerName, seed = 1): VggWeights {
  let state = seed >>> 0;
  const uniform = () => {
    // mulberry32: fast and good enough for weights whose values only need to look plausible
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const layers = new Map<VggLayerName, ConvLayerWeights>();
  for (const { name, inChannels, outChannels } of VGG19_LAYERS) {
    const kernel = new Float32Array(9 * inChannels * outChannels);
    // Uniform on [-a, a] with the He variance 2 / fan-in.
    const a = Math.sqrt(6 / (9 * inChannels));
    for (let i = 0; i < kernel.length; i++) kernel[i] = (2 * uniform() - 1) * a;
    layers.set(name, { kernel, kernelShape: [3, 3, inChannels, outChannels], bias: new Float32Array(outChannels) });
    if (name === upTo) break;
  }
  return { layers, source: 'random VGG19-shaped weights' };
}
