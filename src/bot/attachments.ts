import type { Config } from '../config/index.ts';
import { UserFacingError } from '../errors/user-facing-error.ts';
import {
  decodeContentImage,
  decodeLimitsFromConfig,
  decodeStyleImage,
  formatBytes,
  type DecodedImage,
} from '../images/index.ts';
import { isAllowedUrl, type StylizeChoices } from './stylize-options.ts';

/**
 * Attachments from Discord's CDN, downloaded defensively (allow-listed hosts on every redirect hop, a byte cap
 * enforced while streaming, a time limit) and decoded by the hardened image pipeline into engine inputs.
 */


export class AttachmentError extends UserFacingError {}

export interface DownloadLimits {
  /** Hosts attachments may come from: `cdn.discordapp.com` matches on any port, `127.0.0.1:5000` only there. */
  allowedHosts: readonly string[];
  maxBytes: number;
  timeoutMs: number;
}

const MAX_REDIRECTS = 3;

export function parseAllowedUrl(raw: string, allowedHosts: readonly string[], label: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new AttachmentError(`The ${label} attachment has an invalid link. Please upload the file again.`);
  }
  if (!isAllowedUrl(url, allowedHosts)) {
    throw new AttachmentError(
      `The ${label} attachment is not hosted on Discord (${url.hostname}). Please upload the file directly.`,
    );
  }
  return url;
}

/**
 * Downloads one attachment into memory. The byte cap is enforced while streaming, whatever Content-Length
 * says; redirects are followed by hand so that every hop is checked against the allow-list. `stop` ends the
 * download early (another attachment failed, or shutdown).
 */
export async function downloadAttachment(
  rawUrl: string,
  limits: DownloadLimits,
  label: string,
  stop?: AbortSignal,
): Promise<Uint8Array> {
  const timeout = AbortSignal.timeout(limits.timeoutMs);
  const signal = stop ? AbortSignal.any([timeout, stop]) : timeout;
  let url = parseAllowedUrl(rawUrl, limits.allowedHosts, label);
  try {
    for (let hop = 0; ; hop++) {
      const response = await fetch(url, { redirect: 'manual', signal, headers: { accept: 'image/*' } });
      if (response.status >= 300 && response.status < 400 && response.headers.has('location')) {
        await response.body?.cancel();
        if (hop >= MAX_REDIRECTS) throw new AttachmentError(`The ${label} attachment redirects too often.`);
        url = parseAllowedUrl(new URL(response.headers.get('location') ?? '', url).href, limits.allowedHosts, label);
        continue;
      }
      if (!response.ok || !response.body) {
        await response.body?.cancel();
        throw new AttachmentError(
          `I could not download the ${label} attachment (HTTP ${response.status}). Please upload it again.`,
        );
      }
      const declared = Number(response.headers.get('content-length') ?? NaN);
      if (declared > limits.maxBytes) {
        await response.body.cancel();
        throw tooLarge(label, limits.maxBytes);
      }
      return await readCapped(response.body, limits.maxBytes, label);
    }
  } catch (error) {
    if (error instanceof AttachmentError) throw error;
    if (stop?.aborted) {
      throw new AttachmentError(`Downloading the ${label} attachment was stopped.`, { cause: error });
    }
    if (timeout.aborted) {
      throw new AttachmentError(
        `Downloading the ${label} attachment took longer than ${Math.round(limits.timeoutMs / 1000)} s. Please try again.`,
        { cause: error },
      );
    }
    throw new AttachmentError(`I could not download the ${label} attachment. Please try again.`, { cause: error });
  }
}

async function readCapped(body: ReadableStream<Uint8Array>, maxBytes: number, label: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw tooLarge(label, maxBytes);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

function tooLarge(label: string, maxBytes: number): AttachmentError {
  return new AttachmentError(`The ${label} image is larger than ${formatBytes(maxBytes)}. Please upload a smaller file.`);
}

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
  input: StylizeChoices,
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
