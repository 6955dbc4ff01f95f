/**
 * Measures how long a start takes to have its VGG19 weights ready, with the real 80 MB Keras file layout:
 *
 *   npx tsx test/weights/measure-load-time.ts [runs]
 *
 * Builds a full-size legacy .h5 from ../shared/vgg19-uint8 (dequantized to float32) in a temp folder, then times
 * fresh Node processes started like the bot (node --import tsx), so module loading counts: a first start that
 * downloads the file from a loopback server; a start with the file cached (MD5 verified) before and after its
 * converted copy exists; parsing the .h5 with h5wasm without any cache; the shared TF.js uint8 model. Prints the
 * median of each. Nothing is written to the repository.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadH5wasm } from '../../src/weights/keras-h5.ts';
import { loadWeights } from '../../src/weights/load-weights.ts';
import { locateWeights } from '../../src/weights/locate.ts';
import { md5OfFile, type DownloadSpec } from '../../src/weights/verified-download.ts';
import { writeKerasH5 } from '../helpers/weights-fixtures.ts';
import { SHARED_VGG19 } from '../helpers/shared-data.ts';

const FILE_NAME = 'vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5';
const sharedModel = SHARED_VGG19;

interface Timing {
  /** From process start (Node bootstrap included) to weights ready. */
  fromProcessStartMs: number;
  phases: Record<string, number>;
}

async function child(mode: string, arg: string, specJson: string): Promise<void> {
  const phases: Record<string, number> = {};
  let mark = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    phases[name] = Math.round(now - mark);
    mark = now;
  };
  phases.bootAndImportsMs = Math.round(mark);
  if (mode === 'default' || mode === 'download') {
    const spec = JSON.parse(specJson) as DownloadSpec;
    const location = await locateWeights({ source: undefined, cacheDir: arg }, { download: spec, progress: 'none' });
    lap(mode === 'download' ? 'downloadAndMd5Ms' : 'md5VerifyMs');
    const weights = await loadWeights({ source: location.file, cacheDir: arg });
    lap('loadMs');
    if (weights.layers.size !== 16) throw new Error('expected 16 layers');
  } else if (mode === 'h5-no-cache') {
    await loadH5wasm();
    lap('h5wasmImportMs');
    await loadWeights(arg);
    lap('parseMs');
  } else {
    await loadWeights(arg);
    lap('loadMs');
  }
  const result: Timing = { fromProcessStartMs: Math.round(performance.now()), phases };
  process.stdout.write(JSON.stringify(result));
}

function runChild(mode: string, arg: string, spec: DownloadSpec | undefined): Promise<Timing> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', import.meta.filename, 'child', mode, arg, JSON.stringify(spec ?? {})],
      { cwd: path.resolve(import.meta.dirname, '../..') },
      (error, stdout, stderr) =>
        error ? reject(new Error(stderr || error.message)) : resolve(JSON.parse(stdout) as Timing),
    );
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function parent(runs: number): Promise<void> {
  const temp = await mkdtemp(path.join(os.tmpdir(), 'weights-measure-'));
  const server = http.createServer();
  try {
    const weights = await loadWeights(sharedModel);
    const cacheDir = path.join(temp, 'models');
    const file = path.join(cacheDir, FILE_NAME);
    await writeKerasH5(file, weights);
    const bytes = await readFile(file);
    const spec: DownloadSpec = { url: '', md5: await md5OfFile(file), bytes: bytes.length, fileName: FILE_NAME };
    await writeFile(path.join(temp, 'configured.h5'), bytes);
    server.on('request', (_req, res) => res.writeHead(200, { 'content-length': String(bytes.length) }).end(bytes));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/${FILE_NAME}`;
    process.stdout.write(
      `full-size legacy .h5: ${bytes.length.toLocaleString('en-US')} bytes; ${runs} runs each, median\n`,
    );

    const convertedDir = path.join(cacheDir, 'converted');
    const cases: [string, () => Promise<Timing>][] = [
      [
        'first start: loopback download',
        async () => runChild('download', await mkdtemp(path.join(temp, 'fresh-')), { ...spec, url }),
      ],
      [
        'cached .h5, no converted copy yet',
        async () => {
          await rm(convertedDir, { recursive: true, force: true });
          return runChild('default', cacheDir, spec);
        },
      ],
      ['cached .h5 + converted copy (usual)', () => runChild('default', cacheDir, spec)],
      ['.h5 parsed with h5wasm, no cache', () => runChild('h5-no-cache', path.join(temp, 'configured.h5'), undefined)],
      ['TF.js uint8 model (shared)', () => runChild('tfjs', sharedModel, undefined)],
    ];
    for (const [title, run] of cases) {
      const timings: Timing[] = [];
      for (let i = 0; i < runs; i++) timings.push(await run());
      const phases = Object.keys(timings[0]!.phases)
        .map((name) => `${name.replace(/Ms$/, '')} ${median(timings.map((t) => t.phases[name]!))} ms`)
        .join(', ');
      const total = median(timings.map((t) => t.fromProcessStartMs));
      process.stdout.write(
        `${title.padEnd(36)} ready ${String(total).padStart(5)} ms after process start (${phases})\n`,
      );
    }
  } finally {
    server.close();
    await rm(temp, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'child') await child(process.argv[3]!, process.argv[4]!, process.argv[5]!);
else await parent(Number(process.argv[2] ?? 3));
