import * as tf from '@tensorflow/tfjs';
import type { VggWeights } from '../weights/types.ts';
import { VGG19_LAYERS, type VggLayerName } from '../weights/vgg19-layout.ts';

/** One 3x3 convolution + ReLU of VGG19, its parameters on the active backend. */
export interface ConvLayer {
  readonly name: VggLayerName;
  /** Position in the network (0 = block1_conv1). */
  readonly index: number;
  /** A 2x2 pooling precedes this layer (the first convolution of blocks 2 to 5). */
  readonly poolBefore: boolean;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernel: tf.Tensor4D;
  readonly bias: tf.Tensor1D;
  /** The kernel that turns an output gradient into an input gradient by a forward convolution. */
  readonly flipped: tf.Tensor4D;
}

/**
 * VGG19's convolution layers uploaded once to tensors and kept for every run. The input gradient of a stride-1
 * 'same' 3x3 convolution is a forward convolution of the output gradient with the kernel rotated by 180 degrees
 * and its in/out channels swapped; those flipped kernels are built here too, because a forward convolution is
 * several times faster than Conv2DBackpropInput on wasm and no slower elsewhere. Building them up front keeps
 * the engine's tensor count constant from its creation on.
 */
export class VggNetwork {
  readonly layers: readonly ConvLayer[];
  #disposed = false;

  constructor(weights: VggWeights) {
    const layers: ConvLayer[] = [];
    let inChannels = 3;
    for (const [index, spec] of VGG19_LAYERS.entries()) {
      const found = weights.layers.get(spec.name);
      if (!found) break;
      const [kh, kw, kin, kout] = found.kernelShape;
      if (kh !== 3 || kw !== 3 || kin !== inChannels || !(kout > 0)) {
        throw new Error(
          `${spec.name} kernel has shape [${found.kernelShape.join(', ')}], expected [3, 3, ${inChannels}, n]`,
        );
      }
      if (found.kernel.length !== 9 * kin * kout || found.bias.length !== kout) {
        throw new Error(`${spec.name} holds ${found.kernel.length} kernel and ${found.bias.length} bias values`);
      }
      const kernel = tf.tensor4d(found.kernel, [3, 3, kin, kout]);
      layers.push({
        name: spec.name,
        index,
        poolBefore: index > 0 && spec.name.endsWith('_conv1'),
        inChannels: kin,
        outChannels: kout,
        kernel,
        bias: tf.tensor1d(found.bias),
        flipped: tf.tidy(() => tf.reverse(kernel, [0, 1]).transpose<tf.Tensor4D>([0, 1, 3, 2])),
      });
      inChannels = kout;
    }
    if (layers.length === 0) throw new Error(`${weights.source} holds no block1_conv1 layer`);
    this.layers = layers;
  }

  has(name: VggLayerName): boolean {
    return this.layers.some((layer) => layer.name === name);
  }

  layer(name: VggLayerName): ConvLayer {
    const found = this.layers.find((layer) => layer.name === name);
    if (!found) throw new Error(`the weights have no layer ${name}`);
    return found;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const layer of this.layers) {
      layer.kernel.dispose();
      layer.bias.dispose();
      layer.flipped.dispose();
    }
  }
}
