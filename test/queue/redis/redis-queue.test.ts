import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from './redis-server.ts';
import { leftoverJobKeys, startBot, startWorker, until, type TestBot } from './harness.ts';
import type { RedisWorker } from '../../../src/queue/redis-worker.ts';
import { RedisQueue } from '../../../src/queue/redis-queue.ts';
import { testInput } from '../helpers.ts';

/**
 * RedisQueue and RedisWorker in this process against a real redis-server: the job lifecycle, positions, cancel,
 * admission, /queue, and what is left in Redis. The cross-process faults are in redis-cluster.test.ts.
 */

let server: RedisServer;
let prefixes = 0;
beforeAll(async () => {
  server = await startRedis({ persistent: true });
});
afterAll(async () => {
  await server?.dispose();
});

/** A fresh namespace per test, so that tests share the server but nothing else. */
function prefix(): string {
  return `t${++prefixes}`;
}

async function cluster(
  runner: Parameters<typeof startWorker>[2] = {},
  botOptions: Parameters<typeof startBot>[2] = {},
  workerOptions: Parameters<typeof startWorker>[3] = {},
): Promise<{ bot: TestBot; worker: RedisWorker; runner: Awaited<ReturnType<typeof startWorker>>['runner']; prefix: string }> {
  const p = prefix();
  const { worker, runner: fake } = await startWorker(server, p, runner, workerOptions);
  const bot = await startBot(server, p, botOptions);
  onTestFinished(async () => {
    await bot.queue.shutdown();
    await worker.close();
  });
  return { bot, worker, runner: fake, prefix: p };
}

async function progressed(bot: TestBot, jobId: string, iteration = 1): Promise<void> {
  await until(() => bot.record(jobId).progress >= iteration, 15_000, `progress of ${jobId}`);
}

describe('RedisQueue job lifecycle', () => {
  it('runs jobs in arrival order on the worker, tells each its place, and ends each once', async () => {
    // Long enough jobs that each move of the line is read before the next one (positions are read on each move).
    const { bot, runner } = await cluster({ msPerIter: 25 });
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push(await bot.accept(`user${i}`, { iterations: 5 }));
    await Promise.all(ids.map((id) => bot.record(id).ended));
    expect(ids.map((id) => bot.record(id).events)).toEqual([
      ['queued:1', 'started', 'completed'],
      ['queued:1', 'started', 'completed'],
      ['queued:2', 'position:1', 'started', 'completed'],
      ['queued:3', 'position:2', 'position:1', 'started', 'completed'],
    ]);
    expect(runner.calls.map((c) => c.job.id)).toEqual(ids);
    expect(runner.maxLive).toBe(1);
    // The engine got the same plain data as in-process: images from Redis byte for byte, clamped settings.
    const job = runner.calls[0]!.job;
    expect(job).toMatchObject({ id: ids[0], settings: { iterations: 5 }, timeLimitMs: 10_000, previewEveryMs: 1_000 });
    expect(job.content).toEqual(testInput(256, 5).content);
  });

  it('delivers the result bytes, the progress with its preview bytes, and leaves no job data in Redis', async () => {
    const previewBytes = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);
    const { bot, runner, prefix: p } = await cluster({ msPerIter: 2 });
    // The stand-in has no previews: wrap its progress events with one, as the engine attaches them.
    const run = runner.run.bind(runner);
    runner.run = (job, onEvent, signal) =>
      run(job, (e) => onEvent(e.type === 'progress' ? { ...e, preview: { bytes: previewBytes, mime: 'image/jpeg', extension: 'jpg', width: 4, height: 3 } } : e), signal);
    const id = await bot.accept('alice', { iterations: 3 });
    const final = await bot.record(id).ended;
    expect(final).toMatchObject({ type: 'completed', result: { image: { bytes: new Uint8Array([0x89, 0x50, 0x4e, 0x47]), mime: 'image/png' } } });
    expect(bot.record(id).progress).toBe(3);
    expect(bot.record(id).lastProgress).toMatchObject({ iteration: 3, total: 3, preview: { bytes: previewBytes, width: 4, height: 3 } });
    await until(async () => Object.keys(await leftoverJobKeys(server, p)).length === 0, 5_000, 'cleanup').catch(() => undefined);
    expect(await leftoverJobKeys(server, p)).toEqual({});
  });
});

