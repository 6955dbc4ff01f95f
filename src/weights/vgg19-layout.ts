import type { VggWeights } from './types.ts';

/**
 * The VGG19 convolution layers in network order, with the Keras names every weights format uses, and the
 * shapes of the real ImageNet weights (HWIO kernels). Tiny test models keep the names and the 3x3 kernels but
 * use fewer channels.
 */
export const VGG19_LAYERS = [
  { name: 'block1_conv1', inChannels: 3, outChannels: 64 },
  { name: 'block1_conv2', inChannels: 64, outChannels: 64 },
  { name: 'block2_conv1', inChannels: 64, outChannels: 128 },
  { name: 'block2_conv2', inChannels: 128, outChannels: 128 },
  { name: 'block3_conv1', inChannels: 128, outChannels: 256 },
  { name: 'block3_conv2', inChannels: 256, outChannels: 256 },
  { name: 'block3_conv3', inChannels: 256, outChannels: 256 },
  { name: 'block3_conv4', inChannels: 256, outChannels: 256 },
  { name: 'block4_conv1', inChannels: 256, outChannels: 512 },
  { name: 'block4_conv2', inChannels: 512, outChannels: 512 },
  { name: 'block4_conv3', inChannels: 512, outChannels: 512 },
  { name: 'block4_conv4', inChannels: 512, outChannels: 512 },
  { name: 'block5_conv1', inChannels: 512, outChannels: 512 },
  { name: 'block5_conv2', inChannels: 512, outChannels: 512 },
  { name: 'block5_conv3', inChannels: 512, outChannels: 512 },
  { name: 'block5_conv4', inChannels: 512, outChannels: 512 },
] as const;

export type VggLayerName = (typeof VGG19_LAYERS)[number]['name'];

export const VGG19_LAYER_NAMES: readonly VggLayerName[] = VGG19_LAYERS.map((l) => l.name);

export function isVggLayerName(name: string): name is VggLayerName {
  return (VGG19_LAYER_NAMES as readonly string[]).includes(name);
}

/** One convolution layer of a loaded network, checked, with its place and its arrays (not copied). */
export interface ChainedLayer {
  readonly name: VggLayerName;
  /** Position in the network (0 = block1_conv1). */
  readonly index: number;
  /** A 2x2 pooling precedes this layer (the first convolution of blocks 2 to 5). */
  readonly poolBefore: boolean;
  readonly inChannels: number;
  readonly outChannels: number;
  /** HWIO [3, 3, inChannels, outChannels]. */
  readonly kernel: Float32Array;
  readonly bias: Float32Array;
}

/**
 * The layers every compute backend builds from: the prefix of VGG19 the weights hold, checked to be 3x3 kernels
 * whose channels chain and whose arrays have those sizes.
 */
export function chainedLayers(weights: VggWeights): ChainedLayer[] {
  const layers: ChainedLayer[] = [];
  let inChannels = 3;
  for (const [index, spec] of VGG19_LAYERS.entries()) {
    const found = weights.layers.get(spec.name);
    if (!found) break;
    const [kh, kw, kin, kout] = found.kernelShape;
    if (kh !== 3 || kw !== 3 || kin !== inChannels || !(kout > 0)) {
      const shape = found.kernelShape.join(', ');
      throw new Error(`${spec.name} kernel has shape [${shape}], expected [3, 3, ${inChannels}, n]`);
    }
    if (found.kernel.length !== 9 * kin * kout || found.bias.length !== kout) {
      throw new Error(`${spec.name} holds ${found.kernel.length} kernel and ${found.bias.length} bias values`);
    }
    const poolBefore = index > 0 && spec.name.endsWith('_conv1');
    layers.push({ name: spec.name, index, poolBefore, inChannels: kin, outChannels: kout, kernel: found.kernel, bias: found.bias });
    inChannels = kout;
  }
  if (layers.length === 0) throw new Error(`${weights.source} holds no block1_conv1 layer`);
  return layers;
}
