import { getEventListeners } from 'node:events';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { Job, SubmitResult } from '../../src/queue/index.ts';
import { createFakeEngine, imageOfSize, testRequest } from './fake-engine.ts';
import { makeQueue, recorder, trackTimers } from './helpers.ts';

function accept(result: SubmitResult): Job {
  if (!result.accepted) throw new Error(`refused: ${result.message}`);
  return result.job;
}

function onceProgressAt(job: Job, iteration: number): Promise<void> {
  return new Promise((resolve) => {
    const off = job.on('progress', (p) => {
      if (p.iteration >= iteration) {
        off();
        resolve();
      }
    });
  });
}

describe('JobQueue cancellation', () => {
  it('stops a running job within one iteration, frees what the engine held, and starts the next', async () => {
    const engine = createFakeEngine({ msPerIter: 10 });
    const { queue } = makeQueue(engine);
    const rec = recorder();
    const running = accept(queue.submit(testRequest('alice', { iterations: 1000 }), rec.listener));
    const next = accept(queue.submit(testRequest('bob')));
    await onceProgressAt(running, 3);

    expect(queue.cancel(running.id, { userId: 'alice', privileged: false })).toBe('cancelled');
    // It stays running until the engine has really stopped; the snapshot says it is stopping.
    expect(running.state).toBe('running');
    expect(queue.snapshot().running[0]).toMatchObject({ id: running.id, stopping: true });

    await expect(running.done).resolves.toEqual({ state: 'cancelled', by: 'owner' });
    const call = engine.calls[0]!;
    expect(call.outcome).toBe('aborted');
    expect(call.lastIteration - call.iterationAtAbort!).toBeLessThanOrEqual(1);
    expect(rec.events).toEqual(['queued:1', 'started', 'cancelled:owner']);
    // The next job starts only after the engine gave back everything of the cancelled one.
    await expect(next.done).resolves.toMatchObject({ state: 'completed' });
    expect(engine.maxLive).toBe(1);
    expect(engine.held).toBe(0);
    expect(getEventListeners(call.signal!, 'abort')).toHaveLength(0);
  });

  it('lets an admin cancel anyone’s job and nobody else', async () => {
    const engine = createFakeEngine({ msPerIter: 5 });
    const { queue } = makeQueue(engine);
    const a = accept(queue.submit(testRequest('alice', { iterations: 1000 })));
    const b = accept(queue.submit(testRequest('bob')));
    expect(queue.cancel(b.id, { userId: 'mallory', privileged: false })).toBe('not-allowed');
    expect(b.state).toBe('queued');
    expect(queue.cancel(b.id, { userId: 'mod', privileged: true })).toBe('cancelled');
    expect(queue.cancel(a.id, { userId: 'mod', privileged: true })).toBe('cancelled');
    await expect(b.done).resolves.toEqual({ state: 'cancelled', by: 'admin' });
    await expect(a.done).resolves.toEqual({ state: 'cancelled', by: 'admin' });
  });

  it('answers not-found, already-finished and forgives how the id is typed', async () => {
    const engine = createFakeEngine({ msPerIter: 5 });
    const { queue } = makeQueue(engine);
    const job = accept(queue.submit(testRequest('alice', { iterations: 1000 })));
    expect(job.id).toMatch(/^[0-9A-HJKMNP-TV-Z]{6}$/);
    expect(queue.cancel('ZZZZZZ' === job.id ? 'YYYYYY' : 'ZZZZZZ', { userId: 'alice', privileged: true })).toBe(
      'not-found',
    );
    expect(queue.cancel('not an id at all, and rather long too', { userId: 'alice', privileged: true })).toBe(
      'not-found',
    );
    const typed = ` #${job.id.toLowerCase().replace(/0/g, 'o').replace(/1/g, 'l')} `;
    expect(queue.get(typed)).toBe(job);
    expect(queue.cancel(typed, { userId: 'alice', privileged: false })).toBe('cancelled');
    // Asking again while the engine stops is still a yes.
    expect(queue.cancel(job.id, { userId: 'alice', privileged: false })).toBe('cancelled');
    await job.done;
    expect(queue.cancel(job.id, { userId: 'alice', privileged: false })).toBe('already-finished');
    // Finished jobs are remembered as small summaries, not as Jobs that still hold their images.
    expect(queue.get(job.id)).toBeUndefined();
    expect(queue.finished(typed)).toMatchObject({ id: job.id, userId: 'alice', state: 'cancelled' });
  });

  it('stops waiting for a prepare() that hangs when the job is cancelled', async () => {
    const engine = createFakeEngine();
    const { queue } = makeQueue(engine);
    let sawSignal: AbortSignal | undefined;
    const job = accept(
      queue.submit(
        testRequest('alice', {
          prepare: (_size, signal) => {
            sawSignal = signal;
            return new Promise(() => undefined);
          },
        }),
      ),
    );
    await new Promise((r) => setImmediate(r));
    expect(queue.cancel(job.id, { userId: 'alice', privileged: false })).toBe('cancelled');
    await expect(job.done).resolves.toEqual({ state: 'cancelled', by: 'owner' });
    expect(sawSignal?.aborted).toBe(true);
    expect(engine.calls).toHaveLength(0);
    expect(getEventListeners(sawSignal!, 'abort')).toHaveLength(0);
  });

  it('ends a job whose engine ignores the abort after abortWaitMs; its slot stays taken until it returns', async () => {
    const engine = createFakeEngine({ msPerIter: 10, ignoreAbort: true });
    const timers = trackTimers();
    onTestFinished(() => timers.stop());
    const { queue, logs } = makeQueue(engine, { abortWaitMs: 60 });
    const stuck = accept(queue.submit(testRequest('alice', { iterations: 20 })));
    const next = accept(
      queue.submit(
        testRequest('bob', {
          iterations: 1,
          prepare: () => Promise.resolve({ content: imageOfSize(64), styles: [{ image: imageOfSize(64), weight: 1 }] }),
        }),
      ),
    );
    let liveWhenNextStarted: number | undefined;
    next.on('started', () => (liveWhenNextStarted = engine.live));
    await onceProgressAt(stuck, 1);
    const t0 = performance.now();
    queue.cancel(stuck.id, { userId: 'alice', privileged: false });
    // The user hears back after the bounded wait, not when the engine gets round to it.
    await expect(stuck.done).resolves.toEqual({ state: 'cancelled', by: 'owner' });
    const waited = performance.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(55);
    expect(waited).toBeLessThan(500);
    const warning = logs().find((l) => l.jobId === stuck.id && /did not stop/.test(String(l.msg)));
    expect(warning).toMatchObject({ level: 40, waitedMs: 60, stop: 'cancel' });
    expect(String(warning!.msg)).toMatch(/slot stays taken until the engine returns/);

    // The engine still runs, so the next job does not start beside it.
    expect(engine.live).toBe(1);
    await new Promise((r) => setTimeout(r, 30));
    expect(next.state).toBe('queued');
    expect(queue.snapshot().running).toEqual([]);
    expect(queue.slots).toEqual({ size: 1, pending: 1 });

    await expect(next.done).resolves.toMatchObject({ state: 'completed' });
    expect(engine.calls[0]!.outcome).toBe('completed');
    expect(liveWhenNextStarted).toBe(0);
    expect(engine.maxLive).toBe(1);
    const freed = logs().find((l) => l.jobId === stuck.id && /returned late/.test(String(l.msg)));
    expect(freed).toMatchObject({ level: 40 });
    expect(freed!.lateMs).toBeGreaterThan(0);
    expect(timers.pending()).toBe(0);
  });
});
