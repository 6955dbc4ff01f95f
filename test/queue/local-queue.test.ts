import { getEventListeners } from 'node:events';
import { describe, expect, it, onTestFinished } from 'vitest';
import { LocalQueue } from '../../src/queue/local-queue.ts';
import { FakeRunner } from './fake-runner.ts';
import { makeQueue, progressed, testInput, trackTimers } from './helpers.ts';

describe('LocalQueue line order and positions', () => {
  it('runs jobs one at a time in arrival order and moves everyone up as jobs finish', async () => {
    const t = await makeQueue({ msPerIter: 2 });
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push(await t.accept(`user${i}`));
    await Promise.all(ids.map((id) => t.record(id).ended));
    // The first took the free worker at once, unannounced; the rest waited at 1, 2, 3.
    expect(ids.map((id) => t.record(id).events)).toEqual([
      ['started', 'completed'],
      ['queued:1', 'started', 'completed'],
      ['queued:2', 'position:1', 'started', 'completed'],
      ['queued:3', 'position:2', 'position:1', 'started', 'completed'],
    ]);
    expect(t.runner.calls.map((c) => c.job.id)).toEqual(ids);
    expect(t.runner.maxLive).toBe(1);
    expect(ids.every((id) => t.record(id).progress === 5)).toBe(true);
  });

  it('runs one job per worker at once and keeps the rest in line', async () => {
    const t = await makeQueue({ msPerIter: 3, workers: 2 });
    const ids = [];
    for (const u of ['u1', 'u2', 'u3', 'u4']) ids.push(await t.accept(u));
    await progressed(t, ids[1]!);
    const snap = await t.queue.snapshot();
    expect(snap.running.map((r) => r.id)).toEqual(ids.slice(0, 2));
    expect(snap.waiting).toEqual([
      { id: ids[2], userId: 'u3', position: 1 },
      { id: ids[3], userId: 'u4', position: 2 },
    ]);
    await Promise.all(ids.map((id) => t.record(id).ended));
    expect(t.runner.maxLive).toBe(2);
  });

  it('hands the engine plain data: the inputs, the clamped iterations, the time limit and preview interval', async () => {
    const t = await makeQueue({}, { maxIterations: 3, timeoutMs: 7_000, previewEveryMs: 1_500 });
    const id = await t.accept('alice', { iterations: 50 });
    await t.record(id).ended;
    const job = t.runner.calls[0]!.job;
    expect(job).toMatchObject({ id, settings: { iterations: 3 }, timeLimitMs: 7_000, previewEveryMs: 1_500 });
    expect(job.content.data).toBeInstanceOf(Uint8Array);
    expect(structuredClone(job)).toEqual(job);
  });
});

