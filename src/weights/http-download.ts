import { createHash } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { displayUrl } from './display-url.ts';
import type { ProgressSink } from './download-progress.ts';
import { fsProblem } from './fs-problem.ts';
import { WeightsError } from './weights-error.ts';

export interface DownloadOptions {
  /** Longest wait for the response and, after that, between two pieces of the body. */
  timeoutMs: number;
  signal?: AbortSignal;
  progress?: ProgressSink;
  /** Refuses bodies larger than this. */
  maxBytes?: number;
}

export interface DownloadResult {
  bytes: number;
  md5: string;
  /** After redirects. */
  finalUrl: string;
}

export const DEFAULT_DOWNLOAD_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_BYTES = 2 * 1024 ** 3;

/**
 * Streams `url` into `dest` while hashing it, so an 80 MB file is never held in memory. Redirects are followed.
 * The timeout is an idle timeout: a slow but steady download is fine, a stalled one is not. On any failure the
 * partial `dest` is removed and a WeightsError names the URL and what went wrong (HTTP status, timeout, cut-off
 * body); an abort through `signal` rethrows its reason.
 */
export async function downloadToFile(url: string, dest: string, options: DownloadOptions): Promise<DownloadResult> {
  const shown = displayUrl(url);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const idle = new AbortController();
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      idle.abort();
    }, options.timeoutMs);
  };
  const signal = options.signal ? AbortSignal.any([idle.signal, options.signal]) : idle.signal;
  const seconds = Math.round(options.timeoutMs / 100) / 10;

  let received = 0;
  let total: number | undefined;
  let started = false;
  const fail = (error: unknown): never => {
    if (options.signal?.aborted) throw options.signal.reason;
    if (error instanceof WeightsError) throw error;
    if (timedOut) {
      throw new WeightsError(
        started
          ? `Download of ${shown} stalled: no data for ${seconds} s after ${received.toLocaleString('en-US')} bytes`
          : `Timed out after ${seconds} s waiting for ${shown}`,
        { cause: error },
      );
    }
    if (started) {
      const of = total === undefined ? '' : ` of ${total.toLocaleString('en-US')}`;
      throw new WeightsError(
        `Download of ${shown} was cut off after ${received.toLocaleString('en-US')}${of} bytes (${networkProblem(error)})`,
        { cause: error },
      );
    }
    throw new WeightsError(`Could not download ${shown}: ${networkProblem(error)}`, { cause: error });
  };

  arm();
  let response: Response;
  try {
    const { href, headers } = requestTarget(url);
    response = await fetch(href, { headers, signal, redirect: 'follow' });
  } catch (error) {
    clearTimeout(timer);
    return fail(error);
  }
  const finalUrl = response.url || url;
  if (!response.ok || !response.body) {
    clearTimeout(timer);
    await response.body?.cancel().catch(() => undefined);
    throw new WeightsError(`HTTP ${response.status} ${response.statusText || 'error'} from ${displayUrl(finalUrl)}`);
  }
  const length = response.headers.get('content-length');
  // With Content-Encoding the header counts compressed bytes, and fetch hands over decompressed ones.
  if (length && /^\d+$/.test(length) && !response.headers.get('content-encoding')) total = Number(length);
  if (total !== undefined && total > maxBytes) {
    clearTimeout(timer);
    await response.body.cancel().catch(() => undefined);
    throw new WeightsError(`${shown} is ${total.toLocaleString('en-US')} bytes, too large for VGG19 weights`);
  }

  const hash = createHash('md5');
  let file: FileHandle;
  try {
    file = await open(dest, 'w');
  } catch (error) {
    clearTimeout(timer);
    await response.body.cancel().catch(() => undefined);
    throw new WeightsError(`Cannot save the download to ${dest}: ${fsProblem(error)}`, { cause: error });
  }
  started = true;
  options.progress?.start(total);
  let ok = false;
  try {
    try {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        arm();
        received += chunk.byteLength;
        if (received > maxBytes)
          throw new WeightsError(`${shown} is larger than ${maxBytes.toLocaleString('en-US')} bytes`);
        hash.update(chunk);
        await file.write(chunk).catch((error: unknown) => {
          throw new WeightsError(`Cannot save the download to ${dest}: ${fsProblem(error)}`, { cause: error });
        });
        options.progress?.advance(chunk.byteLength);
      }
      if (total !== undefined && received < total) throw new Error('the connection closed early');
      await file.sync().catch((error: unknown) => {
        throw new WeightsError(`Cannot save the download to ${dest}: ${fsProblem(error)}`, { cause: error });
      });
      ok = true;
    } catch (error) {
      fail(error);
    }
  } finally {
    clearTimeout(timer);
    await file.close().catch(() => undefined);
    options.progress?.finish(ok);
    if (!ok) await rm(dest, { force: true }).catch(() => undefined);
  }
  return { bytes: received, md5: hash.digest('hex'), finalUrl };
}

/** fetch refuses URLs with user:password@; they become a Basic Authorization header instead. */
function requestTarget(url: string): { href: string; headers: Record<string, string> } {
  const parsed = new URL(url);
  if (!parsed.username && !parsed.password) return { href: parsed.href, headers: {} };
  const credentials = `${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`;
  parsed.username = '';
  parsed.password = '';
  return { href: parsed.href, headers: { authorization: `Basic ${Buffer.from(credentials).toString('base64')}` } };
}

/** The network-level cause in a few words, e.g. "connection refused". */
function networkProblem(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const code = (cause as { code?: unknown } | undefined)?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host name not found';
    case 'ECONNRESET':
      return 'connection reset';
    case 'UND_ERR_SOCKET':
      return 'connection closed';
    case 'CERT_HAS_EXPIRED':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
      return 'TLS certificate not trusted';
    default: {
      const message = cause instanceof Error ? cause.message : String(cause);
      if (/redirect/i.test(message)) return 'too many redirects';
      return typeof code === 'string' ? code : message.slice(0, 120);
    }
  }
}