describe('RedisQueue cancellation', () => {
  it('ends a waiting job at once; stops a running one within one iteration on its worker; the next starts', async () => {
    const { bot, runner } = await cluster({ msPerIter: 10 });
    const running = await bot.accept('alice', { iterations: 1000 });
    const waiting = await bot.accept('bob', { iterations: 1000 });
    const next = await bot.accept('carol', { iterations: 2 });
    await progressed(bot, running, 3);
    expect(await bot.queue.cancel(waiting, { userId: 'bob', privileged: false })).toBe('cancelled');
    expect(await bot.record(waiting).ended).toEqual({ type: 'cancelled', by: 'owner' });
    // Carol moves up when bob leaves the line.
    await until(() => bot.record(next).events.includes('position:1'), 5_000, 'carol to move up');
    expect(await bot.queue.cancel(running, { userId: 'alice', privileged: false })).toBe('cancelled');
    expect(await bot.record(running).ended).toEqual({ type: 'cancelled', by: 'owner' });
    const call = runner.calls[0]!;
    expect(call.outcome).toBe('cancelled');
    expect(call.lastIteration - call.iterationAtAbort!).toBeLessThanOrEqual(1);
    expect(await bot.record(next).ended).toMatchObject({ type: 'completed' });
    expect(bot.record(waiting).events).toEqual(['queued:1', 'cancelled:owner']);
    expect(bot.record(running).events).toEqual(['queued:1', 'started', 'cancelled:owner']);
    // The cancelled waiting job never reached the engine.
    expect(runner.calls.map((c) => c.job.id)).toEqual([running, next]);
    expect(bot.record(next).events).toEqual(['queued:2', 'position:1', 'started', 'completed']);
  });

  it('lets an admin cancel anyone’s job and nobody else; answers not-found and already-finished', async () => {
    const { bot } = await cluster({ msPerIter: 5 });
    const a = await bot.accept('alice', { iterations: 1000 });
    const b = await bot.accept('bob');
    expect(await bot.queue.cancel(b, { userId: 'mallory', privileged: false })).toBe('not-allowed');
    const typed = ` #${b.toLowerCase().replace(/0/g, 'o').replace(/1/g, 'l')} `;
    expect(await bot.queue.cancel(typed, { userId: 'mod', privileged: true })).toBe('cancelled');
    expect(await bot.queue.cancel(a, { userId: 'mod', privileged: true })).toBe('cancelled');
    expect(await bot.record(b).ended).toEqual({ type: 'cancelled', by: 'admin' });
    expect(await bot.record(a).ended).toEqual({ type: 'cancelled', by: 'admin' });
    expect(await bot.queue.cancel(a, { userId: 'alice', privileged: false })).toBe('already-finished');
    expect(await bot.queue.cancel(a === 'ZZZZZZ' ? 'YYYYYY' : 'ZZZZZZ', { userId: 'alice', privileged: true })).toBe('not-found');
    expect(await bot.queue.cancel('not an id at all, and rather long too', { userId: 'alice', privileged: true })).toBe('not-found');
    expect(bot.record(a).finals).toHaveLength(1);
  });
});

