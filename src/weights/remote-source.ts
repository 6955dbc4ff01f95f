import { mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { displayUrl } from './display-url.ts';
import type { ProgressSink } from './download-progress.ts';
import { readHead } from './file-head.ts';
import { downloadToFile } from './http-download.ts';
import { describeWrongFormat, SNIFF_BYTES, sniffFormat } from './sniff-format.ts';
import { bytesPerValue, isSafeShardPath, valueCount } from './tfjs-manifest.ts';
import { MAX_MODEL_JSON_BYTES, readModelJsonFile } from './tfjs-layers-model.ts';
import { WeightsError } from './weights-error.ts';

export interface RemoteFetchOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** A progress display for a download of the given name. */
  progress: (label: string) => ProgressSink;
}

export interface FetchedFile {
  /** Relative to the folder the source was fetched into. */
  path: string;
  bytes: number;
}

export interface FetchedSource {
  /** The local file to load: the .h5 file or model.json. */
  entry: string;
  files: FetchedFile[];
}

/**
 * Downloads a weights source from an http(s) URL into `dir`: a Keras .h5 file as it is, or a TF.js model.json
 * followed by the shards its manifest names (resolved against the URL). Every file is written as `.part` and
 * renamed when complete; what the first bytes turn out to be decides the format, so an HTML error page served
 * with status 200 is named as such.
 */
export async function fetchRemoteSource(url: string, dir: string, options: RemoteFetchOptions): Promise<FetchedSource> {
  const shown = displayUrl(url);
  const name = localName(url);
  await mkdir(dir, { recursive: true });
  const part = path.join(dir, `${name}.part`);
  const first = await downloadToFile(url, part, {
    timeoutMs: options.timeoutMs,
    signal: options.signal,
    progress: options.progress(name),
  });
  const format = sniffFormat(await readHead(part, SNIFF_BYTES));
  if (format === 'hdf5') {
    const entry = path.join(dir, name);
    await rename(part, entry);
    return { entry, files: [{ path: name, bytes: first.bytes }] };
  }
  if (format !== 'json') throw new WeightsError(`${shown} is ${describeWrongFormat(format)}`);
  if (first.bytes > MAX_MODEL_JSON_BYTES) throw new WeightsError(`${shown} is too large for a TF.js model.json`);

  const entry = path.join(dir, 'model.json');
  await rename(part, entry);
  const model = await readModelJsonFile(entry, shown);
  const files: FetchedFile[] = [{ path: 'model.json', bytes: first.bytes }];
  const shards = model.weightsManifest.flatMap((group) => group.paths);
  const unsafe = shards.find((shard) => !isSafeShardPath(shard) || shard === 'model.json');
  if (unsafe !== undefined)
    throw new WeightsError(`${shown} names a shard outside its folder ("${unsafe.slice(0, 80)}")`);

  const total = model.weightsManifest
    .flatMap((group) => group.weights)
    .reduce((sum, weight) => sum + valueCount(weight.shape) * bytesPerValue(weight), 0);
  const overall = options.progress(`${name.replace(/\.json$/, '')} shards`);
  overall.start(total);
  const shardProgress: ProgressSink = { start() {}, advance: (bytes) => overall.advance(bytes), finish() {} };
  let ok = false;
  try {
    for (const shard of shards) {
      const target = path.join(dir, shard);
      await mkdir(path.dirname(target), { recursive: true });
      const result = await downloadToFile(new URL(shard, url).href, `${target}.part`, {
        timeoutMs: options.timeoutMs,
        signal: options.signal,
        progress: shardProgress,
      });
      await rename(`${target}.part`, target);
      files.push({ path: shard, bytes: result.bytes });
    }
    ok = true;
  } finally {
    overall.finish(ok);
  }
  return { entry, files };
}

/** A safe local file name from the URL's last path segment. */
function localName(url: string): string {
  const raw = new URL(url).pathname.split('/').pop() ?? '';
  let last: string;
  try {
    last = decodeURIComponent(raw);
  } catch {
    last = raw;
  }
  const cleaned = last.replace(/[^\w.-]+/g, '_').replace(/^\.+/, '');
  return cleaned.length > 0 ? cleaned.slice(0, 100) : 'weights';
}
