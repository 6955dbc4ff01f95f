import { describe, expect, it } from 'vitest';
import { UserFacingError } from '../../src/errors/user-facing-error.ts';
import type { Job, JobProgress, SubmitResult } from '../../src/queue/index.ts';
import { createFakeEngine, testRequest } from './fake-engine.ts';
import { makeQueue, recorder } from './helpers.ts';

function accept(result: SubmitResult): Job {
  if (!result.accepted) throw new Error(`refused: ${result.message}`);
  return result.job;
}

class BadImageError extends UserFacingError {}

describe('JobQueue failure handling', () => {
  it('retries once at 0.7x the size after an out-of-memory error and says so', async () => {
    const engine = createFakeEngine({ msPerIter: 1, oomAbove: 400 });
    const { queue, logs } = makeQueue(engine);
    const rec = recorder();
    const request = testRequest('alice', { size: 512 });
    const job = accept(queue.submit(request, rec.listener));
    const sizes: number[] = [];
    job.on('progress', (p) => sizes.push(p.size));
    const outcome = await job.done;

    expect(request.prepared).toEqual([512, 358]);
    expect(rec.events).toEqual(['queued:1', 'started', 'retrying:358', 'completed']);
    expect(outcome.state).toBe('completed');
    if (outcome.state !== 'completed') return;
    expect(outcome.result.retriedAtSize).toBe(358);
    expect(outcome.result.image.width).toBe(358);
    expect(new Set(sizes)).toEqual(new Set([358]));
    expect(job.attemptSize).toBe(358);
    expect(engine.held).toBe(0);
    expect(logs().find((l) => l.msg === 'job completed')).toMatchObject({ size: 358, requestedSize: 512 });
  });

  it('fails with a kind message when the retry runs out of memory too', async () => {
    const engine = createFakeEngine({ oomAbove: 100 });
    const { queue } = makeQueue(engine);
    const request = testRequest('alice', { size: 512 });
    const job = accept(queue.submit(request));
    await expect(job.done).resolves.toMatchObject({
      state: 'failed',
      error: {
        kind: 'out-of-memory',
        message:
          'The server ran out of memory for this image, even at a smaller size. Please try again with a smaller size.',
      },
    });
    expect(request.prepared).toEqual([512, 358]);
  });

  it('does not retry below the minimum size', async () => {
    const engine = createFakeEngine({ oomAbove: 50 });
    const { queue } = makeQueue(engine);
    const request = testRequest('alice', { size: 128 });
    const job = accept(queue.submit(request));
    await expect(job.done).resolves.toMatchObject({ state: 'failed', error: { kind: 'out-of-memory' } });
    expect(request.prepared).toEqual([128]);

    const request2 = testRequest('bob', { size: 150 });
    await accept(queue.submit(request2)).done;
    expect(request2.prepared).toEqual([150, 128]);
  });

  it('fails a job with the userMessage of a preparation error and carries on', async () => {
    const engine = createFakeEngine({ msPerIter: 1 });
    const { queue } = makeQueue(engine);
    const bad = accept(
      queue.submit(
        testRequest('alice', {
          prepare: () => Promise.reject(new BadImageError('That file is not an image I can read.')),
        }),
      ),
    );
    const syncThrow = accept(
      queue.submit(
        testRequest('carol', {
          prepare: () => {
            throw new BadImageError('That image is too large.');
          },
        }),
      ),
    );
    const good = accept(queue.submit(testRequest('bob')));
    await expect(bad.done).resolves.toMatchObject({
      state: 'failed',
      error: { kind: 'user-error', message: 'That file is not an image I can read.' },
    });
    await expect(syncThrow.done).resolves.toMatchObject({
      state: 'failed',
      error: { kind: 'user-error', message: 'That image is too large.' },
    });
    await expect(good.done).resolves.toMatchObject({ state: 'completed' });
    expect(engine.calls).toHaveLength(1);
  });

  it('hides internal errors behind a generic message with the job id, logs the detail, and carries on', async () => {
    const engine = createFakeEngine({
      msPerIter: 1,
      fail: (request) => (request.content.width === 300 ? new Error('tensor shape mismatch at conv4_2') : undefined),
    });
    const { queue, logs } = makeQueue(engine);
    const broken = accept(queue.submit(testRequest('alice', { size: 300 })));
    const fine = accept(queue.submit(testRequest('bob')));
    const outcome = await broken.done;
    expect(outcome).toMatchObject({
      state: 'failed',
      error: {
        kind: 'internal',
        message: `Something went wrong while stylizing (job ${broken.id}). The admin can find details in the log.`,
      },
    });
    if (outcome.state === 'failed') expect(outcome.error.message).not.toContain('tensor');
    const logged = logs().find((l) => l.level === 50 && l.jobId === broken.id);
    expect(JSON.stringify(logged)).toContain('tensor shape mismatch at conv4_2');
    await expect(fine.done).resolves.toMatchObject({ state: 'completed' });
  });

  it('survives listeners that throw or reject in every event', async () => {
    const engine = createFakeEngine({ msPerIter: 1 });
    const { queue, logs } = makeQueue(engine);
    const boom = () => {
      throw new Error('listener bug');
    };
    const rejecting = () => Promise.reject(new Error('async listener bug'));
    const a = accept(
      queue.submit(testRequest('alice'), {
        queued: boom,
        started: boom,
        progress: boom,
        completed: boom,
      }),
    );
    // eslint-disable-next-line @typescript-eslint/no-misused-promises -- deliberately async: its rejection is caught
    a.on('progress', rejecting);
    const b = accept(queue.submit(testRequest('bob')));
    const after = recorder();
    b.listen(after.listener);
    const c = accept(queue.submit(testRequest('carol'), { position: boom, cancelled: boom }));
    await new Promise<void>((resolve) => c.on('position', () => resolve()));
    queue.cancel(c.id, { userId: 'carol', privileged: false });
    await expect(a.done).resolves.toMatchObject({ state: 'completed' });
    await expect(b.done).resolves.toMatchObject({ state: 'completed' });
    await expect(c.done).resolves.toEqual({ state: 'cancelled', by: 'owner' });
    expect(after.events).toEqual(['started', 'completed']);
    await new Promise((r) => setImmediate(r));
    const warnings = logs().filter((l) => l.msg === 'a job listener threw; the job carries on');
    expect(new Set(warnings.map((w) => w.event))).toEqual(
      new Set(['queued', 'started', 'progress', 'completed', 'position', 'cancelled']),
    );
    expect(JSON.stringify(warnings)).toContain('async listener bug');
  });

  it('forwards progress synchronously so a listener can render a preview, rendered once per event', async () => {
    let renders = 0;
    const engine = createFakeEngine({ msPerIter: 1 });
    const stylize: typeof engine.stylize = (request, hooks) =>
      engine.stylize(request, {
        ...hooks,
        onProgress: (p) =>
          hooks?.onProgress?.({
            ...p,
            preview: () => {
              renders++;
              return p.preview();
            },
          }),
      });
    const { queue } = makeQueue(engine, { stylize });
    const job = accept(queue.submit(testRequest('alice', { iterations: 3 })));
    const previews: unknown[] = [];
    const seen: JobProgress[] = [];
    job.on('progress', (p) => {
      seen.push(p);
      previews.push(p.preview());
    });
    job.on('progress', (p) => previews.push(p.preview()));
    await job.done;
    expect(seen.map((p) => [p.iteration, p.total, p.jobId])).toEqual([
      [1, 3, job.id],
      [2, 3, job.id],
      [3, 3, job.id],
    ]);
    expect(renders).toBe(3);
    expect(previews).toHaveLength(6);
    expect(previews[0]).toMatchObject({ width: 256, height: 1 });
    // Both listeners of one event got the same rendering.
    expect(previews[1]).toBe(previews[0]);
  });
});
