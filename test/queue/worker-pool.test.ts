import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FAILURE_MESSAGES } from '../../src/engine/protocol.ts';
import type { BackendInfo } from '../../src/engine/types.ts';
import {
  EngineStartupError,
  planPoolSize,
  threadsPerWorker,
  type WorkerPool,
} from '../../src/queue/worker-pool.ts';
import {
  makePool,
  processRunning,
  runRecorded,
  tinyJob,
  tinyWeightsFolder,
  waitFor,
  type TestPool,
  UNTIL_TIME_LIMIT,
} from './worker-pool-helpers.ts';

/**
 * The pool with real worker processes on the tiny model (wasm). Faults are real: workers are killed with SIGKILL
 * and frozen with SIGSTOP. A long job is one with a huge iteration count and a short time limit, so it runs until
 * the limit and then completes with its best image.
 */

let weights: { dir: string; remove: () => Promise<void> };
const pools: WorkerPool[] = [];

function open(overrides: Parameters<typeof makePool>[1] = {}): TestPool {
  const made = makePool(weights.dir, overrides);
  pools.push(made.pool);
  return made;
}

function busyPid(pool: WorkerPool): number {
  const busy = pool.status().workers.filter((w) => w.busy);
  expect(busy).toHaveLength(1);
  return busy[0]!.pid;
}

const isJpeg = (bytes: Uint8Array) => bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;

beforeAll(async () => {
  weights = await tinyWeightsFolder();
});

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

afterAll(async () => {
  await weights?.remove();
});

describe('WorkerPool, one healthy worker', () => {
  let pool: WorkerPool;

  beforeAll(async () => {
    // Secrets the worker must not inherit (see the last test).
    process.env.DISCORD_TOKEN = 'secret-token-for-the-test';
    process.env.SOME_API_KEY = 'another-secret';
    try {
      ({ pool } = makePool(weights.dir, { stopTimeoutMs: 30_000 }));
      await pool.start();
    } finally {
      delete process.env.DISCORD_TOKEN;
      delete process.env.SOME_API_KEY;
    }
  });

  afterAll(async () => {
    await pool?.close();
  });

  it('runs a job end to end: events in order, JPEG previews, a PNG result of the right size', async () => {
    const status = pool.status();
    expect(status).toMatchObject({ alive: 1, busy: 0, starting: 0 });
    expect(status.workers[0]!.backend).toMatchObject({ name: 'wasm', gpu: false, threads: 1 });

    const { events, outcome } = runRecorded(pool, tinyJob('e2e', { iterations: 6, previewEveryMs: 0 }));
    const result = await outcome;
    expect(result.state).toBe('completed');
    if (result.state !== 'completed') return;

    expect(events[0]).toEqual({ type: 'started', size: 64, iterations: 6 });
    const progress = events.slice(1);
    expect(progress.map((e) => e.type)).toEqual(Array(6).fill('progress'));
    expect(progress.map((e) => (e.type === 'progress' ? e.iteration : 0))).toEqual([1, 2, 3, 4, 5, 6]);
    for (const event of progress) {
      if (event.type !== 'progress') continue;
      expect(event.total).toBe(6);
      expect(event.preview?.mime).toBe('image/jpeg');
      expect(isJpeg(event.preview!.bytes)).toBe(true);
      const meta = await sharp(event.preview!.bytes).metadata();
      expect(meta).toMatchObject({ format: 'jpeg', width: 64, height: 48 });
    }

    const { image } = result.result;
    expect(image).toMatchObject({ mime: 'image/png', extension: 'png', width: 64, height: 48 });
    expect(image.note).toBeUndefined();
    const decoded = await sharp(image.bytes).raw().toBuffer({ resolveWithObject: true });
    expect(decoded.info).toMatchObject({ format: 'raw', width: 64, height: 48, channels: 3 });
    expect(result.result).toMatchObject({ iterations: 6, backend: 'wasm', stopReason: 'completed' });
    expect(result.result.settings.seed).toBe(7);
    expect(result.result.retriedAtSize).toBeUndefined();
  });

  it('attaches previews at most every previewEveryMs, and none without it', async () => {
    const throttled = runRecorded(pool, tinyJob('some', { iterations: 20, previewEveryMs: 60_000 }));
    expect((await throttled.outcome).state).toBe('completed');
    const withPreview = throttled.events.filter((e) => e.type === 'progress' && e.preview);
    expect(withPreview).toHaveLength(1);

    const none = runRecorded(pool, tinyJob('none', { iterations: 5 }));
    expect((await none.outcome).state).toBe('completed');
    expect(none.events.some((e) => e.type === 'progress' && e.preview)).toBe(false);
  });

  it('stops a job within an iteration of a cancel, and the worker takes the next job', async () => {
    const abort = new AbortController();
    const run = runRecorded(pool, tinyJob('cancel-me', { iterations: UNTIL_TIME_LIMIT, timeLimitMs: 60_000 }), abort.signal);
    await run.firstProgress;
    const pid = busyPid(pool);
    const abortedAt = performance.now();
    abort.abort();
    expect(await run.outcome).toEqual({ state: 'cancelled' });
    // Far below the 30 s stop timeout: the worker stopped by itself.
    expect(performance.now() - abortedAt).toBeLessThan(5000);
    const next = runRecorded(pool, tinyJob('next'));
    expect((await next.outcome).state).toBe('completed');
    expect(pool.status().workers.map((w) => w.pid)).toEqual([pid]);
  });

  it('fails an invalid or unsendable request with a message, and the worker stays', async () => {
    const pid = pool.status().workers[0]!.pid;
    const job = { ...tinyJob('bad'), styles: [] };
    const outcome = await pool.run(job, () => undefined, new AbortController().signal);
    expect(outcome).toEqual({ state: 'failed', failure: { code: 'invalid-request', message: 'Add at least one style image.' } });
    // A job that cannot cross the process boundary at all fails without reaching a worker.
    const unsendable = { ...tinyJob('unsendable'), settings: { seed: (() => 1) as unknown as number } };
    expect(await pool.run(unsendable, () => undefined, new AbortController().signal)).toMatchObject({
      state: 'failed',
      failure: { code: 'internal' },
    });
    expect((await runRecorded(pool, tinyJob('fine')).outcome).state).toBe('completed');
    expect(pool.status().workers.map((w) => w.pid)).toEqual([pid]);
  });

  it('keeps the bot token and other secrets out of the workers environment', () => {
    const environ = readFileSync(`/proc/${pool.status().workers[0]!.pid}/environ`, 'utf8');
    expect(environ).not.toContain('secret-token-for-the-test');
    expect(environ).not.toContain('another-secret');
    expect(environ).toContain('PATH=');
  });
});

