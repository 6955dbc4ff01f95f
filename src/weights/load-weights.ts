import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../config/index.ts';
import { displayUrl, isHttpUrl } from './display-url.ts';
import { localPath, locateWeights, SILENT_LOGGER, type LocateOptions } from './locate.ts';
import { discardRemoteCopy } from './remote-cache.ts';
import { createProgress, type ProgressMode } from './download-progress.ts';
import { readHead } from './file-head.ts';
import { DEFAULT_DOWNLOAD_TIMEOUT_MS } from './http-download.ts';
import { convertedCachePath, identify, readConverted, writeConverted } from './converted-cache.ts';
import { readKerasH5 } from './keras-h5.ts';
import { fetchRemoteSource } from './remote-source.ts';
import { describeWrongFormat, SNIFF_BYTES, sniffFormat } from './sniff-format.ts';
import { readTfjsLayersModel } from './tfjs-layers-model.ts';
import type { ShapeCheck, VggWeights, WeightsLogger } from './types.ts';
import { WeightsError } from './weights-error.ts';

export interface LoadWeightsOptions {
  /** What messages call the weights, instead of the path (e.g. the URL a worker's file was downloaded from). */
  label?: string;
  /** `vgg19` (default): the real ImageNet shapes. `consistent`: any 3x3 network that chains, for tiny test models. */
  shapes?: ShapeCheck;
  /** For URLs: longest wait for a response or between two pieces of a body. */
  timeoutMs?: number;
  logger?: WeightsLogger;
  /** Download progress for URLs; `log` by default, since loadWeights is also used from non-interactive code. */
  progress?: ProgressMode;
  signal?: AbortSignal;
  /** Keep a converted copy of a local .h5 file here (e.g. WEIGHTS_DIR), so the next load skips the HDF5 parser. */
  convertedCacheDir?: string;
}

/**
 * The one way to load VGG19 weights, in two forms:
 * - `loadWeights(config.weights)` (a `{ source, cacheDir }`): the start-up path. Locates the weights (the default
 *   file downloaded into the cache and verified, a configured URL through its cached copy, or a configured path),
 *   loads them strictly, keeps a converted copy of an HDF5 file in the cache, and logs one line. A cached copy of a
 *   configured URL that fails to load is forgotten, so that the next start fetches it again.
 * - `loadWeights(pathOrUrl)`: one file, folder or URL as it is (a URL is fetched into a temporary folder).
 * Problems are a WeightsError whose message names the file or URL; never a silent fallback to the default.
 */
export async function loadWeights(
  source: string | Config['weights'],
  options: LoadWeightsOptions & LocateOptions = {},
): Promise<VggWeights> {
  if (typeof source === 'string') return loadSource(source, options);
  const logger = options.logger ?? SILENT_LOGGER;
  const started = performance.now();
  const location = await locateWeights(source, options);
  let weights: VggWeights;
  try {
    weights = await loadWeightsFile(location.file, {
      shapes: options.shapes,
      label: options.label ?? location.label,
      convertedCacheDir: source.cacheDir,
      logger,
    });
  } catch (error) {
    if (location.origin === 'configured-url' && error instanceof WeightsError) {
      await discardRemoteCopy(source.cacheDir, source.source!.trim());
    }
    throw error;
  }
  const ms = Math.round(performance.now() - started);
  logger.info(
    { weights: weights.source, layers: weights.layers.size, ms },
    `VGG19 weights ready: ${weights.layers.size} layers from ${weights.source} in ${ms} ms`,
  );
  return { ...weights, location };
}

async function loadSource(source: string, options: LoadWeightsOptions): Promise<VggWeights> {
  if (!isHttpUrl(source)) {
    return loadWeightsFile(localPath(source), {
      shapes: options.shapes,
      label: options.label,
      convertedCacheDir: options.convertedCacheDir,
      logger: options.logger,
    });
  }
  const temp = await mkdtemp(path.join(os.tmpdir(), 'stylebot-weights-'));
  try {
    const logger = options.logger ?? SILENT_LOGGER;
    const fetched = await fetchRemoteSource(source, temp, {
      timeoutMs: options.timeoutMs ?? DEFAULT_DOWNLOAD_TIMEOUT_MS,
      signal: options.signal,
      progress: (label) => createProgress({ mode: options.progress ?? 'log', label, logger }),
    });
    return await loadWeightsFile(fetched.entry, { shapes: options.shapes, label: options.label ?? displayUrl(source) });
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

export interface LoadFileOptions {
  shapes?: ShapeCheck;
  /** What messages call the file (the configured URL for a downloaded copy); the path itself by default. */
  label?: string;
  /** Keep a converted copy of an HDF5 file here and use it while the file is unchanged (fast later starts). */
  convertedCacheDir?: string;
  logger?: WeightsLogger;
}

/** Loads a local weights file or folder. */
export async function loadWeightsFile(file: string, options: LoadFileOptions = {}): Promise<VggWeights> {
  const shapes = options.shapes ?? 'vgg19';
  let target = file;
  let label = options.label ?? file;
  let info = await stat(target).catch(() => undefined);
  if (info?.isDirectory()) {
    target = path.join(file, 'model.json');
    label = options.label ?? target;
    info = await stat(target).catch(() => undefined);
    if (!info) throw new WeightsError(`${file} is a folder without a TF.js model.json`);
  }
  if (!info) throw new WeightsError(`VGG19 weights file ${label} was not found`);
  if (!info.isFile()) throw new WeightsError(`${label} is not a regular file`);
  if (info.size === 0) throw new WeightsError(`${label} is empty`);

  let head: Uint8Array;
  try {
    head = await readHead(target, SNIFF_BYTES);
  } catch (error) {
    throw new WeightsError(`${label} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`, {
      cause: error,
    });
  }
  const format = sniffFormat(head);
  if (format === 'json') return { layers: await readTfjsLayersModel(target, label, shapes), source: label };
  if (format !== 'hdf5') throw new WeightsError(`${label} is ${describeWrongFormat(format)}`);
  if (!options.convertedCacheDir) return { layers: await readKerasH5(target, label, shapes), source: label };

  const identity = await identify(target);
  const cachePath = convertedCachePath(options.convertedCacheDir, target);
  const converted = await readConverted(cachePath, identity, shapes, label);
  if (converted) return { layers: converted, source: label };
  const layers = await readKerasH5(target, label, shapes);
  await writeConverted(cachePath, identity, layers, options.logger ?? SILENT_LOGGER);
  return { layers, source: label };
}
