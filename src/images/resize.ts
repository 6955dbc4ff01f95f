import { assertRgbImage, type RgbImage } from './rgb-image.ts';
import { openRgb, toRgb } from './sharp-setup.ts';
import { processingFailure } from './sharp-errors.ts';
import { planFit, planStyleSize, type Dimensions } from './size-plan.ts';

/** Resizes to exactly `size` (aspect ratio was kept by the plan): lanczos3 to shrink, mitchell to enlarge. */
export async function resizeRgb(image: RgbImage, size: Dimensions, label?: string): Promise<RgbImage> {
  assertRgbImage(image);
  if (size.width === image.width && size.height === image.height) return image;
  const enlarging = size.width * size.height > image.width * image.height;
  try {
    return await toRgb(
      openRgb(image).resize(size.width, size.height, { fit: 'fill', kernel: enlarging ? 'mitchell' : 'lanczos3' }),
    );
  } catch (error) {
    throw processingFailure(error, label);
  }
}

/**
 * Output-sized image: long side `requested`, clamped to `max`, aspect ratio kept, every side at least 32
 * (see planFit for tiny and very thin images). `note` tells the user when the size is not simply what was asked.
 */
export async function fitToLongSide(
  image: RgbImage,
  requested: number,
  max: number,
  label?: string,
): Promise<{ image: RgbImage; note?: string }> {
  const { note, ...size } = planFit(image, requested, max, label);
  const resized = await resizeRgb(image, size, label);
  return note === undefined ? { image: resized } : { image: resized, note };
}

/**
 * Style image sized for an output of `output`: long side = output long side × `styleScale` (neural-style's
 * convention), within 32..2048 px, aspect ratio kept.
 */
export async function sizeStyleImage(
  style: RgbImage,
  output: Dimensions,
  styleScale: number,
  label = 'style',
): Promise<RgbImage> {
  const { note: _note, ...size } = planStyleSize(style, output, styleScale, label);
  return resizeRgb(style, size, label);
}