describe('LocalQueue cancellation', () => {
  it('stops a running job within one iteration and starts the next', async () => {
    const t = await makeQueue({ msPerIter: 10 });
    const running = await t.accept('alice', { iterations: 1000 });
    const next = await t.accept('bob');
    await progressed(t, running, 3);
    expect(await t.queue.cancel(running, { userId: 'alice', privileged: false })).toBe('cancelled');
    expect((await t.queue.snapshot()).running[0]).toMatchObject({ id: running, stopping: true });
    expect(await t.record(running).ended).toEqual({ type: 'cancelled', by: 'owner' });
    const call = t.runner.calls[0]!;
    expect(call.outcome).toBe('cancelled');
    expect(call.lastIteration - call.iterationAtAbort!).toBeLessThanOrEqual(1);
    expect(t.record(running).events).toEqual(['started', 'cancelled:owner']);
    expect(await t.record(next).ended).toMatchObject({ type: 'completed' });
    expect(t.runner.maxLive).toBe(1);
    expect(getEventListeners(call.signal, 'abort')).toHaveLength(0);
  });

  it('lets an admin cancel anyone’s job and nobody else', async () => {
    const t = await makeQueue({ msPerIter: 5 });
    const a = await t.accept('alice', { iterations: 1000 });
    const b = await t.accept('bob');
    expect(await t.queue.cancel(b, { userId: 'mallory', privileged: false })).toBe('not-allowed');
    expect(await t.queue.cancel(b, { userId: 'mod', privileged: true })).toBe('cancelled');
    expect(await t.queue.cancel(a, { userId: 'mod', privileged: true })).toBe('cancelled');
    expect(await t.record(b).ended).toEqual({ type: 'cancelled', by: 'admin' });
    expect(await t.record(a).ended).toEqual({ type: 'cancelled', by: 'admin' });
    // The waiting one never reached the engine.
    expect(t.runner.calls.map((c) => c.job.id)).toEqual([a]);
  });

  it('answers not-found, already-finished and forgives how the id is typed', async () => {
    const t = await makeQueue({ msPerIter: 5 });
    const id = await t.accept('alice', { iterations: 1000 });
    expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{6}$/);
    expect(await t.queue.cancel(id === 'ZZZZZZ' ? 'YYYYYY' : 'ZZZZZZ', { userId: 'alice', privileged: true })).toBe('not-found');
    expect(await t.queue.cancel('not an id at all, and rather long too', { userId: 'alice', privileged: true })).toBe('not-found');
    const typed = ` #${id.toLowerCase().replace(/0/g, 'o').replace(/1/g, 'l')} `;
    expect(await t.queue.cancel(typed, { userId: 'alice', privileged: false })).toBe('cancelled');
    // Asking again while the worker stops is still a yes.
    expect(await t.queue.cancel(id, { userId: 'alice', privileged: false })).toBe('cancelled');
    await t.record(id).ended;
    expect(await t.queue.cancel(id, { userId: 'alice', privileged: false })).toBe('already-finished');
    expect(t.record(id).finals).toHaveLength(1);
  });

  it('a worker that ignores the cancel is killed by the runner; the job ends cancelled and the slot frees', async () => {
    const t = await makeQueue({ msPerIter: 10, ignoreCancel: true, stopTimeoutMs: 60 });
    const stuck = await t.accept('alice', { iterations: 1000 });
    const next = await t.accept('bob', { iterations: 1 });
    await progressed(t, stuck, 1);
    const t0 = performance.now();
    await t.queue.cancel(stuck, { userId: 'alice', privileged: false });
    expect(await t.record(stuck).ended).toEqual({ type: 'cancelled', by: 'owner' });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(55);
    expect(t.runner.calls[0]!.outcome).toBe('killed');
    expect(await t.record(next).ended).toMatchObject({ type: 'completed' });
    expect(t.runner.maxLive).toBe(1);
  });
});

