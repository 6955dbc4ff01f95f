import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/queue/index.ts';
import { createFakeEngine, testRequest } from './fake-engine.ts';
import { makeQueue, recorder } from './helpers.ts';

function accept(result: ReturnType<ReturnType<typeof makeQueue>['queue']['submit']>): Job {
  if (!result.accepted) throw new Error(`refused: ${result.message}`);
  return result.job;
}

describe('JobQueue line order and positions', () => {
  it('runs jobs one at a time in arrival order and moves everyone up as jobs finish', async () => {
    const engine = createFakeEngine({ msPerIter: 2 });
    const { queue } = makeQueue(engine);
    const starts: string[] = [];
    const recs = ['a', 'b', 'c', 'd'].map(() => recorder());
    const jobs = recs.map((rec, i) => {
      const job = accept(queue.submit(testRequest(`user${i}`), rec.listener));
      job.on('started', () => starts.push(job.id));
      return job;
    });

    // The first took the free slot at once; the rest wait at 1, 2, 3.
    expect(jobs.map((j) => j.state)).toEqual(['running', 'queued', 'queued', 'queued']);
    expect(jobs.map((j) => j.position)).toEqual([undefined, 1, 2, 3]);

    const outcomes = await Promise.all(jobs.map((j) => j.done));
    expect(outcomes.map((o) => o.state)).toEqual(['completed', 'completed', 'completed', 'completed']);
    expect(starts).toEqual(jobs.map((j) => j.id));
    expect(engine.maxLive).toBe(1);
    expect(recs.map((r) => r.events)).toEqual([
      ['queued:1', 'started', 'completed'],
      ['queued:1', 'started', 'completed'],
      ['queued:2', 'position:1', 'started', 'completed'],
      ['queued:3', 'position:2', 'position:1', 'started', 'completed'],
    ]);
    expect(recs.every((r) => r.progressCount() === 5)).toBe(true);
  });

  it('fires no event but queued before submit() returns', () => {
    const engine = createFakeEngine();
    const { queue } = makeQueue(engine);
    const rec = recorder();
    const job = accept(queue.submit(testRequest('u1'), rec.listener));
    expect(rec.events).toEqual(['queued:1']);
    return job.done;
  });

  it('runs `concurrency` jobs at once and keeps the rest in line', async () => {
    const engine = createFakeEngine({ msPerIter: 3 });
    const { queue } = makeQueue(engine, { concurrency: 2 });
    const jobs = ['u1', 'u2', 'u3', 'u4'].map((u) => accept(queue.submit(testRequest(u))));
    expect(jobs.map((j) => j.state)).toEqual(['running', 'running', 'queued', 'queued']);
    expect(jobs.map((j) => j.position)).toEqual([undefined, undefined, 1, 2]);
    await Promise.all(jobs.map((j) => j.done));
    expect(engine.maxLive).toBe(2);
  });

  it('takes a cancelled waiting job out of the line at once and moves those behind it up', async () => {
    const engine = createFakeEngine({ msPerIter: 5 });
    const { queue } = makeQueue(engine);
    const recs = [0, 1, 2, 3].map(() => recorder());
    const jobs = recs.map((rec, i) => accept(queue.submit(testRequest(`user${i}`), rec.listener)));

    expect(queue.cancel(jobs[1]!.id, { userId: 'user1', privileged: false })).toBe('cancelled');
    // Synchronously: the cancelled job is gone from the line and the others have moved up.
    expect(jobs[1]!.state).toBe('cancelled');
    expect(jobs[2]!.position).toBe(1);
    expect(jobs[3]!.position).toBe(2);
    expect(queue.snapshot().waiting.map((w) => w.id)).toEqual([jobs[2]!.id, jobs[3]!.id]);
    expect(recs[2]!.events).toEqual(['queued:2', 'position:1']);
    expect(recs[3]!.events).toEqual(['queued:3', 'position:2']);

    await expect(jobs[1]!.done).resolves.toEqual({ state: 'cancelled', by: 'owner' });
    await Promise.all(jobs.map((j) => j.done));
    expect(recs[1]!.events).toEqual(['queued:1', 'cancelled:owner']);
    expect(recs[3]!.events).toEqual(['queued:3', 'position:2', 'position:1', 'started', 'completed']);
    // The engine never saw the cancelled job.
    expect(engine.calls).toHaveLength(3);
  });

  it('lets a queued listener cancel its own job without the job ever reaching the engine', async () => {
    const engine = createFakeEngine();
    const { queue } = makeQueue(engine);
    const first = accept(queue.submit(testRequest('u1')));
    const result = queue.submit(testRequest('u2'), {
      queued: () => {
        const id = queue.snapshot().waiting[0]!.id;
        expect(queue.cancel(id, { userId: 'u2', privileged: false })).toBe('cancelled');
      },
    });
    const job = accept(result);
    await expect(job.done).resolves.toEqual({ state: 'cancelled', by: 'owner' });
    await first.done;
    expect(engine.calls).toHaveLength(1);
  });
});
