import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type Progress, type StylizeFn } from '../../src/engine/index.ts';
import type { RgbImage } from '../../src/images/rgb-image.ts';
import { JobQueue, type Job, type JobRequest, type SubmitResult } from '../../src/queue/index.ts';
import { makeTinyVggWeights } from '../helpers/tiny-vgg.ts';

/** A smooth colour gradient with the given long side (3:2), so the engine has structure to work with. */
function gradient(longSide: number, seed: number): RgbImage {
  const width = longSide;
  const height = Math.round((longSide * 2) / 3);
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = (x * 255) / width;
      data[i + 1] = (y * 255) / height;
      data[i + 2] = (seed * 97 + x * y) % 256;
    }
  }
  return { width, height, data };
}

function request(userId: string, iterations: number): JobRequest {
  return {
    userId,
    size: 48,
    iterations,
    settings: { scales: 1 },
    prepare: (size) => Promise.resolve({ content: gradient(size, 1), styles: [{ image: gradient(size, 2), weight: 1 }] }),
  };
}

function accept(result: SubmitResult): Job {
  if (!result.accepted) throw new Error(`refused: ${result.message}`);
  return result.job;
}

function queueFor(stylize: StylizeFn, timeoutMs = 60_000): JobQueue {
  return new JobQueue({
    stylize,
    concurrency: 1,
    maxQueue: 5,
    maxJobsPerUser: 1,
    timeoutMs,
    shutdownGraceMs: 0,
    maxIterations: 100_000,
    maxSize: 48,
  });
}

describe('JobQueue with the real engine (tiny VGG19 on wasm)', () => {
  let engine: Engine;

  beforeAll(async () => {
    engine = await createEngine(makeTinyVggWeights(), { backend: 'wasm' });
    // One warm-up run, so that anything the engine builds once and keeps for every run is not counted as a leak.
    const warmUp = await request('warm-up', 2).prepare(48);
    await engine.stylize({ ...warmUp, settings: { scales: 1, iterations: 2 } });
  });

  afterAll(() => engine?.dispose());

  it('runs a job to the end and posts an image of the requested size', async () => {
    const before = tf.memory().numTensors;
    const job = accept(queueFor(engine.stylize).submit(request('alice', 4)));
    const outcome = await job.done;
    expect(outcome.state).toBe('completed');
    if (outcome.state !== 'completed') return;
    expect(outcome.result.image).toMatchObject({ width: 48, height: 32 });
    expect(outcome.result.iterations).toBe(4);
    expect(outcome.result.backend).toBe('wasm');
    expect(outcome.result.timedOut).toBe(false);
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each(['lbfgs', 'adam'] as const)(
    'stops a running %s job within one iteration of a cancel and frees every tensor',
    async (optimizer) => {
      const before = tf.memory().numTensors;
      // Watch the engine's own progress calls, including any it makes after the abort.
      let afterAbort = 0;
      const stylize: StylizeFn = (req, hooks) =>
        engine.stylize(req, {
          ...hooks,
          onProgress: (p: Progress) => {
            if (hooks?.signal?.aborted) afterAbort++;
            hooks?.onProgress?.(p);
          },
        });
      const queue = queueFor(stylize);
      const job = accept(queue.submit({ ...request('bob', 5_000), settings: { scales: 1, optimizer } }));
      let previewed: RgbImage | undefined;
      job.on('progress', (p) => {
        if (p.iteration === 2) previewed = p.preview();
        if (p.iteration === 4) queue.cancel(job.id, { userId: 'bob', privileged: false });
      });
      await expect(job.done).resolves.toEqual({ state: 'cancelled', by: 'owner' });
      expect(afterAbort).toBeLessThanOrEqual(1);
      expect(previewed).toMatchObject({ width: 48, height: 32 });
      expect(tf.memory().numTensors).toBe(before);
    },
  );

  it('ends a job at the time limit with the best image so far', async () => {
    const before = tf.memory().numTensors;
    const job = accept(queueFor(engine.stylize, 400).submit(request('alice', 100_000)));
    const outcome = await job.done;
    expect(outcome.state).toBe('completed');
    if (outcome.state !== 'completed') return;
    expect(outcome.result).toMatchObject({ timedOut: true, stopReason: 'time-limit' });
    expect(outcome.result.image).toMatchObject({ width: 48, height: 32 });
    expect(outcome.result.iterations).toBeLessThan(100_000);
    expect(tf.memory().numTensors).toBe(before);
  });
});
