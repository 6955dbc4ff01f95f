import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { Refusal, Reservation } from '../../../src/queue/contract.ts';
import { WORKER_DIED_TWICE_MESSAGE } from '../../../src/queue/messages.ts';
import { startRedis, type RedisServer } from './redis-server.ts';
import {
  forkBot,
  leftoverJobKeys,
  spawnWorker,
  startBot,
  startWorker,
  until,
  type BotEvent,
  type BotProcess,
  type WorkerProcess,
} from './harness.ts';

/**
 * The cluster across real processes: bot processes (RedisQueue in a child, driven over IPC) and worker processes
 * (the consumer with a stand-in runner), killed with SIGKILL where the fault calls for it.
 */

let server: RedisServer;
let prefixes = 0;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server?.dispose();
});

function prefix(): string {
  return `c${++prefixes}`;
}

function killOnFinish(...processes: (BotProcess | WorkerProcess)[]): void {
  onTestFinished(async () => {
    for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(processes.map((p) => p.exited));
  });
}

const finals = (events: BotEvent[], jobId?: string) =>
  events.filter((e) => (jobId === undefined || e.jobId === jobId) && (e.type === 'completed' || e.type === 'failed' || e.type === 'cancelled'));

describe('two bot processes at once', () => {
  it('hold MAX_JOBS_PER_USER, the per-server cap and MAX_QUEUE between them', async () => {
    const p = prefix();
    const worker = await startWorker(server, p, { msPerIter: 50 });
    onTestFinished(() => worker.worker.close());
    const config = { options: { maxJobsPerUser: 2, maxQueue: 5 }, guildCaps: { g1: 3 } };
    const [a, b] = await Promise.all([forkBot(server, p, config), forkBot(server, p, config)]);
    killOnFinish(a, b);
    type Reply = Reservation | Refusal;
    const burst = async (owners: (tag: string) => { userId: string; guildId: string }[]) => {
      const [fromA, fromB] = await Promise.all([a.call<Reply[]>({ op: 'burst', owners: owners('a') }), b.call<Reply[]>({ op: 'burst', owners: owners('b') })]);
      const all = [...fromA, ...fromB];
      const refused = (reason: string) => all.filter((r): r is Refusal => 'reason' in r && r.reason === reason);
      return { accepted: all.filter((r) => 'jobId' in r).length, refused };
    };

    // One user asks 12 times from each bot process at the same moment: MAX_JOBS_PER_USER is 2.
    const alice = await burst(() => Array.from({ length: 12 }, () => ({ userId: 'alice', guildId: 'g1' })));
    expect(alice.accepted).toBe(2);
    expect(alice.refused('user-limit')).toHaveLength(22);

    // 12 users of server g1 from each: its cap is 3, and alice holds 2 of them.
    const g1 = await burst((tag) => Array.from({ length: 12 }, (_, i) => ({ userId: `${tag}${i}`, guildId: 'g1' })));
    expect(g1.accepted).toBe(1);
    expect(g1.refused('guild-limit')).toHaveLength(23);

    // 12 users of another server from each: 5 may wait (MAX_QUEUE), plus one for the worker's free slot; 3 held.
    const g2 = await burst((tag) => Array.from({ length: 12 }, (_, i) => ({ userId: `${tag}${i}`, guildId: 'g2' })));
    expect(g2.accepted).toBe(3);
    expect(g2.refused('queue-full')).toHaveLength(21);
    expect(g2.refused('queue-full')[0]!.message).toBe(
      'The queue is full right now (5 jobs waiting, you would be 6th). Please try again in a few minutes.',
    );
  });
});

