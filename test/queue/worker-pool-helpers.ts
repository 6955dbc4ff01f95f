import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { EngineJob } from '../../src/engine/protocol.ts';
import { createLogger } from '../../src/log/logger.ts';
import { memoryDestination } from '../helpers/memory-log.ts';
import { WorkerPool, type PoolJobEvent, type RunOutcome, type WorkerPoolOptions } from '../../src/queue/worker-pool.ts';
import { photo, stripes } from '../engine/fixtures.ts';
import { makeTinyVggWeights, type TinyVggOptions } from '../helpers/tiny-vgg.ts';
import { writeTfjsModel } from '../helpers/weights-fixtures.ts';

/** A tiny VGG19-shaped TF.js model in a fresh temporary folder; `remove` deletes it. */
export async function tinyWeightsFolder(
  options: TinyVggOptions = {},
): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'stylebot-pool-'));
  await writeTfjsModel(path.join(dir, 'model'), makeTinyVggWeights(options));
  return { dir: path.join(dir, 'model'), remove: () => rm(dir, { recursive: true, force: true }) };
}

export interface JobOptions {
  iterations?: number;
  timeLimitMs?: number;
  previewEveryMs?: number;
  width?: number;
  height?: number;
}

/** The most iterations a job may ask for: with a short time limit, a job that runs until the limit. */
export const UNTIL_TIME_LIMIT = 100_000;

/** A small job on the tiny model: a photo-like content, a striped style, one scale. */
export function tinyJob(id: string, options: JobOptions = {}): EngineJob {
  const width = options.width ?? 64;
  const height = options.height ?? 48;
  return {
    id,
    content: photo(width, height, 3),
    styles: [{ image: stripes(width, height), weight: 1 }],
    settings: { scales: 1, iterations: options.iterations ?? 5, seed: 7 },
    timeLimitMs: options.timeLimitMs ?? 60_000,
    previewEveryMs: options.previewEveryMs,
    resultMaxBytes: 10 * 1024 * 1024,
  };
}

export interface TestPool {
  pool: WorkerPool;
  /** The pool's own log lines, parsed. */
  logs: () => Array<Record<string, unknown>>;
}

export function makePool(
  weightsDir: string,
  overrides: Partial<WorkerPoolOptions> = {},
  workerLogLevel = 'error',
): TestPool {
  const { stream, lines } = memoryDestination();
  const pool = new WorkerPool({
    init: {
      weights: { file: weightsDir, label: 'tiny test model', cacheDir: undefined, shapes: 'consistent' },
      backend: 'wasm',
      log: { level: workerLogLevel, format: 'json' },
    },
    workers: 1,
    threads: 1,
    logger: createLogger({ level: 'debug', format: 'json', destination: stream }),
    restartBackoff: { initialMs: 100, maxMs: 1000 },
    ...overrides,
  });
  return { pool, logs: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

/** Runs a job and keeps every event it sent. */
export function runRecorded(
  pool: WorkerPool,
  job: EngineJob,
  signal: AbortSignal = new AbortController().signal,
): { events: PoolJobEvent[]; outcome: Promise<RunOutcome>; firstProgress: Promise<void> } {
  const events: PoolJobEvent[] = [];
  let onFirst!: () => void;
  let endedFirst!: (error: Error) => void;
  const firstProgress = new Promise<void>((resolve, reject) => {
    onFirst = resolve;
    endedFirst = reject;
  });
  const outcome = pool.run(
    job,
    (event) => {
      events.push(event);
      if (event.type === 'progress') onFirst();
    },
    signal,
  );
  // A job that ends before any progress fails the test at once instead of leaving it waiting.
  void outcome.then((o) => endedFirst(new Error(`job ${job.id} ended before any progress: ${JSON.stringify(o)}`)));
  firstProgress.catch(() => undefined);
  return { events, outcome, firstProgress };
}

/**
 * Whether a process with this pid is still running. A zombie (exited, not yet reaped: an orphan waits for PID 1,
 * which in a container may never reap it) counts as gone.
 */
export function processRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
  try {
    // "pid (comm) S ...": the state follows the last parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
