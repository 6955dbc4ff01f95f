import type { StylizeSettings } from '../engine/types.ts';
import { fitToLongSide, sizeStyleImage } from '../images/index.ts';
import type { JobInputs } from '../queue/index.ts';
import type { FetchedImages } from './fetch-images.ts';
import type { StylizeRequestInput } from './stylize-request.ts';

/** The user's choices as engine overrides; anything not chosen keeps the engine's default. */
export function settingsFor(input: StylizeRequestInput): Partial<StylizeSettings> {
  return {
    ...(input.iterations !== undefined && { iterations: input.iterations }),
    ...(input.contentWeight !== undefined && { contentWeight: input.contentWeight }),
    ...(input.styleWeight !== undefined && { styleWeight: input.styleWeight }),
    ...(input.tvWeight !== undefined && { tvWeight: input.tvWeight }),
    ...(input.seed !== undefined && { seed: input.seed }),
    ...(input.preserveColors && { colors: 'luminance' as const }),
  };
}

/**
 * The engine inputs at output long side `size`: the decoded images as they are for the requested size, or
 * scaled down for an out-of-memory retry.
 */
export async function prepareInputs(
  images: FetchedImages,
  input: StylizeRequestInput,
  size: number,
  maxSize: number,
): Promise<JobInputs> {
  const current = Math.max(images.content.width, images.content.height);
  const content = size === current ? images.content : (await fitToLongSide(images.content, size, maxSize, 'content')).image;
  const styles = await Promise.all(
    images.styles.map(async (style, index) => ({
      image: size === current ? style : await sizeStyleImage(style, content, input.styleScale, input.styles[index]?.label),
      weight: input.blend[index] ?? 1,
    })),
  );
  return { content, styles };
}
