import type { BackendChoice } from '../config/schema.ts';
import type { ConvLayerWeights, VggWeights } from '../weights/types.ts';
import { VGG19_LAYERS, type VggLayerName } from '../weights/vgg19-layout.ts';
import { createComputeBackend } from './backends.ts';
import type { CaffeImage, ComputeBackend, Objective } from './compute.ts';
import { seededRandom } from './pixels.ts';
import { PRESETS } from './presets.ts';
import { lossSpec } from './run.ts';
import type { BackendInfo, LossTerms } from './types.ts';

export interface BenchmarkOptions {
  /** Square image side in pixels. */
  size: number;
  /** Real weights; random ones of the real VGG19 shapes otherwise (timing does not depend on the values). */
  weights?: VggWeights;
  /** A backend choice as ENGINE_BACKEND, or a backend already started (its owner disposes it, not the benchmark). */
  backend: BackendChoice | ComputeBackend;
  /** CPU threads, for backends that can be told. */
  threads?: number;
}

export interface Benchmark {
  readonly backend: BackendInfo;
  /** One full evaluation: forward through block5_conv1, five Gram style layers, content, TV, image gradient. */
  step(): Promise<LossTerms>;
  dispose(): Promise<void>;
}

/**
 * The exact loss evaluation a default run performs (style block1..5_conv1, content block4_conv2, TV, average
 * pooling) through the ComputeBackend, image upload and gradient download included, on random images, for
 * `npm run bench`.
 */
export async function createBenchmark(options: BenchmarkOptions): Promise<Benchmark> {
  const compute =
    typeof options.backend === 'string'
      ? await createComputeBackend(options.backend, options.weights ?? randomVggWeights('block5_conv1'), {
          threads: options.threads,
        })
      : options.backend;
  let objective: Objective;
  try {
    const image = (seed: number) => randomImage(options.size, seed);
    objective = await compute.createObjective(lossSpec(PRESETS.default), {
      content: image(1),
      styles: [{ image: image(2), weight: 1 }],
    });
  } catch (error) {
    if (compute !== options.backend) await compute.dispose();
    throw error;
  }
  const x = randomImage(options.size, 3).data;
  return {
    backend: compute.info,
    step: async () => (await objective.evaluate(x)).loss,
    dispose: async () => {
      objective.dispose();
      if (compute !== options.backend) await compute.dispose();
    },
  };
}

/** Uniform values in ±120 around the mean colour: the spread of a caffe-preprocessed photo. */
function randomImage(size: number, seed: number): CaffeImage {
  const random = seededRandom(seed);
  const data = new Float32Array(size * size * 3);
  for (let i = 0; i < data.length; i++) data[i] = (2 * random() - 1) * 120;
  return { width: size, height: size, data };
}

/** He-initialized random weights with the real VGG19 shapes, up to and including `upTo`. */
export function randomVggWeights(upTo: VggLayerName, seed = 1): VggWeights {
  const uniform = seededRandom(seed);
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