describe('RedisQueue admission', () => {
  it('refuses a user at MAX_JOBS_PER_USER, counting places reserved while images download', async () => {
    const { bot } = await cluster({ msPerIter: 5 }, { maxJobsPerUser: 2 });
    const first = await bot.queue.reserve({ userId: 'alice', guildId: undefined });
    const second = await bot.accept('alice', { iterations: 1000 });
    expect(await bot.add('alice')).toEqual({
      accepted: false,
      reason: 'user-limit',
      message: `You already have a job in the queue (job ${second}). Please wait for it to finish or cancel it first.`,
    });
    expect(await bot.add('bob')).toEqual(expect.any(String));
    if (!('jobId' in first)) throw new Error('refused');
    await bot.queue.release(first);
    expect(await bot.add('alice')).toEqual(expect.any(String));
    await bot.queue.cancel(second, { userId: 'alice', privileged: false });
  });

  it('refuses when the line is full, counting reservations beyond the free worker slots', async () => {
    const { bot } = await cluster({ msPerIter: 5 }, { maxQueue: 2 });
    const running = await bot.accept('u0', { iterations: 1000 });
    await progressed(bot, running);
    await bot.accept('u1');
    const held = await bot.queue.reserve({ userId: 'u2', guildId: undefined });
    expect('jobId' in held).toBe(true);
    expect(await bot.add('u3')).toEqual({
      accepted: false,
      reason: 'queue-full',
      message: 'The queue is full right now (2 jobs waiting, you would be 3rd). Please try again in a few minutes.',
    });
    await bot.queue.cancel(running, { userId: 'u0', privileged: false });
  });

  it('holds a server to its maxJobs, and lets a lapsed reservation go', async () => {
    const { bot } = await cluster({ msPerIter: 5 }, { maxJobsPerGuild: (g) => (g === 'g1' ? 1 : undefined), reservationTtlMs: 300 });
    const held = await bot.queue.reserve({ userId: 'alice', guildId: 'g1' });
    expect(await bot.add('bob', { guildId: 'g1' })).toMatchObject({
      reason: 'guild-limit',
      message: 'This server already has 1 job in the queue, its limit. Please try again when one has finished.',
    });
    expect(await bot.add('bob', { guildId: 'g2' })).toEqual(expect.any(String));
    await new Promise((r) => setTimeout(r, 400));
    // Lapsed: its place is free, and the next reservation says so in the log.
    const id = await bot.accept('carol', { guildId: 'g1' });
    expect(bot.logs().some((l) => l.msg === 'reservations lapsed without being submitted')).toBe(true);
    // A late submit of the lapsed one is admitted only if the caps hold now: the server is full.
    if (!('jobId' in held)) throw new Error('refused');
    expect(await bot.queue.submit(held, testInput(), { tag: 'late' })).toMatchObject({ accepted: false, reason: 'guild-limit' });
    await bot.record(id).ended;
  });

  it('refuses with “the engine is restarting” while no worker is online', async () => {
    const p = prefix();
    const bot = await startBot(server, p);
    onTestFinished(() => bot.queue.shutdown());
    const message = 'The engine is restarting. Please try again in a minute.';
    expect(await bot.queue.health()).toEqual({ ok: false, message });
    expect(await bot.add('alice')).toEqual({ accepted: false, reason: 'engine-restarting', message });
    const { worker } = await startWorker(server, p);
    onTestFinished(() => worker.close());
    await until(async () => (await bot.queue.health()).ok, 5_000, 'the worker to be seen');
    expect(await bot.add('alice')).toEqual(expect.any(String));
  });

  it('validates its options in the constructor, naming what was expected and what came', () => {
    expect(
      () =>
        new RedisQueue({ url: server.url, prefix: 'x', dataTtlMs: 1000, maxQueue: 5, maxJobsPerUser: 0, timeoutMs: 1000, maxSize: 512, maxIterations: 10, previewEveryMs: 1000 }),
    ).toThrow('Expected RedisQueue option `maxJobsPerUser` to be a whole number from 1 up, got 0');
  });
});

describe('RedisQueue failures', () => {
  it('passes the worker’s failure on once, and reports the out-of-memory retry and the engine restart', async () => {
    const { bot } = await cluster({
      msPerIter: 2,
      fail: (job) => (job.settings.seed === 7 ? { code: 'invalid-request', message: 'The style image is too small.' } : undefined),
      oomAbove: 400,
      dieAt: (job) => (job.settings.seed === 8 ? 2 : undefined),
    });
    const bad = await bot.accept('alice', { seed: 7 });
    expect(await bot.record(bad).ended).toEqual({ type: 'failed', failure: { code: 'invalid-request', message: 'The style image is too small.' } });
    expect(bot.record(bad).events).toEqual(['queued:1', 'failed:invalid-request']);
    const big = await bot.accept('bob', { size: 512, seed: 8 });
    expect(await bot.record(big).ended).toMatchObject({ type: 'completed', result: { retriedAtSize: 358 } });
    expect(bot.record(big).events).toEqual(['queued:1', 'started', 'retrying:358', 'started:restarted', 'completed']);
    const totals = (await bot.queue.snapshot()).totals;
    expect(totals.failed.count).toBe(1);
    expect(totals.completed.count).toBe(1);
  });
});