describe('LocalQueue admission', () => {
  it('refuses a user at MAX_JOBS_PER_USER, counting places reserved while images download', async () => {
    const t = await makeQueue({ msPerIter: 5 }, { maxJobsPerUser: 2, shutdownGraceMs: 0 });
    const first = await t.queue.reserve({ userId: 'alice', guildId: undefined });
    const second = await t.accept('alice', { iterations: 1000 });
    expect(await t.add('alice')).toEqual({
      accepted: false,
      reason: 'user-limit',
      message: `You already have a job in the queue (job ${second}). Please wait for it to finish or cancel it first.`,
    });
    expect(await t.add('bob')).toEqual(expect.any(String));
    if (!('jobId' in first)) throw new Error('refused');
    await t.queue.release(first);
    expect(await t.add('alice')).toEqual(expect.any(String));
    await t.queue.shutdown();
  });

  it('refuses when the line is full, saying where the request would have stood', async () => {
    const t = await makeQueue({ msPerIter: 5 }, { maxQueue: 2, shutdownGraceMs: 0 });
    await t.accept('u0', { iterations: 1000 });
    await t.accept('u1');
    const held = await t.queue.reserve({ userId: 'u2', guildId: undefined });
    expect('jobId' in held).toBe(true);
    expect(await t.add('u3')).toEqual({
      accepted: false,
      reason: 'queue-full',
      message: 'The queue is full right now (2 jobs waiting, you would be 3rd). Please try again in a few minutes.',
    });
    await t.queue.shutdown();
  });

  it('lets reserved requests take free workers first, so a burst on an idle queue is not refused as full', async () => {
    const t = await makeQueue({ msPerIter: 5, workers: 3 }, { maxQueue: 1, shutdownGraceMs: 0 });
    const held = await Promise.all(['a', 'b', 'c', 'd'].map((u) => t.queue.reserve({ userId: u, guildId: undefined })));
    expect(held.every((h) => 'jobId' in h)).toBe(true);
    expect(await t.queue.reserve({ userId: 'e', guildId: undefined })).toMatchObject({ reason: 'queue-full' });
    await t.queue.shutdown();
  });

  it('holds a server to its maxJobs', async () => {
    const t = await makeQueue(
      { msPerIter: 5 },
      { maxJobsPerGuild: (g) => (g === 'g1' ? 1 : undefined), shutdownGraceMs: 0 },
    );
    await t.accept('alice', { guildId: 'g1', iterations: 1000 });
    expect(await t.add('bob', { guildId: 'g1' })).toMatchObject({
      reason: 'guild-limit',
      message: 'This server already has 1 job in the queue, its limit. Please try again when one has finished.',
    });
    expect(await t.add('bob', { guildId: 'g2' })).toEqual(expect.any(String));
    await t.queue.shutdown();
  });

  it('refuses with “the engine is restarting” while no worker is alive, and says so in health()', async () => {
    const t = await makeQueue();
    t.runner.setAlive(0);
    const message = 'The engine is restarting. Please try again in a minute.';
    expect(await t.queue.health()).toEqual({ ok: false, message });
    expect(await t.add('alice')).toEqual({ accepted: false, reason: 'engine-restarting', message });
    t.runner.setAlive(1);
    expect(await t.queue.health()).toEqual({ ok: true });
    expect(await t.add('alice')).toEqual(expect.any(String));
  });

  it('lets a reservation lapse so that a lost request cannot hold a place for ever', async () => {
    const t = await makeQueue({}, { reservationTtlMs: 30 });
    const held = await t.queue.reserve({ userId: 'alice', guildId: undefined });
    expect(await t.add('alice')).toMatchObject({ reason: 'user-limit' });
    await new Promise((r) => setTimeout(r, 60));
    expect(t.queue.counts.reserved).toBe(0);
    expect(t.logs().some((l) => l.msg === 'a reservation lapsed without being submitted')).toBe(true);
    // Its late submit is still admitted when the limits allow it.
    if (!('jobId' in held)) throw new Error('refused');
    expect(await t.queue.submit(held, testInput(), { tag: 'late' })).toEqual({ accepted: true, position: 1 });
  });

  it('validates its options in the constructor, naming what was expected and what came', () => {
    expect(
      () =>
        new LocalQueue({
          runner: new FakeRunner(),
          maxQueue: 0,
          maxJobsPerUser: 1,
          timeoutMs: 1000,
          shutdownGraceMs: 0,
          maxSize: 512,
          maxIterations: 10,
          previewEveryMs: 1000,
        }),
    ).toThrow('Expected LocalQueue option `maxQueue` to be a whole number from 1 up, got 0');
  });
});

describe('LocalQueue failures and time limits', () => {
  it('passes the worker’s failure code and message on, once', async () => {
    const t = await makeQueue({ fail: () => ({ code: 'invalid-request', message: 'The style image is too small.' }) });
    const id = await t.accept('alice');
    expect(await t.record(id).ended).toEqual({
      type: 'failed',
      failure: { code: 'invalid-request', message: 'The style image is too small.' },
    });
    expect(t.record(id).events).toEqual(['failed:invalid-request']);
  });

  it('reports the out-of-memory retry and the run that died and restarted on a fresh worker', async () => {
    const t = await makeQueue({ oomAbove: 400, dieAt: () => 2 });
    const id = await t.accept('alice', { size: 512 });
    const done = await t.record(id).ended;
    expect(t.record(id).events).toEqual(['started', 'retrying:358', 'started:restarted', 'completed']);
    expect(done).toMatchObject({ type: 'completed', result: { retriedAtSize: 358 } });
    expect((await t.queue.snapshot()).totals.completed.count).toBe(1);
  });

  it('gives the engine the time limit; a worker that ignores it is stopped by the guard and fails as timed out', async () => {
    const own = await makeQueue({ msPerIter: 10 }, { timeoutMs: 50, timeoutSlackMs: 1000 });
    const a = await own.accept('alice', { iterations: 1000 });
    expect(await own.record(a).ended).toMatchObject({ type: 'completed', result: { stopReason: 'time-limit' } });

    const stuck = await makeQueue({ msPerIter: 10, ignoreTimeLimit: true }, { timeoutMs: 50, timeoutSlackMs: 40 });
    const b = await stuck.accept('alice', { iterations: 1000 });
    expect(await stuck.record(b).ended).toEqual({
      type: 'failed',
      failure: {
        code: 'timeout',
        message: 'Your job reached its time limit of 0 seconds before it had an image to show, so it was stopped.',
      },
    });
  });
});

