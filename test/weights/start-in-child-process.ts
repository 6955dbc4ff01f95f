/**
 * One bot start in a process of its own, for tests of several processes sharing a weights folder:
 *
 *   node --import tsx test/weights/start-in-child-process.ts <cacheDir> <download spec as JSON>
 *
 * Loads the default weights as the bot does (on the tiny test model, so `consistent` shapes), with the download
 * spec pointing at the test's loopback server. Writes one JSON line per log message ({"log": "..."}) and, once
 * the weights are ready, {"done": {...}} on stdout; a WeightsError is {"error": "..."} and exit code 2.
 */
import { loadWeights } from '../../src/weights/index.ts';
import type { WeightsLogger } from '../../src/weights/types.ts';
import type { DownloadSpec } from '../../src/weights/verified-download.ts';
import { WeightsError } from '../../src/weights/weights-error.ts';
import { valuesMd5 } from './values-md5.ts';

export interface ChildStartResult {
  file: string;
  downloaded: boolean;
  layers: number;
  /** MD5 of every kernel and bias in network order, to compare with what the test served. */
  valuesMd5: string;
}

const emit = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);
const logger: WeightsLogger = {
  info: (_object, message) => emit({ log: message }),
  warn: (_object, message) => emit({ log: message }),
  debug() {},
};

const [cacheDir, specJson] = process.argv.slice(2);
try {
  const weights = await loadWeights(
    { source: undefined, cacheDir: cacheDir! },
    { download: JSON.parse(specJson!) as DownloadSpec, shapes: 'consistent', progress: 'none', logger },
  );
  const done: ChildStartResult = {
    file: weights.location!.file,
    downloaded: weights.location!.downloaded,
    layers: weights.layers.size,
    valuesMd5: valuesMd5(weights.layers.values()),
  };
  emit({ done });
} catch (error) {
  if (!(error instanceof WeightsError)) throw error;
  emit({ error: error.userMessage });
  process.exitCode = 2;
}