describe('WorkerPool, each test with its own pool', () => {
  it('runs two jobs at once on two workers', async () => {
    const { pool } = open({ workers: 2 });
    await pool.start();
    await waitFor(() => pool.status().alive === 2, 30_000, 'the second worker');
    const a = runRecorded(pool, tinyJob('a', { iterations: UNTIL_TIME_LIMIT, timeLimitMs: 2000 }));
    const b = runRecorded(pool, tinyJob('b', { iterations: UNTIL_TIME_LIMIT, timeLimitMs: 2000 }));
    await Promise.all([a.firstProgress, b.firstProgress]);
    const status = pool.status();
    expect(status.busy).toBe(2);
    expect(new Set(status.workers.map((w) => w.pid)).size).toBe(2);
    const [ra, rb] = await Promise.all([a.outcome, b.outcome]);
    for (const r of [ra, rb]) {
      expect(r.state).toBe('completed');
      if (r.state === 'completed') expect(r.result.stopReason).toBe('time-limit');
    }
  });

  it('retries a job once on a fresh worker when its worker is killed mid-job, and ends it once', async () => {
    const { pool } = open();
    await pool.start();
    const run = runRecorded(pool, tinyJob('survivor', { iterations: UNTIL_TIME_LIMIT, timeLimitMs: 1500 }));
    await run.firstProgress;
    const first = busyPid(pool);
    process.kill(first, 'SIGKILL');

    const outcome = await run.outcome;
    expect(outcome.state).toBe('completed');
    const types = run.events.map((e) => e.type).filter((t) => t !== 'progress');
    expect(types).toEqual(['started', 'restarted', 'started']);
    expect(pool.status().workers.map((w) => w.pid)).not.toContain(first);
    expect(processRunning(first)).toBe(false);
    // Nothing after the end: a late event would mean a second ending.
    const count = run.events.length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(run.events).toHaveLength(count);
  });

  it("fails a job with 'worker-crashed' when its worker dies a second time", async () => {
    const { pool } = open();
    await pool.start();
    const events: string[] = [];
    let progressed!: () => void;
    let progress = new Promise<void>((resolve) => (progressed = resolve));
    const outcome = pool.run(
      tinyJob('doomed', { iterations: UNTIL_TIME_LIMIT, timeLimitMs: 60_000 }),
      (event) => {
        if (event.type !== 'progress') events.push(event.type);
        else progressed();
      },
      new AbortController().signal,
    );
    await progress;
    process.kill(busyPid(pool), 'SIGKILL');
    await waitFor(() => events.length === 3, 30_000, 'the retry to start');
    progress = new Promise<void>((resolve) => (progressed = resolve));
    await progress;
    process.kill(busyPid(pool), 'SIGKILL');
    expect(await outcome).toEqual({
      state: 'failed',
      failure: { code: 'worker-crashed', message: FAILURE_MESSAGES['worker-crashed'] },
    });
    expect(events).toEqual(['started', 'restarted', 'started']);
    // The pool itself recovers.
    await waitFor(() => pool.status().alive === 1, 30_000, 'a replacement worker');
    expect((await runRecorded(pool, tinyJob('after')).outcome).state).toBe('completed');
  });

  it('kills a worker that ignores a cancel after stopTimeoutMs, and its slot runs the next job', async () => {
    const stopTimeoutMs = 600;
    const { pool, logs } = open({ stopTimeoutMs });
    await pool.start();
    const abort = new AbortController();
    const run = runRecorded(pool, tinyJob('stuck', { iterations: UNTIL_TIME_LIMIT, timeLimitMs: 60_000 }), abort.signal);
    await run.firstProgress;
    const frozen = busyPid(pool);
    process.kill(frozen, 'SIGSTOP');
    const abortedAt = performance.now();
    abort.abort();
    expect(await run.outcome).toEqual({ state: 'cancelled' });
    const waited = performance.now() - abortedAt;
    expect(waited).toBeGreaterThanOrEqual(stopTimeoutMs - 50);
    expect(waited).toBeLessThan(stopTimeoutMs + 3000);
    await waitFor(() => !processRunning(frozen), 5000, 'the frozen worker to be gone');
    expect(logs().some((l) => /did not stop after a cancel/.test(String(l.msg)))).toBe(true);

    const next = runRecorded(pool, tinyJob('next'));
    expect((await next.outcome).state).toBe('completed');
    expect(next.events.some((e) => e.type === 'restarted')).toBe(false);
    expect(pool.status().workers.map((w) => w.pid)).not.toContain(frozen);
  });

  it('writes the workers’ log lines through its own logger, with the worker’s pid', async () => {
    const { pool, logs } = makePool(weights.dir, {}, 'info');
    pools.push(pool);
    await pool.start();
    const [worker] = pool.status().workers;
    await waitFor(() => logs().some((l) => l.msg === 'engine worker ready' && l.worker === worker!.pid), 5000, 'the relayed line');
    const relayed = logs().find((l) => l.msg === 'engine worker ready' && l.worker === worker!.pid)!;
    expect(relayed).toMatchObject({ level: 30, backend: 'wasm', weights: 'tiny test model' });
    // The worker's own compute-backend line comes through the same way, at its level.
    expect(logs().some((l) => l.msg === 'compute backend: wasm' && l.worker === worker!.pid)).toBe(true);
  });

  it('rejects start() with one clear line when the weights are bad, and leaves no worker', async () => {
    const file = path.join(path.dirname(weights.dir), 'not-weights.json');
    await writeFile(file, '{"this is": "not a model"}');
    // The worker's own error line is expected here; keep it out of the test output.
    const { pool } = makePool(file, {}, 'fatal');
    pools.push(pool);
    const error = await pool.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(EngineStartupError);
    const { message, code } = error as EngineStartupError;
    expect(code).toBe('bad-weights');
    expect(message).not.toContain('\n');
    expect(message).toMatch(/tiny test model/);
    expect(pool.status()).toMatchObject({ alive: 0, starting: 0, restarting: 0 });
  });

  it('reports no live worker while all are dead, runs waiting jobs once one is back', async () => {
    const { pool } = open({ restartBackoff: { initialMs: 1000, maxMs: 2000 } });
    await pool.start();
    const [worker] = pool.status().workers;
    process.kill(worker!.pid, 'SIGKILL');
    await waitFor(() => pool.status().alive === 0, 5000, 'the death to be noticed');
    expect(pool.status()).toMatchObject({ alive: 0, busy: 0, restarting: 1 });
    // A job submitted now waits for the replacement.
    const waiting = runRecorded(pool, tinyJob('waiting'));
    await waitFor(() => pool.status().alive === 1, 30_000, 'the replacement');
    expect((await waiting.outcome).state).toBe('completed');
    expect(waiting.events.some((e) => e.type === 'restarted')).toBe(false);
  });

  it('close() with running jobs cancels them and leaves no worker process, even a frozen one', async () => {
    const { pool } = open({ workers: 2, stopTimeoutMs: 800 });
    await pool.start();
    await waitFor(() => pool.status().alive === 2, 30_000, 'the second worker');
    const a = runRecorded(pool, tinyJob('a', { iterations: UNTIL_TIME_LIMIT, timeLimitMs: 60_000 }));
    const b = runRecorded(pool, tinyJob('b', { iterations: UNTIL_TIME_LIMIT, timeLimitMs: 60_000 }));
    const c = runRecorded(pool, tinyJob('c'));
    await Promise.all([a.firstProgress, b.firstProgress]);
    const pids = pool.status().workers.map((w) => w.pid);
    expect(pids).toHaveLength(2);
    process.kill(pids[1]!, 'SIGSTOP');

    await pool.close();
    for (const pid of pids) expect(processRunning(pid)).toBe(false);
    expect(await a.outcome).toEqual({ state: 'cancelled' });
    expect(await b.outcome).toEqual({ state: 'cancelled' });
    expect(await c.outcome).toEqual({ state: 'cancelled' });
    expect(pool.status()).toMatchObject({ alive: 0, starting: 0, restarting: 0 });
    const late = await pool.run(tinyJob('late'), () => undefined, new AbortController().signal);
    expect(late).toMatchObject({ state: 'failed', failure: { code: 'engine-unavailable' } });
  });

  it('retries once smaller when a job would not fit in memory, then fails with out-of-memory', async () => {
    // A network with a wide first block: the wasm memory check refuses 1024 px and the 716 px retry at once.
    const wide = await tinyWeightsFolder({ widths: [512, 6, 8, 8, 8] });
    try {
      const { pool } = makePool(wide.dir);
      pools.push(pool);
      await pool.start();
      const run = runRecorded(pool, tinyJob('huge', { width: 1024, height: 768 }));
      expect(await run.outcome).toEqual({
        state: 'failed',
        failure: { code: 'out-of-memory', message: FAILURE_MESSAGES['out-of-memory'] },
      });
      expect(run.events).toEqual([
        { type: 'started', size: 1024, iterations: 5 },
        { type: 'retrying', size: 716, reason: 'out-of-memory' },
      ]);
    } finally {
      await wide.remove();
    }
  });

});