describe('LocalQueue snapshot', () => {
  it('shows what runs with its progress, the line, the asking user’s jobs, the workers and totals', async () => {
    const t = await makeQueue({ msPerIter: 5, workers: 1 });
    const running = await t.accept('alice', { iterations: 1000 });
    const waiting = await t.accept('bob');
    await progressed(t, running, 2);
    const snap = await t.queue.snapshot({ userId: 'bob' });
    expect(snap).toMatchObject({
      accepting: true,
      maxQueue: 20,
      running: [{ id: running, userId: 'alice', size: 256, iterations: 1000, stopping: false }],
      waiting: [{ id: waiting, userId: 'bob', position: 1 }],
      user: { userId: 'bob', jobs: [{ id: waiting, state: 'queued', position: 1 }] },
      workers: [{ id: 'fake:0', busy: true }],
    });
    expect(snap.running[0]!.progress!.iteration).toBeGreaterThanOrEqual(2);
    await t.queue.cancel(running, { userId: 'alice', privileged: false });
    await t.record(waiting).ended;
    const after = await t.queue.snapshot();
    expect(after.totals.completed.count).toBe(1);
    expect(after.totals.cancelled.count).toBe(1);
    expect(after.totals.completed.avgDurationMs).toBeGreaterThanOrEqual(0);
  });
});

describe('LocalQueue shutdown', () => {
  it('refuses new jobs, cancels waiting ones from the back and lets the running one finish within the grace', async () => {
    const timers = trackTimers();
    onTestFinished(() => timers.stop());
    const t = await makeQueue({ msPerIter: 10 }, { shutdownGraceMs: 2_000 });
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(await t.accept(`user${i}`, { iterations: 8 }));
    await progressed(t, ids[0]!);
    const stopping = t.queue.shutdown();
    expect(t.queue.shutdown()).toBe(stopping);
    // From the back, so nobody hears of a position change on the way out.
    expect(t.record(ids[1]!).events).toEqual(['queued:1', 'cancelled:shutdown']);
    expect(t.record(ids[2]!).events).toEqual(['queued:2', 'cancelled:shutdown']);
    expect(await t.add('late')).toEqual({
      accepted: false,
      reason: 'shutting-down',
      message: 'The bot is restarting and is not taking new jobs. Please try again in a minute.',
    });
    await stopping;
    expect(t.record(ids[0]!).events.at(-1)).toBe('completed');
    expect(t.runner.closed).toBe(true);
    expect(timers.pending()).toBe(0);
  });

  it('cancels a running job that outlasts the grace period, and one that ignores the cancel is killed', async () => {
    const t = await makeQueue({ msPerIter: 10, ignoreCancel: true, stopTimeoutMs: 50 }, { shutdownGraceMs: 80 });
    const id = await t.accept('alice', { iterations: 10_000 });
    await progressed(t, id);
    const t0 = performance.now();
    await t.queue.shutdown();
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(120);
    expect(took).toBeLessThan(1_000);
    expect(t.record(id).events).toEqual(['started', 'cancelled:shutdown']);
    expect(t.runner.calls[0]!.outcome).toBe('killed');
  });

  it('waits for final messages still being delivered', async () => {
    const runner = new FakeRunner({ msPerIter: 1 });
    const queue = new LocalQueue<null>({
      runner,
      maxQueue: 5,
      maxJobsPerUser: 1,
      timeoutMs: 10_000,
      shutdownGraceMs: 1_000,
      maxSize: 512,
      maxIterations: 10,
      previewEveryMs: 1000,
    });
    let delivered = false;
    await queue.start(async (_job, event) => {
      if (event.type !== 'completed') return;
      await new Promise((r) => setTimeout(r, 50));
      delivered = true;
    });
    const reserved = await queue.reserve({ userId: 'a', guildId: undefined });
    if (!('jobId' in reserved)) throw new Error('refused');
    await queue.submit(reserved, testInput(64, 1), null);
    while (runner.calls[0]?.outcome !== 'completed') await new Promise((r) => setTimeout(r, 2));
    await queue.shutdown();
    expect(delivered).toBe(true);
  });
});
