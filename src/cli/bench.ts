import os from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import { BACKENDS, type BackendChoice } from '../config/index.ts';
import { readConfigOrExit } from '../config/index.ts';
import { createBenchmark } from '../engine/index.ts';
import { loadWeights } from '../weights/index.ts';

/**
 * `npm run bench -- --size 256 --iters 5 [--backend NAME] [--threads N] [--weights DIR] [--json]`: times full loss evaluations
 * through the compute backend (VGG19 through block5_conv1, five Gram style layers, content, TV, forward pass and
 * image gradient, image upload and gradient download) after two warm-up evaluations. Prints a line per
 * evaluation on a terminal, a summary, and as its last line
 * {"backend","device","threads","size","msPerIter","tensorsLeaked","rssMB"} (rssMB: peak resident memory of the
 * process; tensorsLeaked: tfjs tensors still alive after disposing everything, null on other backends). With
 * --json only that line. Compare with ../shared/tools/gatys_torch.py SIZE ITERS 1 in the same session.
 */

const wholeNumber = (min: number, max: number) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
  }
  return n;
};

const program = new Command('npm run bench')
  .description('Time full style-transfer evaluations on a compute backend')
  .option('-s, --size <px>', 'square image side', wholeNumber(32, 4096), 256)
  .option('-i, --iters <n>', 'timed iterations', wholeNumber(1, 10_000), 5)
  .option('--warmup <n>', 'untimed iterations first', wholeNumber(0, 100), 2)
  .option('-w, --weights <path>', 'real VGG19 weights (default: random weights of the real shapes)')
  .option('-b, --backend <name>', `${BACKENDS.join(', ')} (default: ENGINE_BACKEND)`)
  .option('-t, --threads <n>', 'CPU threads, for ONNX Runtime (default: ENGINE_THREADS, else all cores)', wholeNumber(1, 256))
  .option('--json', 'print only the JSON line')
  .parse();
const options = program.opts<{
  size: number;
  iters: number;
  warmup: number;
  weights?: string;
  backend?: string;
  threads?: number;
  json?: boolean;
}>();

const config = readConfigOrExit();
const choice = options.backend ?? config.engine.backend;
if (!(BACKENDS as readonly string[]).includes(choice)) {
  process.stderr.write(`--backend must be one of ${BACKENDS.join(', ')}\n`);
  process.exit(1);
}

try {
  const weights = options.weights ? await loadWeights(options.weights) : undefined;
  const threads = options.threads ?? config.engine.threads ?? os.availableParallelism();
  const bench = await createBenchmark({ size: options.size, weights, backend: choice as BackendChoice, threads });
  const backend = bench.backend;
  const live = !options.json && process.stderr.isTTY;
  const times: number[] = [];
  let cpuMs = 0;
  try {
    for (let i = 0; i < options.warmup + options.iters; i++) {
      const timed = i >= options.warmup;
      const cpu = process.cpuUsage();
      const start = performance.now();
      await bench.step();
      const ms = performance.now() - start;
      if (timed) {
        const used = process.cpuUsage(cpu);
        cpuMs += (used.user + used.system) / 1000;
        times.push(ms);
      }
      if (live) {
        const label = timed ? `iteration ${times.length}/${options.iters}` : `warm-up ${i + 1}/${options.warmup}`;
        process.stderr.write(`${label}: ${ms.toFixed(0)} ms\n`);
      }
    }
  } finally {
    await bench.dispose();
  }
  const msPerIter = times.reduce((a, b) => a + b, 0) / times.length;
  const result = {
    backend: backend.name,
    device: backend.device,
    threads: backend.threads,
    size: options.size,
    msPerIter: Math.round(msPerIter * 10) / 10,
    tensorsLeaked: await tfjsTensorsAlive(backend.name),
    rssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  if (!options.json) {
    process.stdout.write(
      `${backend.name} (${backend.device}) · ${options.size} px · ${options.iters} iterations · ` +
        `${result.msPerIter} ms/iter (CPU time ${(cpuMs / options.iters).toFixed(0)} ms/iter) · ` +
        `${result.tensorsLeaked} tensors leaked · peak RSS ${result.rssMB} MB · ` +
        `weights: ${weights?.source ?? 'random'}\n`,
    );
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (error) {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(2);
}

/** tfjs tensors alive in the process: 0 once a tfjs benchmark is disposed, unless something leaked. */
async function tfjsTensorsAlive(name: string): Promise<number | null> {
  if (!['tensorflow', 'wasm', 'cpu'].includes(name)) return null;
  const tf = await import('@tensorflow/tfjs');
  return tf.memory().numTensors;
}
