import type { ConvLayerWeights, VggWeights } from '../../src/weights/types.ts';
import { VGG19_LAYERS, type VggLayerName } from '../../src/weights/vgg19-layout.ts';

/** Deterministic PRNG (mulberry32) so every test run sees the same tiny model. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface TinyVggOptions {
  /** Output channels of block 1..5 convolutions (VGG19 itself has 64/128/256/512/512). */
  widths?: readonly [number, number, number, number, number];
  /** Keep layers up to and including this one (default: all sixteen). */
  upTo?: VggLayerName;
  seed?: number;
}

/**
 * A VGG19-shaped network with few channels and He-initialized random weights: every layer name and the 3x3
 * kernels are real, so the engine builds it exactly as it builds the real one, but it runs in milliseconds.
 */
export function makeTinyVggWeights(options: TinyVggOptions = {}): VggWeights {
  const widths = options.widths ?? [4, 6, 8, 8, 8];
  const random = seededRandom(options.seed ?? 1);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const layers = new Map<VggLayerName, ConvLayerWeights>();
  let inChannels = 3;
  for (const layer of VGG19_LAYERS) {
    const block = Number(layer.name[5]) - 1;
    const outChannels = widths[block]!;
    const kernel = new Float32Array(9 * inChannels * outChannels);
    const std = Math.sqrt(2 / (9 * inChannels));
    for (let i = 0; i < kernel.length; i++) kernel[i] = normal() * std;
    const bias = new Float32Array(outChannels);
    for (let i = 0; i < bias.length; i++) bias[i] = (random() - 0.5) * 0.1;
    layers.set(layer.name, { kernel, kernelShape: [3, 3, inChannels, outChannels], bias });
    inChannels = outChannels;
    if (layer.name === options.upTo) break;
  }
  return { layers, source: 'tiny generated model' };
}
