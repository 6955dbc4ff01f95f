import { randomInt } from 'node:crypto';
import type { Config } from '../config/index.ts';
import type { StylizeSettings } from '../engine/types.ts';
import { UserFacingError } from '../errors/user-facing-error.ts';
import {
  decodeImage,
  decodeLimitsFromConfig,
  fitToLongSide,
  planKeep,
  planStyleSize,
  resizeRgb,
  styleLongSide,
  type RgbImage,
} from '../images/index.ts';
import { downloadAttachment } from './attachments.ts';
import { imageKey, type KeptInputs } from './kept-inputs.ts';
import type { NamedStyle, StyleLibrary } from './style-library.ts';
import { limitsFor, type AttachmentLabel, type AttachmentRef } from './stylize-options.ts';

/**
 * What a job is made of, whichever way it was asked for (/stylize, a remix button, "Stylize this image"), and how
 * its images are made ready: every source gives a "master" (the image at the largest size any run on this server
 * could need, never enlarged), and the job gets the masters sized for its output. The masters are what the bot
 * keeps for remixing, so that a remix starts from the same pixels as the result it came from.
 */

export type ImageSource =
  /** An attachment to download and decode with the hardened pipeline. */
  | { kind: 'upload'; attachment: AttachmentRef }
  /** A built-in or saved style (style-library.ts). */
  | { kind: 'named'; style: NamedStyle }
  /** A master kept from an earlier job; `label` names an upload in notes ("The style image is only …"). */
  | { kind: 'kept'; key: string; label: AttachmentLabel | undefined };

export interface RecipeStyle {
  source: ImageSource;
  weight: number;
  /** For the result's text: "The Starry Night by Vincent van Gogh (1889)", "your upload". */
  title: string;
}

/** Everything that makes a job besides who asked for it. Plain JSON: remixes keep it (kept-inputs.ts). */
export interface Recipe {
  guildId: string | undefined;
  content: ImageSource;
  styles: RecipeStyle[];
  /** The `preset` value when the first style is a named one, so that the result's text can repeat the request. */
  preset: string | undefined;
  /** Output long side. */
  size: number;
  /** The most iterations the run may use. */
  iterations: number;
  styleScale: number;
  /** Engine overrides of the default preset; the seed is always set, so that the result can be made again. */
  settings: Partial<StylizeSettings> & { seed: number };
}

/** A seed for a request that names none: the bot picks it, so that the result can say it. */
export function randomSeed(): number {
  return randomInt(0, 2 ** 31);
}

/** What the store keeps for a job: the recipe under a version, so that a later bot can tell an old shape. */
interface KeptRecord {
  v: 1;
  recipe: Recipe;
}

export function keptRecord(recipe: Recipe): KeptRecord {
  return { v: 1, recipe };
}

/** The recipe of a kept record, or undefined for one this bot cannot read. */
export function recipeOf(record: unknown): Recipe | undefined {
  const r = record as Partial<KeptRecord> | undefined;
  return r?.v === 1 && typeof r.recipe === 'object' && Array.isArray(r.recipe.styles) ? r.recipe : undefined;
}

/** A remix found its kept images gone (past retention, evicted for disk space, or removed). */
export class InputsExpiredError extends UserFacingError {}

/** A saved style removed between the request and its download. */
export class StyleMissingError extends UserFacingError {}

export interface RecipeImages {
  /** At the output size. */
  content: RgbImage;
  /** Sized for the output and the style scale, in the recipe's order. */
  styles: RgbImage[];
  /** Notes for the user (first frame of an animation used, enlarged, ...). */
  notes: string[];
  /** The recipe with every source but built-in artworks replaced by its kept master, and those masters. */
  kept: { recipe: Recipe; images: RgbImage[] };
}

export interface ImageSources {
  config: Config;
  styles: StyleLibrary;
  kept: KeptInputs;
}

/**
 * Downloads, reads and decodes every image of `recipe`, then sizes them for its output. Errors carry a user
 * message (the download's, the image pipeline's, or InputsExpiredError). The first failed download stops the
 * others; `stop` (shutdown) stops them all and skips the work still to do.
 */
