/**
 * What running a job in an engine worker process costs over running it in-process:
 *
 *   npx tsx scripts/bench-worker-overhead.ts [--size 192] [--iterations 8] [--rounds 5] [--starts 3]
 *                                            [--rss-size 512 --rss-iterations 2] [--json]
 *
 * The same job (tubingen in the style of starry_night, real VGG19 weights from ../shared/vgg19-uint8, else the
 * tiny test model; wasm; previews every 5 s and the final PNG encoded, as the bot asks) runs alternately in this
 * process and through a one-worker pool, `--rounds` times each, so that load from other processes falls on both
 * alike; medians are reported, with the ratio of the wall times, of the CPU time of all processes involved, and the
 * ratio at equal engine time: the engine is the same code on both sides, so what a worker adds is the time outside
 * it (sending the job, the messages, the result), which other load on the machine barely moves. Fixed costs: a fresh pool's start (fork, module loading, weights,
 * backend, engine) against the weights and engine start in-process. With --rss-size, one job of that size runs in
 * a fresh worker and the worker's peak resident memory (VmHWM) is reported: the per-worker memory budget.
 * The last line printed is the JSON summary.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import type { BackendChoice } from '../src/config/index.ts';
import { createEngine, type Engine } from '../src/engine/index.ts';
import type { EngineJob } from '../src/engine/protocol.ts';
import { encodeFinal, encodePreview, type RgbImage } from '../src/images/index.ts';
import { createLogger } from '../src/log/logger.ts';
import { WorkerPool } from '../src/queue/worker-pool.ts';
import { loadWeights } from '../src/weights/index.ts';
import { SHARED_IMAGES, SHARED_VGG19, hasSharedVgg19 } from '../test/helpers/shared-data.ts';
import { makeTinyVggWeights } from '../test/helpers/tiny-vgg.ts';
import { writeTfjsModel } from '../test/helpers/weights-fixtures.ts';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '192' },
    iterations: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '5' },
    starts: { type: 'string', default: '3' },
    'rss-size': { type: 'string' },
    'rss-iterations': { type: 'string', default: '2' },
    backend: { type: 'string', default: 'wasm' },
    threads: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
  },
});
const backend = values.backend as BackendChoice;
const threads = Number(values.threads);
const size = Number(values.size);
const iterations = Number(values.iterations);
const rounds = Number(values.rounds);
const starts = Number(values.starts);
const PREVIEW_EVERY_MS = 5000;
const RESULT_MAX_BYTES = 10 * 1024 * 1024;

const say = (line: string) => {
  if (!values.json) process.stderr.write(`${line}\n`);
};
const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const round1 = (x: number) => Math.round(x * 10) / 10;

async function image(name: string, long: number): Promise<RgbImage> {
  const file = path.join(SHARED_IMAGES, name);
  const input = existsSync(file) ? sharp(file) : sharp({ create: { width: 640, height: 480, channels: 3, background: '#48a' } });
  const { data, info } = await input
    .resize(long, long, { fit: 'inside' })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

async function makeJob(id: string, long: number, iters: number): Promise<EngineJob> {
  return {
    id,
    content: await image('tubingen.jpg', long),
    styles: [{ image: await image('starry_night.jpg', long), weight: 1 }],
    settings: { iterations: iters, seed: 1 },
    timeLimitMs: 3_600_000,
    previewEveryMs: PREVIEW_EVERY_MS,
    resultMaxBytes: RESULT_MAX_BYTES,
  };
}

interface Timing {
  ms: number;
  /** CPU time of every process involved (this one, and the worker's for a worker run). */
  cpuMs: number;
  /** The engine's own time (result.seconds): the same code on both sides. */
  engineMs: number;
}

function ownCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** utime + stime of another process, from /proc (clock ticks, 100 per second on Linux). */
function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** The job in this process, as the bot ran it before workers: engine, previews on the same schedule, final PNG. */
async function runInProcess(engine: Engine, job: EngineJob): Promise<Timing> {
  const cpu = ownCpuMs();
  const started = performance.now();
  let lastPreview: number | undefined;
  const previews: Promise<unknown>[] = [];
  const result = await engine.stylize(
    { content: job.content, styles: job.styles, settings: job.settings },
    {
      timeLimitMs: job.timeLimitMs,
      onProgress: (p) => {
        const now = performance.now();
        if (lastPreview !== undefined && now - lastPreview < PREVIEW_EVERY_MS) return;
        lastPreview = now;
        previews.push(encodePreview(p.preview()));
      },
    },
  );
  await Promise.all(previews);
  await encodeFinal(result.image, job.resultMaxBytes);
  return { ms: performance.now() - started, cpuMs: ownCpuMs() - cpu, engineMs: result.seconds * 1000 };
}

async function runInWorker(pool: WorkerPool, job: EngineJob): Promise<Timing> {
  const pid = pool.status().workers[0]!.pid;
  const cpu = ownCpuMs() + processCpuMs(pid);
  const started = performance.now();
  const outcome = await pool.run(job, () => undefined, new AbortController().signal);
  const ms = performance.now() - started;
  if (outcome.state !== 'completed') throw new Error(`worker job ended ${JSON.stringify(outcome)}`);
  return { ms, cpuMs: ownCpuMs() + processCpuMs(pid) - cpu, engineMs: outcome.result.seconds * 1000 };
}

function peakRssMB(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Math.round(Number(match[1]) / 1024) : NaN;
}

