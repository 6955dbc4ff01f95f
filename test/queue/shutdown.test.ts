import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { DEFAULT_ABORT_WAIT_MS, type Job, type SubmitResult } from '../../src/queue/index.ts';
import { createFakeEngine, testRequest } from './fake-engine.ts';
import { makeQueue, recorder, trackTimers } from './helpers.ts';

function accept(result: SubmitResult): Job {
  if (!result.accepted) throw new Error(`refused: ${result.message}`);
  return result.job;
}

function started(job: Job): Promise<void> {
  return new Promise((resolve) => job.on('started', () => resolve()));
}

function progressed(job: Job): Promise<void> {
  return new Promise((resolve) => job.on('progress', () => resolve()));
}

describe('JobQueue shutdown', () => {
  it('refuses new jobs, cancels waiting ones at once and lets the running one finish within the grace', async () => {
    const timers = trackTimers();
    onTestFinished(() => timers.stop());
    const engine = createFakeEngine({ msPerIter: 10 });
    const { queue, logs } = makeQueue(engine, { shutdownGraceMs: 2_000 });
    const recs = [0, 1, 2].map(() => recorder());
    const [running, second, third] = recs.map((rec, i) =>
      accept(queue.submit(testRequest(`user${i}`, { iterations: 8 }), rec.listener)),
    ) as [Job, Job, Job];
    await started(running);

    const stopping = queue.shutdown();
    expect(queue.shutdown()).toBe(stopping);
    // Waiting jobs end immediately, from the back, so nobody hears of a position change on the way out.
    expect([second.state, third.state]).toEqual(['cancelled', 'cancelled']);
    expect(recs[1]!.events).toEqual(['queued:1', 'cancelled:shutdown']);
    expect(recs[2]!.events).toEqual(['queued:2', 'cancelled:shutdown']);
    expect(queue.submit(testRequest('late'))).toEqual({
      accepted: false,
      reason: 'shutting-down',
      message: 'The bot is restarting and is not taking new jobs. Please try again in a minute.',
    });
    expect(queue.snapshot().accepting).toBe(false);

    await stopping;
    expect(running.state).toBe('completed');
    expect(engine.calls).toHaveLength(1);
    expect(engine.calls[0]!.outcome).toBe('completed');
    expect(timers.pending()).toBe(0);
    expect(logs().map((l) => l.msg)).toEqual(expect.arrayContaining(['job queue shutting down', 'job queue stopped']));
  });

  it('cancels a running job that outlasts the grace period, then resolves', async () => {
    const timers = trackTimers();
    onTestFinished(() => timers.stop());
    const engine = createFakeEngine({ msPerIter: 10 });
    const { queue } = makeQueue(engine, { shutdownGraceMs: 80 });
    const rec = recorder();
    const job = accept(queue.submit(testRequest('alice', { iterations: 10_000 }), rec.listener));
    await started(job);
    const t0 = performance.now();
    await queue.shutdown();
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(75);
    expect(took).toBeLessThan(1_000);
    expect(rec.events).toEqual(['queued:1', 'started', 'cancelled:shutdown']);
    expect(engine.calls[0]!.outcome).toBe('aborted');
    expect(engine.held).toBe(0);
    expect(timers.pending()).toBe(0);
  });

  it('with no grace, cancels running jobs right away', async () => {
    const engine = createFakeEngine({ msPerIter: 10 });
    const { queue } = makeQueue(engine, { shutdownGraceMs: 0, concurrency: 2 });
    const jobs = ['a', 'b', 'c'].map((u) => accept(queue.submit(testRequest(u, { iterations: 10_000 }))));
    await Promise.all(jobs.slice(0, 2).map(progressed));
    await queue.shutdown();
    expect(await Promise.all(jobs.map((j) => j.done))).toEqual([
      { state: 'cancelled', by: 'shutdown' },
      { state: 'cancelled', by: 'shutdown' },
      { state: 'cancelled', by: 'shutdown' },
    ]);
    expect(engine.calls.map((c) => c.outcome)).toEqual(['aborted', 'aborted']);
    expect(engine.held).toBe(0);
  });

  it('resolves at once when idle, and does not hang on an engine that ignores the abort', async () => {
    const idle = makeQueue(createFakeEngine());
    await idle.queue.shutdown();

    const engine = createFakeEngine({ msPerIter: 10, ignoreAbort: true });
    const { queue, logs } = makeQueue(engine, { shutdownGraceMs: 20, abortWaitMs: 50 });
    const job = accept(queue.submit(testRequest('alice', { iterations: 30 })));
    await started(job);
    const t0 = performance.now();
    await queue.shutdown();
    expect(performance.now() - t0).toBeLessThan(500);
    await expect(job.done).resolves.toEqual({ state: 'cancelled', by: 'shutdown' });
    // The engine that keeps its slot does not keep shutdown waiting; the last log line says it is still there.
    expect(engine.live).toBe(1);
    expect(logs().find((l) => l.msg === 'job queue stopped')).toMatchObject({ enginesStillRunning: 1 });
    while (engine.live > 0) await new Promise((r) => setTimeout(r, 10));
  });

  it('bounds the wait for an aborted engine by DEFAULT_ABORT_WAIT_MS when abortWaitMs is not set', async () => {
    expect(DEFAULT_ABORT_WAIT_MS).toBe(30_000);
    const engine = createFakeEngine({ msPerIter: 10 });
    const { queue } = makeQueue(engine, { shutdownGraceMs: 0 });
    const job = accept(queue.submit(testRequest('alice', { iterations: 10_000 })));
    await progressed(job);
    const armed = vi.spyOn(globalThis, 'setTimeout');
    onTestFinished(() => armed.mockRestore());
    await queue.shutdown();
    // The abort armed exactly one bounded wait, of the exported length.
    expect(armed.mock.calls.filter(([, ms]) => ms === DEFAULT_ABORT_WAIT_MS)).toHaveLength(1);
    expect(job.outcome).toEqual({ state: 'cancelled', by: 'shutdown' });
  });
});
