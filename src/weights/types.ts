import type { VggLayerName } from './vgg19-layout.ts';

/** One convolution layer's parameters, as plain float32 arrays so they outlive any tfjs backend. */
export interface ConvLayerWeights {
  /** HWIO: [3, 3, inChannels, outChannels], row-major. */
  readonly kernel: Float32Array;
  readonly kernelShape: readonly [number, number, number, number];
  readonly bias: Float32Array;
}

/**
 * The in-memory weight set every loader produces and the engine consumes. Layers form a prefix of VGG19 in
 * network order (block1_conv1 first); a full file has all sixteen.
 */
export interface VggWeights {
  readonly layers: ReadonlyMap<VggLayerName, ConvLayerWeights>;
  /** Where they came from (path or URL), for logs and messages. */
  readonly source: string;
}
