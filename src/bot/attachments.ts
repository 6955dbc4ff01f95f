import { UserFacingError } from '../errors/user-facing-error.ts';
import { formatBytes } from '../images/index.ts';
import { isAllowedUrl } from './stylize-options.ts';

/**
 * Attachments from Discord's CDN, downloaded defensively: allow-listed hosts on every redirect hop, a byte cap
 * enforced while streaming, a time limit. The hardened image pipeline (src/images) decodes what comes back.
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
