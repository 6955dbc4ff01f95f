import type { Config } from '../config/index.ts';
import {
  decodeContentImage,
  decodeLimitsFromConfig,
  decodeStyleImage,
  type DecodedImage,
} from '../images/index.ts';
import { downloadAttachment } from './attachment-download.ts';
import type { StylizeRequestInput } from './stylize-request.ts';

export interface FetchedImages {
  /** At the output size. */
  content: DecodedImage;
  /** Sized for the output and the style scale. */
  styles: DecodedImage[];
  /** Notes for the user (first frame of an animation used, enlarged, ...). */
  notes: string[];
}

/**
 * Downloads every attachment at once, then decodes the content straight to the output size and each style to
 * its size for that output. Errors carry the images pipeline's or the download's user message. The first
 * failed download stops the others; `stop` (shutdown) stops them all and skips the decoding still to do.
 */
export async function fetchStylizeImages(
  input: StylizeRequestInput,
  config: Config,
  stop?: AbortSignal,
): Promise<FetchedImages> {
  const limits = {
    allowedHosts: config.discord.attachmentHosts,
    maxBytes: config.images.maxUploadBytes,
    timeoutMs: config.bot.downloadTimeoutMs,
  };
  const siblingFailed = new AbortController();
  const signal = stop ? AbortSignal.any([siblingFailed.signal, stop]) : siblingFailed.signal;
  const [contentBytes, ...styleBytes] = await Promise.all(
    [input.content, ...input.styles].map((a) =>
      downloadAttachment(a.url, limits, a.label, signal).catch((error: unknown) => {
        siblingFailed.abort();
        throw error;
      }),
    ),
  );
  stop?.throwIfAborted();
  const decodeLimits = decodeLimitsFromConfig(config.images);
  const content = await decodeContentImage(contentBytes!, decodeLimits, {
    requested: input.size,
    max: config.images.maxSize,
  });
  const styles: DecodedImage[] = [];
  for (const [index, bytes] of styleBytes.entries()) {
    stop?.throwIfAborted();
    styles.push(await decodeStyleImage(bytes, decodeLimits, content, input.styleScale, input.styles[index]!.label));
  }
  const notes = [content, ...styles].map((image) => image.note).filter((note): note is string => note !== undefined);
  return { content, styles, notes };
}