describe('engine workers and their parent', () => {
  it('exit within seconds after their parent is killed with SIGKILL, even mid-job', async () => {
    const parent = spawn(process.execPath, ['--import', 'tsx', 'test/queue/pool-parent.ts', weights.dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    parent.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    try {
      await waitFor(() => output.includes('\n') || parent.exitCode !== null, 60_000, 'the parent to report its workers');
      const { pids } = JSON.parse(output) as { pids: number[] };
      expect(pids).toHaveLength(2);
      for (const pid of pids) expect(processRunning(pid)).toBe(true);
      parent.kill('SIGKILL');
      await waitFor(() => pids.every((pid) => !processRunning(pid)), 5000, 'the orphaned workers to exit');
    } finally {
      parent.kill('SIGKILL');
    }
  });
});

describe('pool size', () => {
  const backend = (name: BackendInfo['name'], gpu = false, threads = 1): BackendInfo => ({
    name,
    gpu,
    threads,
    device: 'test',
    reason: 'test',
  });
  const GB = 1e9;

  it.each([
    ['a GPU backend', backend('onnx-cuda', true), 16, 64 * GB, 1],
    ['ONNX Runtime on the CPU (multi-threaded)', backend('onnx', false, 16), 16, 64 * GB, 1],
    ['native TensorFlow on the CPU', backend('tensorflow'), 16, 64 * GB, 1],
    ['wasm: one per core', backend('wasm'), 2, 24 * GB, 2],
    ['wasm: bounded by memory (0.75 × 8 GB / 2.5 GB)', backend('wasm'), 16, 8 * GB, 2],
    ['wasm: at least one, however little memory', backend('wasm'), 4, 1 * GB, 1],
    ['cpu: one per core', backend('cpu'), 4, 64 * GB, 4],
  ])('auto on %s', (_what, info, cores, totalMemoryBytes, expected) => {
    const plan = planPoolSize({ workers: undefined, backend: info, cores, totalMemoryBytes });
    expect(plan.workers).toBe(expected);
    expect(plan.reason).not.toBe('');
    expect(plan.warning).toBeUndefined();
  });

  it('ENGINE_WORKERS wins, with a warning above the memory bound', () => {
    const within = planPoolSize({ workers: 3, backend: backend('wasm'), cores: 2, totalMemoryBytes: 24 * GB });
    expect(within).toEqual({ workers: 3, reason: 'set by ENGINE_WORKERS' });
    const over = planPoolSize({ workers: 8, backend: backend('wasm'), cores: 8, totalMemoryBytes: 8 * GB });
    expect(over.workers).toBe(8);
    expect(over.warning).toMatch(/ENGINE_WORKERS=8 is above what memory allows/);
  });

  it('shares the cores out among the workers unless ENGINE_THREADS says', () => {
    expect(threadsPerWorker(undefined, undefined, 8)).toBe(8);
    expect(threadsPerWorker(undefined, 3, 8)).toBe(2);
    expect(threadsPerWorker(undefined, 16, 8)).toBe(1);
    expect(threadsPerWorker(4, 3, 8)).toBe(4);
  });
});
