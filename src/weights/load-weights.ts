import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { displayUrl, isHttpUrl } from './display-url.ts';
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

export const SILENT_LOGGER: WeightsLogger = { info() {}, warn() {}, debug() {} };

/**
 * Loads VGG19 convolution weights from a local path or an http(s) URL: a Keras .h5 file (legacy or full-model
 * layout) or a TF.js layers model (model.json, or a folder holding one, plus its shards). The format is read from
 * the bytes, not the name. A URL is fetched into a temporary folder that is removed afterwards; use
 * resolveWeights for the cached start-up path.
 */
export async function loadWeights(source: string, options: LoadWeightsOptions = {}): Promise<VggWeights> {
  if (!isHttpUrl(source)) {
    return loadWeightsFile(localPath(source), {
      shapes: options.shapes,
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
    return await loadWeightsFile(fetched.entry, { shapes: options.shapes, label: displayUrl(source) });
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

/** A configured path may be relative (to the working folder) or a file: URL. */
export function localPath(source: string): string {
  return path.resolve(source.startsWith('file:') ? fileURLToPath(source) : source);
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
