import * as tf from '@tensorflow/tfjs';
import type { VggWeights } from '../../weights/types.ts';
import { chainedLayers, type VggLayerName } from '../../weights/vgg19-layout.ts';
import { winogradConv2d, winogradFilter, type WinogradFilter } from './winograd.ts';

/** One 3x3 convolution + ReLU of VGG19, its parameters on the tfjs backend. */
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
}

/** How a layer convolves, forward and for its input gradient. */
type Strategy =
  /** conv2d; the input gradient is conv2d with the kernel rotated 180° and in/out channels swapped. */
  | { kind: 'direct'; flipped: tf.Tensor4D }
  | { kind: 'winograd'; forward: WinogradFilter; backward: WinogradFilter };

/**
 * VGG19's convolution layers uploaded once to tensors and kept for every run, with what each needs to run
 * both ways. The input gradient of a stride-1 'same' 3x3 convolution is a forward convolution of the output
 * gradient with the flipped kernel: several times faster than Conv2DBackpropInput on wasm, no slower
 * elsewhere. Everything is built here, before any activation exists, so that it sits together at the bottom
 * of the wasm heap instead of fragmenting it mid-run, and so that the tensor count stays constant.
 */
export class VggNetwork {
  readonly layers: readonly ConvLayer[];
  readonly #strategies: Strategy[] = [];
  #disposed = false;

  /** Builds on the active tfjs backend; `backend` is its name (Winograd pays off only on wasm). */
  constructor(weights: VggWeights, backend: string) {
    const layers: ConvLayer[] = [];
    for (const found of chainedLayers(weights)) {
      const { inChannels: kin, outChannels: kout } = found;
      const layer: ConvLayer = {
        ...found,
        kernel: tf.tensor4d(found.kernel, [3, 3, kin, kout]),
        bias: tf.tensor1d(found.bias),
      };
      layers.push(layer);
      this.#strategies.push(
        usesWinograd(layer, backend)
          ? {
              kind: 'winograd',
              forward: winogradFilter(found.kernel, kin, kout),
              backward: winogradFilter(found.kernel, kin, kout, true),
            }
          : { kind: 'direct', flipped: tf.tidy(() => tf.reverse(layer.kernel, [0, 1]).transpose([0, 1, 3, 2])) },
      );
    }
    this.layers = layers;
  }

  layer(name: VggLayerName): ConvLayer {
    const found = this.layers.find((layer) => layer.name === name);
    if (!found) throw new Error(`the weights have no layer ${name}`);
    return found;
  }

  /** ReLU(conv(x) + bias): one forward layer. */
  convolve(layer: ConvLayer, x: tf.Tensor4D): tf.Tensor4D {
    const strategy = this.#strategies[layer.index]!;
    if (strategy.kind === 'winograd') return winogradConv2d(x, strategy.forward, layer.bias, true);
    return tf.fused.conv2d({ x, filter: layer.kernel, strides: 1, pad: 'same', bias: layer.bias, activation: 'relu' });
  }

  /** The gradient with respect to a layer's input, given the gradient `dz` at its pre-activation output. */
  inputGradient(layer: ConvLayer, dz: tf.Tensor4D): tf.Tensor4D {
    const strategy = this.#strategies[layer.index]!;
    if (strategy.kind === 'winograd') return winogradConv2d(dz, strategy.backward);
    return tf.conv2d(dz, strategy.flipped, 1, 'same');
  }

  /** Layers convolved by Winograd F(4x4, 3x3), by name (for logs and tests). */
  get winogradLayers(): VggLayerName[] {
    return this.layers.filter((layer) => this.#strategies[layer.index]!.kind === 'winograd').map((l) => l.name);
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const layer of this.layers) tf.dispose([layer.kernel, layer.bias]);
    for (const strategy of this.#strategies) {
      tf.dispose(strategy.kind === 'direct' ? [strategy.flipped] : [...strategy.forward, ...strategy.backward]);
    }
  }
}

/**
 * Layers that run as Winograd F(4x4, 3x3) on wasm: those with at least 256 channels in and out, up to
 * block5_conv1. CPU-time measurements on wasm (XNNPACK), forward and input gradient alike: 1.5-2.1x faster
 * than conv2d for 512 channels at 16-64 px, 1.2-1.5x for 256 channels at 64-128 px, slower with fewer
 * channels, where the tile transforms cost more than the multiplications they save. Their filters take four
 * times the kernel's memory per direction (about 390 MB for VGG19), so the deeper layers that no default uses
 * stay direct. Other backends convolve natively (cuDNN picks its own algorithms) and never use them.
 */
function usesWinograd(layer: ConvLayer, backend: string): boolean {
  return backend === 'wasm' && layer.index <= 12 && Math.min(layer.inChannels, layer.outChannels) >= 256;
}
