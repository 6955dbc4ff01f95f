import { ExtremeAspectRatioError, ImageTooSmallError, subject } from './errors.ts';

/**
 * Pure sizing rules, shared by the resize functions and by decoding (which resizes while it decodes). No pixels
 * here: only dimensions in, dimensions out.
 */

/** No output or style side is ever smaller: VGG19 pools four times before conv5_1, and 32 px leave it 2 px. */
export const MIN_SIDE = 32;
/** Style images never get a longer side than this, whatever the scale: Gram matrices gain little beyond it. */
export const MAX_STYLE_SIDE = 2048;
/** Enlarging by more than this earns a note that the result may look soft. */
const SOFT_ENLARGE_FACTOR = 1.5;

export interface Dimensions {
  readonly width: number;
  readonly height: number;
}

export interface SizePlan extends Dimensions {
  /** One or two short sentences for the user when the size is not simply what was asked. */
  readonly note?: string;
}

export const longSide = (d: Dimensions): number => Math.max(d.width, d.height);
export const shortSide = (d: Dimensions): number => Math.min(d.width, d.height);

/** Scales `d` so that its long side is `long`, keeping the aspect ratio; the other side is rounded, at least 1. */
export function scaleToLongSide(d: Dimensions, long: number): Dimensions {
  if (d.width >= d.height) return { width: long, height: Math.max(1, Math.round((d.height * long) / d.width)) };
  return { width: Math.max(1, Math.round((d.width * long) / d.height)), height: long };
}

function scaleToShortSide(d: Dimensions, short: number): Dimensions {
  if (d.width <= d.height) return { width: short, height: Math.round((d.height * short) / d.width) };
  return { width: Math.round((d.width * short) / d.height), height: short };
}

function requirePositive(name: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number, got ${value}`);
}

function requireUsable(original: Dimensions, label: string | undefined): void {
  requirePositive('width', original.width);
  requirePositive('height', original.height);
  if (shortSide(original) < MIN_SIDE) {
    throw new ImageTooSmallError(original.width, original.height, MIN_SIDE, label);
  }
}

/**
 * Long side `target` if that keeps the short side at least MIN_SIDE; otherwise the short side becomes MIN_SIDE
 * and the long side grows, up to `max`.
 */
function fitKeepingMinSide(
  original: Dimensions,
  target: number,
  max: number,
  label: string | undefined,
): { dims: Dimensions; note?: string } {
  const dims = scaleToLongSide(original, target);
  if (shortSide(dims) >= MIN_SIDE) return { dims };
  const widened = scaleToShortSide(original, MIN_SIDE);
  if (longSide(widened) > max) {
    throw new ExtremeAspectRatioError(original.width, original.height, MIN_SIDE, max, label);
  }
  const note = `The result is ${widened.width}×${widened.height} so that every side is at least ${MIN_SIDE} pixels.`;
  return { dims: widened, note };
}

function enlargeNote(original: Dimensions, dims: Dimensions, label: string | undefined): string | undefined {
  if (longSide(dims) <= longSide(original) * SOFT_ENLARGE_FACTOR) return undefined;
  return (
    `${subject(label, 'image')} is only ${original.width}×${original.height} pixels, so I enlarged it to ` +
    `${dims.width}×${dims.height}; the result may look soft.`
  );
}

function joinNotes(...notes: (string | undefined)[]): { note?: string } {
  const present = notes.filter((n): n is string => n !== undefined);
  return present.length > 0 ? { note: present.join(' ') } : {};
}

/**
 * The size of an output (or content) image: long side `requested`, clamped to `max`, aspect ratio kept.
 * Refuses images under MIN_SIDE on a side (ImageTooSmallError): enlarging a thumbnail or a tracking pixel gives
 * nothing worth stylizing. Smaller images that are big enough are enlarged, with a note when it shows.
 */
export function planFit(original: Dimensions, requested: number, max: number, label?: string): SizePlan {
  requirePositive('requested size', requested);
  if (!Number.isInteger(max) || max < MIN_SIDE) throw new RangeError(`max size must be an integer >= ${MIN_SIDE}`);
  requireUsable(original, label);
  const target = Math.max(MIN_SIDE, Math.min(Math.round(requested), max));
  const clampNote =
    Math.round(requested) > max ? `I made it ${max} pixels on the long side, the most allowed here.` : undefined;
  const { dims, note: thinNote } = fitKeepingMinSide(original, target, max, label);
  return { ...dims, ...joinNotes(clampNote, thinNote, enlargeNote(original, dims, label)) };
}

/**
 * The size to keep an image at for later runs of any output up to `maxLong` px on the long side: the original
 * when it is not larger, else scaled down to `maxLong`; never enlarged. A very thin image keeps MIN_SIDE on its
 * short side, up to MAX_STYLE_SIDE on its long side. Refuses images under MIN_SIDE on a side, like planFit.
 */
export function planKeep(original: Dimensions, maxLong: number, label?: string): SizePlan {
  requirePositive('max size', maxLong);
  requireUsable(original, label);
  if (longSide(original) <= maxLong) return { width: original.width, height: original.height };
  return fitKeepingMinSide(original, Math.round(maxLong), Math.max(Math.round(maxLong), MAX_STYLE_SIDE), label).dims;
}

/** neural-style's convention: the style's long side is the output's long side times the style scale. */
export function styleLongSide(output: Dimensions, styleScale: number): number {
  requirePositive('style scale', styleScale);
  requirePositive('output width', output.width);
  requirePositive('output height', output.height);
  return Math.max(MIN_SIDE, Math.min(Math.round(longSide(output) * styleScale), MAX_STYLE_SIDE));
}

/** The size a style image is resized to for an output of `output` at `styleScale` (see styleLongSide). */
export function planStyleSize(
  original: Dimensions,
  output: Dimensions,
  styleScale: number,
  label = 'style',
): SizePlan {
  const target = styleLongSide(output, styleScale);
  requireUsable(original, label);
  const { dims, note } = fitKeepingMinSide(original, target, MAX_STYLE_SIDE, label);
  return { ...dims, ...joinNotes(note, enlargeNote(original, dims, label)) };
}
