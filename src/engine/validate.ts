import type { RgbImage } from '../images/rgb-image.ts';
import { StylizeRequestError } from './errors.ts';
import type { StylizeRequest, StylizeSettings } from './types.ts';
import type { VggNetwork } from './vgg-network.ts';

/** No side may exceed this, whatever the memory: it bounds every size computation. */
export const MAX_IMAGE_SIDE = 16_384;

/** Smallest side that still leaves one pixel at the deepest layer used (each pooling halves it). */
export function minimumSide(net: VggNetwork, settings: StylizeSettings): number {
  const used = [...settings.contentLayers, ...settings.styleLayers].map(({ layer }) => net.layer(layer));
  const deepest = Math.max(...used.map((layer) => layer.index));
  const pools = net.layers.slice(0, deepest + 1).filter((layer) => layer.poolBefore).length;
  return 2 ** pools;
}

/** Throws StylizeRequestError with a specific, kind message unless the request can run. */
export function validateRequest(request: StylizeRequest, settings: StylizeSettings, net: VggNetwork): void {
  for (const { layer } of [...settings.contentLayers, ...settings.styleLayers]) {
    if (!net.has(layer)) {
      const last = net.layers[net.layers.length - 1]!.name;
      throw new StylizeRequestError(`The loaded VGG19 weights stop at ${last}, so layer ${layer} cannot be used.`);
    }
  }
  const minSide = minimumSide(net, settings);
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