export async function loadRecipeImages(recipe: Recipe, sources: ImageSources, stop?: AbortSignal): Promise<RecipeImages> {
  const { config } = sources;
  const limits = limitsFor(config, recipe.guildId);
  const siblingFailed = new AbortController();
  const signal = stop ? AbortSignal.any([siblingFailed.signal, stop]) : siblingFailed.signal;
  const download = { allowedHosts: limits.allowedHosts, maxBytes: limits.maxUploadBytes, timeoutMs: config.bot.downloadTimeoutMs };
  const decodeLimits = decodeLimitsFromConfig(config.images);
  // Masters: the content at the server's largest output, each style at its size for that output.
  const styleMaxSide = styleLongSide({ width: limits.maxSize, height: limits.maxSize }, recipe.styleScale);

  const fetched = await Promise.all(
    [recipe.content, ...recipe.styles.map((s) => s.source)].map(async (source) => {
      try {
        return await fetchEncoded(source, recipe.guildId, sources, download, signal);
      } catch (error) {
        siblingFailed.abort();
        throw error;
      }
    }),
  );
  stop?.throwIfAborted();

  const masters: { image: RgbImage; note?: string }[] = [];
  for (const [index, item] of fetched.entries()) {
    stop?.throwIfAborted();
    if ('image' in item) {
      masters.push({ image: item.image });
      continue;
    }
    const maxSide = index === 0 ? limits.maxSize : styleMaxSide;
    const decoded = await decodeImage(item.bytes, decodeLimits, item.label, {
      plan: (original) => planKeep(original, maxSide, item.label),
    });
    masters.push({ image: decoded, ...(decoded.note !== undefined && { note: decoded.note }) });
  }

  const [contentMaster, ...styleMasters] = masters;
  const contentLabel = labelOf(recipe.content);
  const sized = await fitToLongSide(contentMaster!.image, recipe.size, limits.maxSize, contentLabel ?? 'content');
  const notes = [contentMaster!.note, sized.note];
  const styles: RgbImage[] = [];
  for (const [index, master] of styleMasters.entries()) {
    const label = labelOf(recipe.styles[index]!.source);
    const { note, ...size } = planStyleSize(master.image, sized.image, recipe.styleScale, label ?? 'style');
    styles.push(await resizeRgb(master.image, size, label));
    // Built-in and saved styles are what they are; only the user's own uploads earn a note about their size.
    if (label !== undefined) notes.push(master.note, note);
  }

  const keptImages: RgbImage[] = [];
  const keep = (source: ImageSource, image: RgbImage): ImageSource => {
    if (source.kind === 'named' && source.style.kind === 'gallery') return source;
    keptImages.push(image);
    return { kind: 'kept', key: imageKey(image), label: labelOf(source) };
  };
  const keptRecipe: Recipe = {
    ...recipe,
    content: keep(recipe.content, contentMaster!.image),
    styles: recipe.styles.map((style, index) => ({ ...style, source: keep(style.source, styleMasters[index]!.image) })),
  };
  return {
    content: sized.image,
    styles,
    notes: notes.filter((note): note is string => note !== undefined),
    kept: { recipe: keptRecipe, images: keptImages },
  };
}

type Fetched = { bytes: Uint8Array; label: AttachmentLabel | undefined } | { image: RgbImage };

async function fetchEncoded(
  source: ImageSource,
  guildId: string | undefined,
  sources: ImageSources,
  download: Parameters<typeof downloadAttachment>[1],
  signal: AbortSignal,
): Promise<Fetched> {
  switch (source.kind) {
    case 'upload': {
      const { attachment } = source;
      return { bytes: await downloadAttachment(attachment.url, download, attachment.label, signal), label: attachment.label };
    }
    case 'named': {
      const bytes = await sources.styles.bytes(guildId, source.style);
      if (!bytes) throw new StyleMissingError(`The saved style “${source.style.kind === 'saved' ? source.style.name : ''}” was just removed. Please pick another.`);
      return { bytes, label: undefined };
    }
    case 'kept': {
      const image = await sources.kept.image(source.key);
      if (!image) throw new InputsExpiredError(inputsExpiredMessage(sources.config));
      return { image };
    }
  }
}

function labelOf(source: ImageSource): AttachmentLabel | undefined {
  return source.kind === 'upload' ? source.attachment.label : source.kind === 'kept' ? source.label : undefined;
}

export function inputsExpiredMessage(config: Config): string {
  const hours = Math.round(config.data.remixRetentionMs / 3_600_000);
  return `The images of that result are no longer kept (they are kept for up to ${hours} hour${hours === 1 ? '' : 's'}). Please run /stylize again.`;
}
