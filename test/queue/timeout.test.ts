import { describe, expect, it, onTestFinished } from 'vitest';
import type { Job, SubmitResult } from '../../src/queue/index.ts';
import { createFakeEngine, testRequest } from './fake-engine.ts';
import { makeQueue, recorder, trackTimers } from './helpers.ts';

function accept(result: SubmitResult): Job {
  if (!result.accepted) throw new Error(`refused: ${result.message}`);
  return result.job;
}

describe('JobQueue time limit', () => {
  it('passes the time limit to the engine and completes with the best image so far, saying it timed out', async () => {
    const engine = createFakeEngine({ msPerIter: 10 });
    const { queue, logs } = makeQueue(engine, { timeoutMs: 150 });
    const job = accept(queue.submit(testRequest('alice', { iterations: 1000 })));
    const outcome = await job.done;
    expect(outcome.state).toBe('completed');
    if (outcome.state !== 'completed') return;
    expect(outcome.result.timedOut).toBe(true);
    expect(outcome.result.stopReason).toBe('time-limit');
    expect(outcome.result.iterations).toBeGreaterThan(0);
    expect(outcome.result.iterations).toBeLessThan(1000);
    expect(outcome.result.image.width).toBe(256);
    const limit = engine.calls[0]!.timeLimitMs!;
    expect(limit).toBeGreaterThan(100);
    expect(limit).toBeLessThanOrEqual(150);
    expect(logs().find((l) => l.msg === 'job completed')).toMatchObject({ jobId: job.id, timedOut: true });
  });

  it('counts preparation against the limit', async () => {
    const engine = createFakeEngine({ msPerIter: 5 });
    const { queue } = makeQueue(engine, { timeoutMs: 400 });
    const slowPrepare = testRequest('alice');
    const job = accept(
      queue.submit(
        testRequest('alice', {
          prepare: async (size) => {
            await new Promise((r) => setTimeout(r, 150));
            return slowPrepare.prepare(size);
          },
        }),
      ),
    );
    await job.done;
    expect(engine.calls[0]!.timeLimitMs).toBeLessThanOrEqual(250);
  });

  it('aborts an engine that overruns the limit and fails the job with a clear message', async () => {
    const engine = createFakeEngine({ msPerIter: 10, ignoreTimeLimit: true });
    const timers = trackTimers();
    onTestFinished(() => timers.stop());
    const { queue } = makeQueue(engine, { timeoutMs: 100, timeoutSlackMs: 50 });
    const rec = recorder();
    const t0 = performance.now();
    const job = accept(queue.submit(testRequest('alice', { iterations: 1000 }), rec.listener));
    const outcome = await job.done;
    const took = performance.now() - t0;
    expect(outcome).toMatchObject({ state: 'failed', error: { kind: 'timeout' } });
    if (outcome.state === 'failed') {
      expect(outcome.error.message).toMatch(/^Your job reached its time limit of .* before it had an image to show/);
    }
    expect(took).toBeGreaterThanOrEqual(145);
    expect(took).toBeLessThan(1000);
    expect(engine.calls[0]!.outcome).toBe('aborted');
    expect(rec.events).toEqual(['queued:1', 'started', 'failed:timeout']);
    expect(timers.pending()).toBe(0);
  });

  it('fails a job whose engine ignores both the limit and the abort, and frees the slot once it returns', async () => {
    const engine = createFakeEngine({ msPerIter: 10, ignoreTimeLimit: true, ignoreAbort: true });
    const { queue, logs } = makeQueue(engine, { timeoutMs: 60, timeoutSlackMs: 20, abortWaitMs: 40 });
    const job = accept(queue.submit(testRequest('alice', { iterations: 25 })));
    const next = accept(queue.submit(testRequest('bob', { iterations: 1 })));
    await expect(job.done).resolves.toMatchObject({ state: 'failed', error: { kind: 'timeout' } });
    expect(engine.calls[0]!.outcome).toBe('running');
    expect(logs().find((l) => l.jobId === job.id && /did not stop/.test(String(l.msg)))).toMatchObject({
      level: 40,
      stop: 'timeout',
    });
    await expect(next.done).resolves.toMatchObject({ state: 'completed' });
    // bob ran only after alice's engine had returned, never beside it.
    expect(engine.calls.map((c) => c.outcome)).toEqual(['completed', 'completed']);
    expect(engine.maxLive).toBe(1);
  });
});
