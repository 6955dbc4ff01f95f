/**
 * Where a tfjs evaluation's time goes, kernel by kernel: `npx tsx scripts/profile-kernels.ts [SIZE=256] [BACKEND=wasm]`.
 * Runs the benchmark's evaluation (the default objective, random VGG19-shaped weights) once to warm up, then
 * once under tf.profile, and prints each kernel's share of the summed kernel time, largest first. For finding
 * hot spots to restructure in src/engine/tfjs; the wall time per evaluation comes from `npm run bench`.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendChoice } from '../src/config/index.ts';
import { createBenchmark } from '../src/engine/index.ts';

const size = Number(process.argv[2] ?? 256);
const bench = await createBenchmark({ size, backend: (process.argv[3] ?? 'wasm') as BackendChoice });
await bench.step();
// tf.profile wants a tensor container back; the loss values are plain numbers, so return nothing.
const profile = await tf.profile(async () => {
  await bench.step();
  return [];
});
await bench.dispose();

const byKernel = new Map<string, { ms: number; calls: number }>();
for (const kernel of profile.kernels) {
  const ms = typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : 0;
  const entry = byKernel.get(kernel.name) ?? { ms: 0, calls: 0 };
  byKernel.set(kernel.name, { ms: entry.ms + ms, calls: entry.calls + 1 });
}
const total = [...byKernel.values()].reduce((sum, k) => sum + k.ms, 0);
process.stdout.write(`${bench.backend.name} · ${size} px · ${profile.kernels.length} kernels · ${total.toFixed(0)} ms\n`);
for (const [name, { ms, calls }] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms)) {
  const share = ((100 * ms) / total).toFixed(1).padStart(5);
  process.stdout.write(`${share}%  ${ms.toFixed(1).padStart(8)} ms  ${String(calls).padStart(5)}×  ${name}\n`);
}
