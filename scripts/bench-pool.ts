/**
 * How to split the cores among engine workers: `npx tsx scripts/bench-pool.ts --backend onnx --size 256
 * --iterations 20 --jobs 4 --splits 1x2,2x1 [--json]`. For each split (workers × threads per worker) a fresh
 * WorkerPool with the real weights (../shared/vgg19-uint8) runs one job alone (latency), then `--jobs` jobs at once
 * (throughput: wall time from the first submission to the last result). Splits run alternately, `--rounds` times,
 * so that background load falls on each alike; medians are printed, with each split's throughput time as a ratio
 * to the first split's.
 */
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import type { BackendChoice } from '../src/config/index.ts';
import type { EngineJob } from '../src/engine/protocol.ts';
import type { RgbImage } from '../src/images/rgb-image.ts';
import { createLogger } from '../src/log/logger.ts';
import { WorkerPool } from '../src/queue/worker-pool.ts';
import { SHARED_IMAGES, SHARED_VGG19 } from '../test/helpers/shared-data.ts';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'onnx' },
    size: { type: 'string', default: '256' },
    iterations: { type: 'string', default: '20' },
    jobs: { type: 'string', default: '4' },
    splits: { type: 'string', default: '1x2,2x1' },
    rounds: { type: 'string', default: '2' },
    json: { type: 'boolean', default: false },
  },
});
const size = Number(values.size);
const iterations = Number(values.iterations);
const jobCount = Number(values.jobs);
const rounds = Number(values.rounds);
const splits = values.splits.split(',').map((s) => {
  const [workers, threads] = s.split('x').map(Number);
  return { label: s, workers: workers!, threads: threads! };
});
const say = (line: string) => {
  if (!values.json) process.stderr.write(`${line}\n`);
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

async function load(file: string, long: number): Promise<RgbImage> {
  const { data, info } = await sharp(`${SHARED_IMAGES}/${file}`)
    .resize({ width: long, height: long, fit: 'inside' })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

const content = await load('tubingen.jpg', size);
const style = await load('starry_night.jpg', size);
const job = (id: string): EngineJob => ({
  id,
  content,
  styles: [{ image: style, weight: 1 }],
  settings: { iterations, seed: 1 },
  timeLimitMs: 3_600_000,
  resultMaxBytes: 10 * 1024 * 1024,
});

async function runSplit(split: (typeof splits)[number]): Promise<{ latencyMs: number; throughputMs: number }> {
  const pool = new WorkerPool({
    init: {
      weights: { file: SHARED_VGG19, label: 'vgg19-uint8', cacheDir: undefined, shapes: 'vgg19' },
      backend: values.backend as BackendChoice,
      log: { level: 'warn', format: 'json' },
    },
    workers: split.workers,
    threads: split.threads,
    logger: createLogger({ level: 'warn', format: 'json' }),
  });
  await pool.start();
  while (pool.status().alive < split.workers) await new Promise((r) => setTimeout(r, 100));
  const signal = new AbortController().signal;
  try {
    // Warm-up: each worker builds its sessions for this size once, as a bot's workers would have.
    await Promise.all(Array.from({ length: split.workers }, (_, i) => pool.run(job(`warm${i}`), () => undefined, signal)));
    let started = performance.now();
    await pool.run(job('alone'), () => undefined, signal);
    const latencyMs = performance.now() - started;
    started = performance.now();
    const outcomes = await Promise.all(
      Array.from({ length: jobCount }, (_, i) => pool.run(job(`j${i}`), () => undefined, signal)),
    );
    const throughputMs = performance.now() - started;
    if (outcomes.some((o) => o.state !== 'completed')) throw new Error(`a job did not complete: ${JSON.stringify(outcomes)}`);
    return { latencyMs, throughputMs };
  } finally {
    await pool.close();
  }
}

const results = new Map(splits.map((s) => [s.label, { latency: [] as number[], throughput: [] as number[] }]));
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? splits : [...splits].reverse();
  for (const split of order) {
    const r = await runSplit(split);
    results.get(split.label)!.latency.push(r.latencyMs);
    results.get(split.label)!.throughput.push(r.throughputMs);
    say(`round ${round + 1} ${split.label}: one job ${Math.round(r.latencyMs)} ms, ${jobCount} jobs ${Math.round(r.throughputMs)} ms`);
  }
}
const first = median(results.get(splits[0]!.label)!.throughput);
const summary = splits.map((s) => {
  const r = results.get(s.label)!;
  return {
    split: s.label,
    oneJobMs: Math.round(median(r.latency)),
    jobsMs: Math.round(median(r.throughput)),
    jobsRatio: Math.round((median(r.throughput) / first) * 1000) / 1000,
  };
});
process.stdout.write(`${JSON.stringify({ backend: values.backend, size, iterations, jobs: jobCount, rounds, splits: summary })}\n`);