describe('RedisQueue snapshot', () => {
  it('shows the cluster: what runs with its progress, the line, the asking user’s jobs, the workers, totals', async () => {
    const { bot, worker } = await cluster({ msPerIter: 5, workers: 1 });
    const running = await bot.accept('alice', { iterations: 1000 });
    const waiting = await bot.accept('bob');
    await progressed(bot, running, 2);
    const snap = await bot.queue.snapshot({ userId: 'bob' });
    expect(snap).toMatchObject({
      accepting: true,
      maxQueue: 20,
      running: [{ id: running, userId: 'alice', size: 256, iterations: 1000, stopping: false }],
      waiting: [{ id: waiting, userId: 'bob', position: 1 }],
      user: { userId: 'bob', jobs: [{ id: waiting, state: 'queued', position: 1 }] },
      workers: [{ id: `${worker.id}/fake:0`, backend: { name: 'cpu', device: 'fake' } }],
    });
    expect(snap.running[0]!.progress!.iteration).toBeGreaterThanOrEqual(1);
    expect(snap.running[0]!.elapsedMs).toBeGreaterThanOrEqual(0);
    await bot.queue.cancel(running, { userId: 'alice', privileged: false });
    await bot.record(waiting).ended;
    const after = await bot.queue.snapshot();
    expect(after.totals.completed.count).toBe(1);
    expect(after.totals.cancelled.count).toBe(1);
    expect(after.running).toEqual([]);
  });
});

describe('RedisQueue worker shutdown', () => {
  it('puts a running job back at the head of the line after the grace period; another worker restarts it', async () => {
    const p = prefix();
    const first = await startWorker(server, p, { msPerIter: 10 }, { shutdownGraceMs: 100 });
    const bot = await startBot(server, p);
    onTestFinished(() => bot.queue.shutdown());
    const id = await bot.accept('alice', { iterations: 300 });
    await progressed(bot, id, 2);
    await first.worker.close();
    expect(first.runner.calls[0]!.outcome).toBe('cancelled');
    const second = await startWorker(server, p, { msPerIter: 1 });
    onTestFinished(() => second.worker.close());
    expect(await bot.record(id).ended).toMatchObject({ type: 'completed' });
    expect(bot.record(id).events).toEqual(['queued:1', 'started', 'started:restarted', 'completed']);
    expect(second.runner.calls.map((c) => c.job.id)).toEqual([id]);
  });
});

describe('RedisQueue lost locks', () => {
  it('a worker whose job was given to another (its lock lapsed) stops its own run; the job ends once', async () => {
    const { bot, runner, prefix: p } = await cluster({ msPerIter: 10 });
    const id = await bot.accept('alice', { iterations: 150 });
    await progressed(bot, id, 2);
    // What the stalled check leaves when another worker has taken the job: the lock holds that worker's token.
    const redis = new Redis(server.url);
    onTestFinished(() => redis.disconnect());
    await redis.set(`${p}:stylize:${id}:lock`, 'another-worker', 'PX', 800);
    await until(() => runner.calls[0]!.outcome !== 'running', 5_000, 'the superseded run to stop');
    expect(runner.calls[0]!.outcome).toBe('cancelled');
    expect(runner.calls[0]!.lastIteration).toBeLessThan(150);
    // The "other worker" never finishes it: its lock lapses, and the stalled check restarts the job.
    expect(await bot.record(id).ended).toMatchObject({ type: 'completed' });
    expect(bot.record(id).events).toEqual(['queued:1', 'started', 'started:restarted', 'completed']);
    await new Promise((r) => setTimeout(r, 300));
    expect(bot.record(id).finals).toHaveLength(1);
  });
});