const temp = await mkdtemp(path.join(os.tmpdir(), 'stylebot-bench-'));
try {
  const real = hasSharedVgg19;
  const weightsPath = real ? SHARED_VGG19 : await writeTfjsModel(path.join(temp, 'tiny'), makeTinyVggWeights());
  const shapes = real ? 'vgg19' : 'consistent';
  const logger = createLogger({ level: 'warn', format: 'json' });
  const newPool = () =>
    new WorkerPool({
      init: {
        weights: { file: weightsPath, label: weightsPath, cacheDir: undefined, shapes },
        backend,
        log: { level: 'warn', format: 'json' },
      },
      workers: 1,
      threads,
      logger,
    });
  say(`weights: ${real ? 'real VGG19 (uint8)' : 'tiny test model'}; ${size} px, ${iterations} iterations, ${rounds} rounds`);

  // Fixed costs: in-process start, then fresh pools.
  let t = performance.now();
  const weights = await loadWeights(weightsPath, { shapes });
  const weightsMs = performance.now() - t;
  t = performance.now();
  const engine = await createEngine(weights, { backend, threads });
  const engineMs = performance.now() - t;
  say(`in-process start: weights ${Math.round(weightsMs)} ms, backend + engine ${Math.round(engineMs)} ms`);
  const poolStarts: number[] = [];
  for (let i = 0; i < starts; i++) {
    const pool = newPool();
    t = performance.now();
    await pool.start();
    poolStarts.push(performance.now() - t);
    await pool.close();
    say(`worker start ${i + 1}/${starts}: ${Math.round(poolStarts.at(-1)!)} ms (fork to ready)`);
  }

  const job = await makeJob('bench', size, iterations);
  const pool = newPool();
  await pool.start();
  // One untimed run on each side: first-run costs (kernel set-up, sharp's first encode) are not what is compared.
  await runInProcess(engine, job);
  await runInWorker(pool, job);
  const inProcess: Timing[] = [];
  const inWorker: Timing[] = [];
  for (let i = 0; i < rounds; i++) {
    // Alternate which goes first, so that a drift in background load does not favour one side.
    const order = i % 2 === 0 ? (['process', 'worker'] as const) : (['worker', 'process'] as const);
    for (const side of order) {
      if (side === 'process') inProcess.push(await runInProcess(engine, job));
      else inWorker.push(await runInWorker(pool, job));
    }
    const [p, w] = [inProcess.at(-1)!, inWorker.at(-1)!];
    say(
      `round ${i + 1}/${rounds}: in-process ${Math.round(p.ms)} ms (cpu ${Math.round(p.cpuMs)}), ` +
        `worker ${Math.round(w.ms)} ms (cpu ${Math.round(w.cpuMs)})`,
    );
  }
  await pool.close();
  await engine.dispose();

  const processMs = median(inProcess.map((r) => r.ms));
  const workerMs = median(inWorker.map((r) => r.ms));
  const pairRatios = inProcess.map((r, i) => inWorker[i]!.ms / r.ms);
  // What the worker adds is outside the engine (cloning and sending the job, the messages, the result): the
  // engine's time is the same code on both sides but swings with the machine's load, so the overhead is also
  // given at the median engine time of all runs.
  const outsideProcess = median(inProcess.map((r) => r.ms - r.engineMs));
  const outsideWorker = median(inWorker.map((r) => r.ms - r.engineMs));
  const engineAll = median([...inProcess, ...inWorker].map((r) => r.engineMs));
  let rss: { size: number; iterations: number; workerPeakRssMB: number } | undefined;
  if (values['rss-size']) {
    const rssSize = Number(values['rss-size']);
    const rssIterations = Number(values['rss-iterations']);
    const rssPool = newPool();
    await rssPool.start();
    const pid = rssPool.status().workers[0]!.pid;
    await runInWorker(rssPool, await makeJob('rss', rssSize, rssIterations));
    rss = { size: rssSize, iterations: rssIterations, workerPeakRssMB: peakRssMB(pid) };
    await rssPool.close();
    say(`worker peak RSS after a ${rssSize} px job of ${rssIterations} iterations: ${rss.workerPeakRssMB} MB`);
  }

  const summary = {
    weights: real ? 'vgg19-uint8' : 'tiny',
    backend,
    size,
    iterations,
    rounds,
    inProcessMedianMs: Math.round(processMs),
    workerMedianMs: Math.round(workerMs),
    ratio: Math.round((workerMs / processMs) * 1000) / 1000,
    pairRatioMedian: Math.round(median(pairRatios) * 1000) / 1000,
    cpuRatio: Math.round((median(inWorker.map((r) => r.cpuMs)) / median(inProcess.map((r) => r.cpuMs))) * 1000) / 1000,
    engineMedianMs: { inProcess: Math.round(median(inProcess.map((r) => r.engineMs))), worker: Math.round(median(inWorker.map((r) => r.engineMs))) },
    outsideEngineMedianMs: { inProcess: round1(outsideProcess), worker: round1(outsideWorker) },
    ratioAtEqualEngineTime: Math.round(((engineAll + outsideWorker) / (engineAll + outsideProcess)) * 1000) / 1000,
    fixedCosts: {
      workerStartMedianMs: Math.round(median(poolStarts)),
      inProcessWeightsMs: Math.round(weightsMs),
      inProcessEngineMs: Math.round(engineMs),
    },
    ...(rss && { rss }),
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} finally {
  await rm(temp, { recursive: true, force: true });
}
