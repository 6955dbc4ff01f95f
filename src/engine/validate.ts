import type { RgbImage } from '../images/rgb-image.ts';
import type { VggWeights } from '../weights/types.ts';
import type { VggLayerName } from '../weights/vgg19-layout.ts';
import { StylizeRequestError } from './errors.ts';
import type { ScaleStep } from './scales.ts';
import { EngineOutOfMemoryError, type StylizeRequest, type StylizeSettings } from './types.ts';

/**
 * Whether a request can run on the loaded network: its layers, image sizes and blend weights, and, where the
 * backend has a hard memory ceiling, its estimated peak memory.
 */

/** No side may exceed this, whatever the memory: it bounds every size computation. */
export const MAX_IMAGE_SIDE = 16_384;

/** A convolution layer of the loaded network, in network order, as far as sizes go. */
export interface NetworkLayer {
  readonly name: VggLayerName;
  readonly outChannels: number;
}

/** The layers a backend provides, with their widths from the weights. */
export function networkLayers(names: readonly VggLayerName[], weights: VggWeights): NetworkLayer[] {
  return names.map((name) => {
    const layer = weights.layers.get(name);
    if (!layer) throw new Error(`the backend has layer ${name}, the weights do not`);
    return { name, outChannels: layer.kernelShape[3] };
  });
}

/** A 2x2 pooling precedes the first convolution of blocks 2 to 5. */
function poolsBefore(layer: NetworkLayer, index: number): boolean {
  return index > 0 && layer.name.endsWith('_conv1');
}

function deepestIndex(layers: readonly NetworkLayer[], settings: StylizeSettings): number {
  const used = [...settings.contentLayers, ...settings.styleLayers].map(({ layer }) =>
    layers.findIndex((l) => l.name === layer),
  );
  return Math.max(...used);
}

/** Smallest side that still leaves one pixel at the deepest layer used (each pooling halves it). */
export function minimumSide(layers: readonly NetworkLayer[], settings: StylizeSettings): number {
  const deepest = deepestIndex(layers, settings);
  return 2 ** layers.slice(0, deepest + 1).filter(poolsBefore).length;
}

/** Throws StylizeRequestError with a specific, kind message unless the request can run. */
export function validateRequest(
  request: StylizeRequest,
  settings: StylizeSettings,
  layers: readonly NetworkLayer[],
): void {
  for (const { layer } of [...settings.contentLayers, ...settings.styleLayers]) {
    if (!layers.some((l) => l.name === layer)) {
      const last = layers[layers.length - 1]!.name;
      throw new StylizeRequestError(`The loaded VGG19 weights stop at ${last}, so layer ${layer} cannot be used.`);
    }
  }
  const minSide = minimumSide(layers, settings);
  checkImage(request.content, 'The photo', minSide);
  if (!Array.isArray(request.styles) || request.styles.length === 0) {
    throw new StylizeRequestError('Add at least one style image.');
  }
  let totalWeight = 0;
  for (const [i, style] of request.styles.entries()) {
    const label = request.styles.length === 1 ? 'The style image' : `Style image ${i + 1}`;
    checkImage(style.image, label, minSide);
    if (typeof style.weight !== 'number' || !Number.isFinite(style.weight) || style.weight < 0) {
      throw new StylizeRequestError(`${label} needs a blend weight that is a finite number of at least 0.`);
    }
    totalWeight += style.weight;
  }
  if (!(totalWeight > 0)) throw new StylizeRequestError('At least one style image needs a blend weight above 0.');
}

function checkImage(image: RgbImage | undefined, label: string, minSide: number): void {
  const { width, height, data } = image ?? {};
  if (!Number.isInteger(width) || !Number.isInteger(height) || !(data instanceof Uint8Array)) {
    throw new StylizeRequestError(`${label} is not a decoded RGB image.`);
  }
  if (data.length !== width! * height! * 3) {
    throw new StylizeRequestError(`${label} is damaged: its pixel data does not match its size.`);
  }
  if (width! < minSide || height! < minSide) {
    throw new StylizeRequestError(`${label} is too small: it needs at least ${minSide}×${minSide} pixels.`);
  }
  if (width! > MAX_IMAGE_SIDE || height! > MAX_IMAGE_SIDE) {
    throw new StylizeRequestError(`${label} is too large: at most ${MAX_IMAGE_SIDE} pixels per side.`);
  }
}

/**
 * Peak memory of a run on the backend, estimated from the layer sizes: the forward activations the backward
 * pass needs, its largest temporaries, the content targets and injected gradients, the image, its gradient and
 * the total-variation temporaries; or the forward pass over the largest style image, if that is more. The
 * optimizer's vectors live in JavaScript memory, not on the backend.
 */
export function estimatePeakBytes(
  layers: readonly NetworkLayer[],
  settings: StylizeSettings,
  plan: readonly ScaleStep[],
  styleSizes: readonly { width: number; height: number }[],
): number {
  const finest = plan[plan.length - 1]!;
  const used = [...settings.contentLayers, ...settings.styleLayers].map(({ layer }) =>
    layers.findIndex((l) => l.name === layer),
  );
  const depth = Math.max(...used) + 1;
  const maps = (width: number, height: number) => {
    let h = height;
    let w = width;
    return layers.slice(0, depth).map((layer, index) => {
      if (poolsBefore(layer, index)) [h, w] = [Math.floor(h / 2), Math.floor(w / 2)];
      return h * w * layer.outChannels;
    });
  };
  const main = maps(finest.width, finest.height);
  const activations = main.reduce((a, b) => a + b, 0) * (settings.pooling === 'max' ? 1.5 : 1);
  const largest = Math.max(...main);
  const tapped = used.reduce((sum, index) => sum + (main[index] ?? 0), 0);
  const images = 6 * finest.width * finest.height * 3;
  const mainPass = activations + 3 * largest + 2 * tapped + images;
  const largestStyleMap = Math.max(0, ...styleSizes.map((s) => Math.max(...maps(s.width, s.height))));
  const stylePass = 3 * largestStyleMap + tapped + images;
  return 4 * Math.max(mainPass, stylePass);
}

/** Refuses, as out of memory, a run whose estimated peak is above the backend's limit. */
export function checkMemory(
  limitBytes: number | undefined,
  layers: readonly NetworkLayer[],
  settings: StylizeSettings,
  plan: readonly ScaleStep[],
  request: StylizeRequest,
): void {
  if (limitBytes === undefined) return;
  const bytes = estimatePeakBytes(layers, settings, plan, request.styles.map((s) => s.image));
  if (bytes > limitBytes) {
    const mib = (n: number) => Math.round(n / 2 ** 20);
    const cause = new Error(`estimated peak ${mib(bytes)} MiB > limit ${mib(limitBytes)} MiB`);
    throw new EngineOutOfMemoryError({ cause });
  }
}