describe('RedisQueue with Redis down', () => {
  it('refuses at once with one line while Redis is unreachable, then reconnects by itself; nothing waiting is lost', async () => {
    const { bot, prefix: p } = await cluster({ msPerIter: 10 }, {}, { lockDurationMs: 10_000 });
    const running = await bot.accept('alice', { iterations: 60 });
    const waiting = await bot.accept('bob', { iterations: 3 });
    await progressed(bot, running, 1);
    const downloading = await bot.queue.reserve({ userId: 'dave', guildId: undefined });
    if (!('jobId' in downloading)) throw new Error('refused');
    await server.stop();
    await until(async () => !(await bot.queue.health()).ok, 5_000, 'the bot to notice');
    const message = 'The queue is unavailable right now. Please try again in a moment.';
    expect(await bot.queue.health()).toEqual({ ok: false, message });
    const t0 = performance.now();
    expect(await bot.queue.reserve({ userId: 'carol', guildId: undefined })).toEqual({ accepted: false, reason: 'unavailable', message });
    expect(performance.now() - t0).toBeLessThan(200);
    await expect(bot.queue.snapshot()).rejects.toThrow(message);
    await expect(bot.queue.cancel(waiting, { userId: 'bob', privileged: false })).rejects.toThrow(message);
    // A request whose images were downloading is refused too, and its place is given back once Redis is back.
    expect(await bot.queue.submit(downloading, testInput(), { tag: 'dave' })).toEqual({ accepted: false, reason: 'unavailable', message });
    await new Promise((r) => setTimeout(r, 300));
    await server.restart();
    await until(async () => (await bot.queue.health()).ok, 15_000, 'the bot to reconnect');
    expect(await bot.record(running).ended).toMatchObject({ type: 'completed' });
    expect(await bot.record(waiting).ended).toMatchObject({ type: 'completed' });
    expect(bot.record(running).finals).toHaveLength(1);
    expect(bot.record(waiting).finals).toHaveLength(1);
    expect(await bot.add('carol')).toEqual(expect.any(String));
    // Not held until it lapses (10 minutes): dave may ask again at once.
    await until(async () => typeof (await bot.add('dave')) === 'string', 3_000, 'dave’s place to be given back');
    expect(bot.logs().some((l) => l.msg === 'reconnected to Redis')).toBe(true);
    await until(async () => Object.keys(await leftoverJobKeys(server, p)).length === 0, 10_000, 'cleanup');
  });
});

describe('RedisQueue leaves nothing behind', () => {
  it('has no job data in Redis once every job has ended: completed, failed, cancelled waiting and running', async () => {
    const { bot, prefix: p } = await cluster(
      { msPerIter: 5, fail: (job) => (job.settings.seed === 3 ? { code: 'invalid-request', message: 'no' } : undefined) },
      { maxJobsPerUser: 5 },
    );
    const running = await bot.accept('a', { iterations: 1000 });
    const waiting = await bot.accept('b');
    const failing = await bot.accept('c', { seed: 3 });
    const fine = await bot.accept('d', { iterations: 2 });
    const released = await bot.queue.reserve({ userId: 'e', guildId: undefined });
    if ('jobId' in released) await bot.queue.release(released);
    await progressed(bot, running);
    // While jobs are live their data is there (so this test can fail).
    expect(Object.keys(await leftoverJobKeys(server, p)).length).toBeGreaterThan(3);
    await bot.queue.cancel(waiting, { userId: 'b', privileged: false });
    await bot.queue.cancel(running, { userId: 'a', privileged: false });
    await Promise.all([running, waiting, failing, fine].map((id) => bot.record(id).ended));
    await until(async () => Object.keys(await leftoverJobKeys(server, p)).length === 0, 5_000, 'cleanup').catch(() => undefined);
    expect(await leftoverJobKeys(server, p)).toEqual({});
    const redis = new Redis(server.url);
    onTestFinished(() => redis.disconnect());
    expect(await redis.hlen(`${p}:ended`)).toBe(0);
  });
});
