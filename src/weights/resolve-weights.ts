import type { Config } from '../config/index.ts';
import { displayUrl, isHttpUrl } from './display-url.ts';
import { createProgress, type ProgressMode, type ProgressOptions } from './download-progress.ts';
import { DEFAULT_DOWNLOAD_TIMEOUT_MS } from './http-download.ts';
import { loadWeightsFile, localPath, SILENT_LOGGER } from './load-weights.ts';
import { cachedRemoteSource, discardRemoteCopy } from './remote-cache.ts';
import type { ShapeCheck, VggWeights, WeightsLogger } from './types.ts';
import { DEFAULT_VGG19_WEIGHTS, ensureVerifiedDownload, type DownloadSpec } from './verified-download.ts';
import { WeightsError } from './weights-error.ts';

export interface ResolveWeightsOptions {
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
  options: ResolveWeightsOptions = {},
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

export interface ResolvedWeights {
  weights: VggWeights;
  location: WeightsLocation;
}

/**
 * Locates the weights (downloading them on first use) and loads them strictly. Any problem is a WeightsError
 * whose message names the file or URL; a configured source that does not fit is an error, never a silent
 * fallback to the default. A cached copy of a configured URL that fails to load is forgotten, so the next start
 * (or `npm run weights`) fetches it again.
 */
export async function locateAndLoadWeights(
  config: Config['weights'],
  options: ResolveWeightsOptions = {},
): Promise<ResolvedWeights> {
  const location = await locateWeights(config, options);
  try {
    const weights = await loadWeightsFile(location.file, {
      shapes: options.shapes,
      label: location.label,
      convertedCacheDir: config.cacheDir,
      logger: options.logger ?? SILENT_LOGGER,
    });
    return { weights, location };
  } catch (error) {
    if (location.origin === 'configured-url' && error instanceof WeightsError) {
      await discardRemoteCopy(config.cacheDir, config.source!.trim());
    }
    throw error;
  }
}

/** The start-up entry point: locateAndLoadWeights, then one log line saying what is ready and how fast. */
export async function resolveWeights(
  config: Config['weights'],
  options: ResolveWeightsOptions = {},
): Promise<VggWeights> {
  const logger = options.logger ?? SILENT_LOGGER;
  const started = performance.now();
  const { weights } = await locateAndLoadWeights(config, options);
  const ms = Math.round(performance.now() - started);
  logger.info(
    { weights: weights.source, layers: weights.layers.size, ms },
    `VGG19 weights ready: ${weights.layers.size} layers from ${weights.source} in ${ms} ms`,
  );
  return weights;
}
