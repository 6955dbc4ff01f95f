import { describe, expect, it } from 'vitest';
import type { StylizeFn, StylizeRequest } from '../../src/engine/types.ts';
import type { Job, SubmitResult } from '../../src/queue/index.ts';
import { createFakeEngine, testRequest } from './fake-engine.ts';
import { makeQueue } from './helpers.ts';

function accept(result: SubmitResult): Job {
  if (!result.accepted) throw new Error(`refused: ${result.message}`);
  return result.job;
}

describe('JobQueue snapshot and logs', () => {
  it('shows the running job with its progress, the line, a user’s positions, and outcome totals', async () => {
    let clock = 1_000_000;
    const engine = createFakeEngine({ msPerIter: 5 });
    // Each run takes 1000 ms on the test clock; runs at size 200 fail after 3000 ms.
    const stylize: StylizeFn = async (request, hooks) => {
      const failing = request.content.width === 200;
      try {
        const result = await engine.stylize(request, hooks);
        if (failing) throw new Error('boom');
        return result;
      } finally {
        clock += failing ? 3_000 : 1_000;
      }
    };
    const { queue } = makeQueue(engine, { stylize, maxJobsPerUser: 2, now: () => clock });

    const running = accept(queue.submit(testRequest('alice', { iterations: 40, guildId: 'g1' })));
    const bob1 = accept(queue.submit(testRequest('bob', { guildId: 'g1' })));
    const carol = accept(queue.submit(testRequest('carol', { size: 200, guildId: 'g2' })));
    const bob2 = accept(queue.submit(testRequest('bob', { guildId: 'g1' })));
    await new Promise<void>((resolve) => running.on('progress', (p) => p.iteration === 3 && resolve()));
    clock += 250;

    const snap = queue.snapshot('bob', 'g1');
    expect(snap).toMatchObject({ accepting: true, concurrency: 1, maxQueue: 20, queuedCount: 3 });
    expect(snap.running).toHaveLength(1);
    expect(snap.running[0]).toMatchObject({
      id: running.id,
      userId: 'alice',
      guildId: 'g1',
      size: 256,
      iterations: 40,
      elapsedMs: 250,
      stopping: false,
      progress: { total: 40 },
    });
    expect(snap.running[0]!.progress!.iteration).toBeGreaterThanOrEqual(3);
    expect(snap.waiting.map((w) => [w.id, w.userId, w.position, w.waitingMs])).toEqual([
      [bob1.id, 'bob', 1, 250],
      [carol.id, 'carol', 2, 250],
      [bob2.id, 'bob', 3, 250],
    ]);
    expect(snap.user).toEqual({
      userId: 'bob',
      jobs: [
        { id: bob1.id, state: 'queued', position: 1 },
        { id: bob2.id, state: 'queued', position: 3 },
      ],
    });

    queue.cancel(bob2.id, { userId: 'bob', privileged: false });
    await Promise.all([running.done, bob1.done, carol.done]);
    const after = queue.snapshot(undefined, 'g1');
    expect(after.running).toEqual([]);
    expect(after.waiting).toEqual([]);
    expect(after.user).toBeUndefined();
    expect(after.totals).toEqual({
      completed: { count: 2, avgDurationMs: 1_000 + 125 },
      failed: { count: 1, avgDurationMs: 3_000 },
      cancelled: { count: 1, avgDurationMs: undefined },
    });
    expect(after.guild).toEqual({
      guildId: 'g1',
      totals: {
        completed: { count: 2, avgDurationMs: 1_125 },
        failed: { count: 0, avgDurationMs: undefined },
        cancelled: { count: 1, avgDurationMs: undefined },
      },
    });
  });

  it('remembers only the last historySize finished jobs', async () => {
    const fail = (r: StylizeRequest) => (r.content.width === 99 ? new Error('x') : undefined);
    const engine = createFakeEngine({ msPerIter: 1, fail });
    const { queue } = makeQueue(engine, { historySize: 2, maxJobsPerUser: 5 });
    const jobs = [256, 99, 256].map((size) => accept(queue.submit(testRequest('alice', { size, iterations: 1 }))));
    await Promise.all(jobs.map((j) => j.done));
    expect(queue.finished(jobs[0]!.id)).toBeUndefined();
    expect(queue.cancel(jobs[0]!.id, { userId: 'alice', privileged: false })).toBe('not-found');
    expect(queue.finished(jobs[1]!.id)).toMatchObject({
      state: 'failed',
      message: `Something went wrong while stylizing (job ${jobs[1]!.id}). The admin can find details in the log.`,
    });
    expect(queue.finished(jobs[2]!.id)).toMatchObject({ state: 'completed', message: undefined });
  });

  it('logs each job’s start and end with duration, size, iterations and backend', async () => {
    const engine = createFakeEngine({ msPerIter: 1 });
    const { queue, logs } = makeQueue(engine, { backendName: 'wasm' });
    const job = accept(queue.submit(testRequest('alice', { size: 300, iterations: 4, guildId: 'g1' })));
    await job.done;
    const lines = logs();
    const start = lines.find((l) => l.msg === 'job started');
    const end = lines.find((l) => l.msg === 'job completed');
    expect(start).toMatchObject({ jobId: job.id, userId: 'alice', guildId: 'g1', size: 300, iterations: 4 });
    expect(start!.backend).toBe('wasm');
    expect(typeof start!.waitedMs).toBe('number');
    expect(end).toMatchObject({ jobId: job.id, outcome: 'completed', size: 300, iterations: 4, backend: 'fake' });
    expect(end!.durationMs).toBeGreaterThanOrEqual(4);
    expect(typeof end!.msPerIter).toBe('number');

    const cancelled = accept(queue.submit(testRequest('bob', { iterations: 1000 })));
    await new Promise<void>((resolve) => cancelled.on('progress', () => resolve()));
    queue.cancel(cancelled.id, { userId: 'bob', privileged: false });
    await cancelled.done;
    expect(logs().find((l) => l.msg === 'job cancelled')).toMatchObject({
      jobId: cancelled.id,
      by: 'owner',
      backend: 'wasm',
      size: 256,
    });
  });
});