describe('delivery', () => {
  it('delivers every job’s end exactly once with two bot processes alive, from the bot that submitted it', async () => {
    const p = prefix();
    const [a, b] = await Promise.all([forkBot(server, p), forkBot(server, p)]);
    const workers = await Promise.all([spawnWorker(server, p, { msPerIter: 2 }), spawnWorker(server, p, { msPerIter: 2 })]);
    killOnFinish(a, b, ...workers);
    await Promise.all([a, b].map((bot) => until(async () => (await bot.call<{ workers: unknown[] }>({ op: 'snapshot' })).workers.length === 2, 10_000)));
    const owners = (tag: string) => Array.from({ length: 10 }, (_, i) => ({ userId: `${tag}${i}`, guildId: undefined }));
    const [fromA, fromB] = await Promise.all([
      a.call<{ jobId: string }[]>({ op: 'burst', owners: owners('a'), submit: true }),
      b.call<{ jobId: string }[]>({ op: 'burst', owners: owners('b'), submit: true }),
    ]);
    const ids = [...fromA, ...fromB].map((r) => r.jobId);
    expect(ids.every((id) => typeof id === 'string')).toBe(true);
    await until(() => finals([...a.events, ...b.events]).length >= 20, 20_000, 'every end');
    await new Promise((r) => setTimeout(r, 500));
    const all = finals([...a.events, ...b.events]);
    expect(all).toHaveLength(20);
    for (const id of ids) expect(finals(all, id)).toHaveLength(1);
    expect(finals(a.events).map((e) => e.jobId).sort()).toEqual(fromA.map((r) => r.jobId).sort());
    expect(all.every((e) => e.type === 'completed' && e.detail === 4)).toBe(true);
    // Progress went to the submitting bot only.
    expect(b.events.filter((e) => fromA.some((r) => r.jobId === e.jobId))).toEqual([]);
    await until(async () => Object.keys(await leftoverJobKeys(server, p)).length === 0, 5_000, 'cleanup');
  });

  it('a bot that dies while delivering: after restart, the result is delivered by the new bot process', async () => {
    const p = prefix();
    const worker = await startWorker(server, p, { msPerIter: 2 });
    onTestFinished(() => worker.worker.close());
    const hanging = await forkBot(server, p, { hangOnFinal: true });
    killOnFinish(hanging);
    const { jobId } = await hanging.call<{ jobId: string }>({ op: 'add', owner: { userId: 'alice' }, iterations: 3 });
    await hanging.nextEvent((e) => e.jobId === jobId && e.type === 'completed');
    hanging.child.kill('SIGKILL');
    await hanging.exited;
    // Its result is still in Redis, waiting for a bot.
    expect(Object.keys(await leftoverJobKeys(server, p))).toContain(`${p}:result:${jobId}`);
    const restarted = await startBot(server, p);
    onTestFinished(() => restarted.queue.shutdown());
    const end = await restarted.record(jobId).ended;
    expect(end).toMatchObject({ type: 'completed', result: { image: { bytes: new Uint8Array([0x89, 0x50, 0x4e, 0x47]) } } });
    await new Promise((r) => setTimeout(r, 500));
    expect(restarted.record(jobId).finals).toHaveLength(1);
    await until(async () => Object.keys(await leftoverJobKeys(server, p)).length === 0, 5_000, 'cleanup');
  });

  it('a bot restarted mid-job: the new process picks up the job’s progress and delivers its result', async () => {
    const p = prefix();
    const worker = await startWorker(server, p, { msPerIter: 15 });
    onTestFinished(() => worker.worker.close());
    const first = await forkBot(server, p);
    killOnFinish(first);
    const { jobId } = await first.call<{ jobId: string }>({ op: 'add', owner: { userId: 'alice' }, iterations: 300 });
    await first.nextEvent((e) => e.jobId === jobId && e.type === 'progress');
    first.child.kill('SIGKILL');
    await first.exited;
    const second = await startBot(server, p);
    onTestFinished(() => second.queue.shutdown());
    const end = await second.record(jobId).ended;
    expect(end).toMatchObject({ type: 'completed' });
    // It heard of the job only from Redis: progress while it ran, then the end, once.
    expect(second.record(jobId).progress).toBeGreaterThan(0);
    expect(second.record(jobId).finals).toHaveLength(1);
    expect(second.logs().some((l) => l.msg === 'forwarding the events of a job whose bot has gone' && l.jobId === jobId)).toBe(true);
  });
});

