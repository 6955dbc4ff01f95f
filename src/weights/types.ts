import type { WeightsLocation } from './locate.ts';
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
 * network order (block1_conv1 first): all sixteen under the `vgg19` check, possibly fewer for tiny test models.
 */
export interface VggWeights {
  readonly layers: ReadonlyMap<VggLayerName, ConvLayerWeights>;
  /** Where they came from (path or URL), for logs and messages. */
  readonly source: string;
  /** How the start-up path found them (downloaded now, cached, configured), when it did. */
  readonly location?: WeightsLocation;
}

/**
 * How strictly a file's shapes are checked: `vgg19` requires all sixteen convolution layers with the real
 * ImageNet VGG19 shapes; `consistent` (tiny test models) requires a prefix of them with 3x3 kernels whose
 * channels chain.
 */
export type ShapeCheck = 'vgg19' | 'consistent';

/** The subset of a pino logger the weights code writes to. */
export interface WeightsLogger {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  debug(object: object, message: string): void;
}
