import { Command, InvalidArgumentError } from 'commander';
import type { Attempt } from '../engine/backends.ts';
import { createBenchmark, randomVggWeights } from '../engine/benchmark.ts';
import type { VggWeights } from '../weights/types.ts';

/**
 * `npm run gpu-check`: which GPU paths this machine has, why any is missing, and how fast each is. Checks WebGPU
 * (ONNX Runtime over Dawn: Vulkan, Metal or D3D12; hardware adapters only unless --allow-software), ONNX Runtime's
 * CUDA provider, and tfjs-node-gpu with CUDA; runs the benchmark (one default evaluation, random weights of the
 * real VGG19 shapes) at each size on each path that works. Exits 0 when at least one GPU path works, else 1 with
 * one line saying why none does. Nothing here is specific to this machine: run it as is on a GPU host.
 */

const sizeList = (value: string) => {
  const sizes = value.split(',').map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n < 32 || n > 4096)) {
    throw new InvalidArgumentError('must be sizes in pixels from 32 to 4096, e.g. 512,1024');
  }
  return sizes;
};

const options = new Command('npm run gpu-check')
  .description('Which GPU paths work here, and their speed')
  .option('--sizes <list>', 'image sides to benchmark', sizeList, [512, 1024])
  .option('--iters <n>', 'timed evaluations per size', (v) => Math.max(1, Number.parseInt(v, 10) || 1), 3)
  .option('--allow-software', 'also accept a software WebGPU adapter (lavapipe, SwiftShader): slow, for testing')
  .option('--json', 'print one JSON line')
  .parse()
  .opts<{ sizes: number[]; iters: number; allowSoftware?: boolean; json?: boolean }>();

interface PathResult {
  path: string;
  available: boolean;
  /** The device, or why the path is missing. */
  detail: string;
  msPerIter?: Record<number, number | string>;
}

const say = (line: string) => {
  if (!options.json) process.stdout.write(`${line}\n`);
};

/** ONNX Runtime on one provider, or why it cannot run here. */
async function onnxPath(provider: 'webgpu' | 'cuda', weights: VggWeights): Promise<Attempt> {
  const { createOnnxBackend } = await import('../engine/onnx/backend.ts');
  try {
    return { backend: await createOnnxBackend(weights, { provider, allowSoftwareAdapter: options.allowSoftware === true }) };
  } catch (error) {
    return { why: error instanceof Error ? error.message : String(error) };
  }
}

async function tensorflowPath(weights: VggWeights): Promise<Attempt> {
  const { createTfjsBackend } = await import('../engine/tfjs/backend.ts');
  const attempt = await createTfjsBackend('tensorflow', weights, {});
  if (!('backend' in attempt) || attempt.backend.info.gpu) return attempt;
  await attempt.backend.dispose();
  return { why: 'tfjs-node-gpu loaded, but TensorFlow found no CUDA GPU (CUDA 11.2 and cuDNN 8.1 are needed)' };
}

const PATHS: readonly [string, (weights: VggWeights) => Promise<Attempt>][] = [
  ['WebGPU (ONNX Runtime)', (w) => onnxPath('webgpu', w)],
  ['CUDA (ONNX Runtime)', (w) => onnxPath('cuda', w)],
  ['CUDA (tfjs-node-gpu)', tensorflowPath],
];

const weights = randomVggWeights('block5_conv1');
const results: PathResult[] = [];
for (const [name, start] of PATHS) {
  const attempt = await start(weights).catch((error: unknown) => ({ why: String(error) }));
  if (!('backend' in attempt)) {
    say(`✗ ${name}: ${attempt.why}`);
    results.push({ path: name, available: false, detail: attempt.why });
    continue;
  }
  const { device } = attempt.backend.info;
  say(`✓ ${name}: ${device}${attempt.backend.info.gpu ? '' : ' (software: not a GPU)'}`);
  const available = attempt.backend.info.gpu || options.allowSoftware === true;
  const result: PathResult = { path: name, available, detail: device, msPerIter: {} };
  for (const size of options.sizes) {
    // Each size gets its own objective on the backend started once for this path.
    try {
      result.msPerIter![size] = await timeOnce(attempt, size);
      say(`    ${size} px: ${result.msPerIter![size]} ms per iteration`);
    } catch (error) {
      result.msPerIter![size] = `failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`;
      say(`    ${size} px: ${String(result.msPerIter![size])}`);
    }
  }
  await attempt.backend.dispose();
  results.push(result);
}

async function timeOnce(attempt: Extract<Attempt, { backend: unknown }>, size: number): Promise<number> {
  const bench = await createBenchmark({ size, backend: attempt.backend });
  try {
    await bench.step();
    const started = performance.now();
    for (let i = 0; i < options.iters; i++) await bench.step();
    return Math.round((performance.now() - started) / options.iters);
  } finally {
    await bench.dispose();
  }
}

const working = results.filter((r) => r.available && Object.values(r.msPerIter ?? {}).some((v) => typeof v === 'number'));
if (options.json) process.stdout.write(`${JSON.stringify({ paths: results, ok: working.length > 0 })}\n`);
if (working.length === 0) {
  const why = results.map((r) => `${r.path}: ${r.available ? 'failed to run' : r.detail.replace(/\.$/, '')}`).join('; ');
  process.stderr.write(`No GPU path works on this machine (${why}). The bot runs on the CPU (ENGINE_BACKEND=auto picks ONNX Runtime).\n`);
  process.exit(1);
}
say(`GPU ready: ${working.map((r) => r.path).join(', ')}. ENGINE_BACKEND=auto picks the first of CUDA (ONNX Runtime), WebGPU, tfjs-node-gpu.`);
