import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/index.ts';
import { displayUrl, isHttpUrl } from './display-url.ts';
import { createProgress, type ProgressMode, type ProgressOptions } from './download-progress.ts';
import { DEFAULT_DOWNLOAD_TIMEOUT_MS } from './http-download.ts';
import { cachedRemoteSource } from './remote-cache.ts';
import type { ShapeCheck, WeightsLogger } from './types.ts';
import { DEFAULT_VGG19_WEIGHTS, ensureVerifiedDownload, type DownloadSpec } from './verified-download.ts';

export interface LocateOptions {
  logger?: WeightsLogger;
  /** `auto` (default): a bar when stderr is a terminal, log lines otherwise. */
  progress?: ProgressMode;
  /** Where the bar is drawn; stderr by default. */
  progressStream?: ProgressOptions['stream'];
  /** `vgg19` by default; `consistent` lets tests start the bot on a tiny model. */
  shapes?: ShapeCheck;
  /** Longest wait for a response, or between two pieces of a body. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** The file fetched when no weights are configured: the canonical Keras notop file unless a test serves its own. */
  download?: DownloadSpec;
}

export interface WeightsLocation {
  /** The local file (or model.json) to load. */
  file: string;
  /** What messages call it: the configured path or URL, or the cached file. */
  label: string;
  origin: 'configured-file' | 'configured-url' | 'default';
  /** True if this call downloaded it. */
  downloaded: boolean;
  /** For the default file: the MD5 it was verified against. */
  verifiedMd5?: string;
}

/**
 * Finds the weights without loading them: a configured path as it is; a configured URL through its cached copy
 * (downloaded on first use); otherwise the default file in the cache folder, verified by size and MD5 and
 * downloaded if absent or wrong.
 */
export async function locateWeights(
  config: Config['weights'],
  options: LocateOptions = {},
): Promise<WeightsLocation> {
  const logger = options.logger ?? SILENT_LOGGER;
  const timeoutMs = options.timeoutMs ?? DEFAULT_DOWNLOAD_TIMEOUT_MS;
  const progress = (label: string) =>
    createProgress({ mode: options.progress ?? 'auto', label, logger, stream: options.progressStream });
  const source = config.source?.trim();

  if (source && isHttpUrl(source)) {
    const { entry, downloaded } = await cachedRemoteSource(source, config.cacheDir, {
      timeoutMs,
      signal: options.signal,
      progress,
      logger,
    });
    return { file: entry, label: displayUrl(source), origin: 'configured-url', downloaded };
  }
  if (source) {
    const file = localPath(source);
    return { file, label: file, origin: 'configured-file', downloaded: false };
  }
  const spec = options.download ?? DEFAULT_VGG19_WEIGHTS;
  const { file, downloaded } = await ensureVerifiedDownload(spec, config.cacheDir, {
    timeoutMs,
    logger,
    progress,
    signal: options.signal,
  });
  return { file, label: file, origin: 'default', downloaded, verifiedMd5: spec.md5 };
}

export const SILENT_LOGGER: WeightsLogger = { info() {}, warn() {}, debug() {} };

/** A configured path may be relative (to the working folder) or a file: URL. */
export function localPath(source: string): string {
  return path.resolve(source.startsWith('file:') ? fileURLToPath(source) : source);
}
