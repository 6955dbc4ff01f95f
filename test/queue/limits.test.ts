import { describe, expect, it } from 'vitest';
import type { Job, SubmitResult } from '../../src/queue/index.ts';
import { createFakeEngine, testRequest } from './fake-engine.ts';
import { makeQueue } from './helpers.ts';

function accept(result: SubmitResult): Job {
  if (!result.accepted) throw new Error(`refused: ${result.message}`);
  return result.job;
}

describe('JobQueue limits', () => {
  it('refuses a job beyond MAX_QUEUE waiting jobs, saying how long the line is and where it would stand', async () => {
    const engine = createFakeEngine({ msPerIter: 5 });
    const { queue } = makeQueue(engine, { maxQueue: 2 });
    const jobs = ['u1', 'u2', 'u3'].map((u) => accept(queue.submit(testRequest(u))));
    // u1 runs; u2 and u3 wait: the line is full.
    const refused = queue.submit(testRequest('u4'));
    expect(refused).toEqual({
      accepted: false,
      reason: 'queue-full',
      queueLength: 2,
      message: 'The queue is full right now (2 jobs waiting, you would be 3rd). Please try again in a few minutes.',
    });
    // Once someone leaves the line there is room again.
    queue.cancel(jobs[2]!.id, { userId: 'u3', privileged: false });
    const later = accept(queue.submit(testRequest('u4')));
    expect(later.position).toBe(2);
    await Promise.all([...jobs, later].map((j) => j.done));
  });

  it('refuses a second active job of the same user, naming the one already active', async () => {
    const engine = createFakeEngine({ msPerIter: 2 });
    const { queue } = makeQueue(engine);
    const first = accept(queue.submit(testRequest('alice')));
    const second = queue.submit(testRequest('alice'));
    expect(second).toMatchObject({ accepted: false, reason: 'user-limit', activeJobId: first.id });
    if (second.accepted) return;
    expect(second.message).toBe(
      `You already have a job in the queue (job ${first.id}). Please wait for it to finish or cancel it first.`,
    );
    // Waiting jobs count too, not only running ones.
    accept(queue.submit(testRequest('bob')));
    expect(queue.submit(testRequest('bob'))).toMatchObject({ reason: 'user-limit' });
    await first.done;
    // A finished job frees the user's slot.
    const third = accept(queue.submit(testRequest('alice')));
    await third.done;
  });

  it('allows MAX_JOBS_PER_USER active jobs and names the oldest when refusing', async () => {
    const engine = createFakeEngine({ msPerIter: 2 });
    const { queue } = makeQueue(engine, { maxJobsPerUser: 2 });
    const a = accept(queue.submit(testRequest('alice')));
    const b = accept(queue.submit(testRequest('alice')));
    const refused = queue.submit(testRequest('alice'));
    expect(refused).toMatchObject({ accepted: false, reason: 'user-limit', activeJobId: a.id });
    expect(!refused.accepted && refused.message).toContain(
      `You already have 2 jobs in the queue (the oldest is job ${a.id})`,
    );
    await Promise.all([a.done, b.done]);
  });

  it('checks the per-user limit before the queue length', async () => {
    const engine = createFakeEngine({ msPerIter: 5 });
    const { queue } = makeQueue(engine, { maxQueue: 1 });
    const a = accept(queue.submit(testRequest('alice')));
    const b = accept(queue.submit(testRequest('bob')));
    expect(queue.submit(testRequest('carol'))).toMatchObject({ reason: 'queue-full' });
    expect(queue.submit(testRequest('bob'))).toMatchObject({ reason: 'user-limit', activeJobId: b.id });
    await Promise.all([a.done, b.done]);
  });

  it('clamps size and iterations to the configured maxima whatever the request asks', async () => {
    const engine = createFakeEngine({ msPerIter: 1 });
    const { queue } = makeQueue(engine, { maxSize: 300, maxIterations: 7 });
    const settings = { iterations: 5000, styleWeight: 3 };
    const request = testRequest('u1', { size: 100_000, iterations: 1e9, settings });
    const job = accept(queue.submit(request));
    expect(job.size).toBe(300);
    expect(job.iterations).toBe(7);
    const outcome = await job.done;
    expect(outcome.state).toBe('completed');
    expect(request.prepared).toEqual([300]);
    expect(engine.calls[0]).toMatchObject({ size: 300, iterations: 7 });
    if (outcome.state === 'completed') expect(outcome.result.settings).toMatchObject({ iterations: 7, styleWeight: 3 });

    const small = accept(queue.submit(testRequest('u2', { size: 2, iterations: -4 })));
    expect([small.size, small.iterations]).toEqual([64, 1]);
    await small.done;
  });

  it('rejects requests that are not requests with a TypeError (a bot bug, not user input)', () => {
    const { queue } = makeQueue(createFakeEngine());
    expect(() => queue.submit(testRequest(''))).toThrow(TypeError);
    expect(() => queue.submit(testRequest('u1', { size: Number.NaN }))).toThrow(TypeError);
    expect(queue.snapshot().queuedCount).toBe(0);
    expect(queue.snapshot().running).toEqual([]);
  });

  it('rejects impossible options at construction', () => {
    const engine = createFakeEngine();
    expect(() => makeQueue(engine, { concurrency: 0 })).toThrow(/concurrency/);
    expect(() => makeQueue(engine, { maxQueue: 1.5 })).toThrow(/maxQueue/);
    expect(() => makeQueue(engine, { shutdownGraceMs: -1 })).toThrow(/shutdownGraceMs/);
  });
});