describe('worker processes', () => {
  it('cancel from the bot stops a job running in a worker process within one iteration', async () => {
    const p = prefix();
    // Its heartbeat (which also looks for missed cancels) rarely: the cancel must come through the channel.
    const worker = await spawnWorker(server, p, { msPerIter: 50 }, { heartbeatMs: 5_000 });
    killOnFinish(worker);
    const bot = await startBot(server, p);
    onTestFinished(() => bot.queue.shutdown());
    const id = await bot.accept('alice', { iterations: 10_000 });
    await until(() => bot.record(id).progress >= 3, 10_000, 'progress');
    const iterationAtCancel = bot.record(id).lastProgress!.iteration;
    expect(await bot.queue.cancel(id, { userId: 'alice', privileged: false })).toBe('cancelled');
    expect(await bot.record(id).ended).toEqual({ type: 'cancelled', by: 'owner' });
    const ended = await worker.next((r) => r.type === 'ended' && r.jobId === id);
    expect(ended).toMatchObject({ outcome: 'cancelled' });
    if (ended.type !== 'ended') throw new Error('unreachable');
    expect(ended.lastIteration - ended.iterationAtAbort!).toBeLessThanOrEqual(1);
    // Told at once (not at its next heartbeat): at most the iteration under way when the bot heard, and one more.
    expect(ended.lastIteration - iterationAtCancel).toBeLessThanOrEqual(2);
    expect(bot.record(id).events).toEqual(['queued:1', 'started', 'cancelled:owner']);
  });

  it('a worker killed mid-job: the job restarts on another worker, the user is told, and it ends once', async () => {
    const p = prefix();
    const workers = await Promise.all([spawnWorker(server, p, { msPerIter: 20 }), spawnWorker(server, p, { msPerIter: 20 })]);
    killOnFinish(...workers);
    const bot = await startBot(server, p);
    onTestFinished(() => bot.queue.shutdown());
    await until(async () => (await bot.queue.snapshot()).workers.length === 2, 10_000, 'both workers online');
    const id = await bot.accept('alice', { iterations: 60 });
    await until(() => bot.record(id).progress >= 2, 10_000, 'progress');
    const victim = workers.find((w) => w.reports.some((r) => r.type === 'started' && r.jobId === id))!;
    const survivor = workers.find((w) => w !== victim)!;
    victim.child.kill('SIGKILL');
    expect(await bot.record(id).ended).toMatchObject({ type: 'completed' });
    await survivor.next((r) => r.type === 'ended' && r.jobId === id);
    expect(bot.record(id).events).toContain('started:restarted');
    expect(bot.record(id).events.filter((e) => e.startsWith('started'))).toEqual(['started', 'started:restarted']);
    await new Promise((r) => setTimeout(r, 500));
    expect(bot.record(id).finals).toHaveLength(1);
  });

  it('a poison job that kills every worker fails after its one retry with a clear message, and never loops', async () => {
    const p = prefix();
    const poison = { msPerIter: 5, poisonSeed: 13 };
    const first = await spawnWorker(server, p, poison);
    killOnFinish(first);
    const bot = await startBot(server, p);
    onTestFinished(() => bot.queue.shutdown());
    await until(async () => (await bot.queue.health()).ok, 10_000, 'a worker online');
    const id = await bot.accept('alice', { seed: 13 });
    expect(await first.exited).toBe(null);
    const second = await spawnWorker(server, p, poison);
    killOnFinish(second);
    await second.exited;
    const third = await spawnWorker(server, p, poison);
    killOnFinish(third);
    expect(await bot.record(id).ended).toEqual({ type: 'failed', failure: { code: 'worker-crashed', message: WORKER_DIED_TWICE_MESSAGE } });
    // It ran on the first two workers only; the third found it failed and never started it.
    expect(first.reports.filter((r) => r.type === 'started')).toHaveLength(1);
    expect(second.reports.filter((r) => r.type === 'started')).toHaveLength(1);
    expect(third.reports.filter((r) => r.type === 'started')).toHaveLength(0);
    expect(bot.record(id).events).toEqual(['queued:1', 'failed:worker-crashed']);
    // The third worker still works.
    const fine = await bot.accept('bob');
    expect(await bot.record(fine).ended).toMatchObject({ type: 'completed' });
    await until(async () => Object.keys(await leftoverJobKeys(server, p)).length === 0, 5_000, 'cleanup');
  });
});
