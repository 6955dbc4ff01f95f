import { getEventListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import { seededRandom } from '../helpers/tiny-vgg.ts';
import { makeQueue, trackAbortSignals, trackTimers } from './helpers.ts';

const WORKERS = 2;
const MAX_QUEUE = 60;
const PER_USER = 3;

describe('LocalQueue under load', () => {
  it('200 jobs from 30 users: every accepted job ends exactly once, in order, leaving nothing behind', async () => {
    const random = seededRandom(7);
    const timers = trackTimers();
    onTestFinished(() => timers.stop());
    const controllers = trackAbortSignals();
    onTestFinished(() => controllers.stop());
    // Sizes pick the fate: 301 fails in the engine, 500 runs out of memory once, 77 is killed mid-job once.
    const t = await makeQueue(
      {
        msPerIter: 1,
        workers: WORKERS,
        oomAbove: 450,
        fail: (job) => (job.content.width === 301 ? { code: 'internal', message: 'engine bug' } : undefined),
        dieAt: (job) => (job.content.width === 77 ? 1 : undefined),
      },
      { maxQueue: MAX_QUEUE, maxJobsPerUser: PER_USER },
    );

    const accepted: { index: number; id: string; userId: string }[] = [];
    const refusals: Record<string, number> = {};
    const activeByUser = new Map<string, number>();
    let maxWaiting = 0;
    let mostListening = 0;

    for (let i = 0; i < 200; i++) {
      const userId = `user${Math.floor(random() * 30)}`;
      const roll = random();
      const size = roll < 0.05 ? 301 : roll < 0.1 ? 500 : roll < 0.15 ? 77 : 256;
      const before = await t.queue.snapshot();
      const activeBefore = [...before.running, ...before.waiting].filter((j) => j.userId === userId).length;
      const result = await t.add(userId, { size, iterations: 1 + Math.floor(random() * 4) });
      if (typeof result !== 'string') {
        refusals[result.reason] = (refusals[result.reason] ?? 0) + 1;
        // Refused only for a reason that really held.
        if (result.reason === 'user-limit') expect(activeBefore).toBeGreaterThanOrEqual(PER_USER);
        else expect(before.waiting.length).toBeGreaterThanOrEqual(MAX_QUEUE);
      } else {
        expect(activeBefore).toBeLessThan(PER_USER);
        activeByUser.set(userId, activeBefore + 1);
        accepted.push({ index: i, id: result, userId });
        void t.record(result).ended;
      }
      const { waiting } = await t.queue.snapshot();
      maxWaiting = Math.max(maxWaiting, waiting.length);
      // p-queue holds exactly the jobs the line shows plus those running, and never runs more than WORKERS.
      const counts = t.queue.counts;
      expect(counts.lineSize).toBe(counts.waiting + counts.running);
      expect(t.runner.live).toBeLessThanOrEqual(WORKERS);
      const listening = controllers.signals.filter((signal) => getEventListeners(signal, 'abort').length > 0);
      mostListening = Math.max(mostListening, listening.length);

      // Now and then somebody cancels something: their own job, or an admin anyone's.
      if (random() < 0.15 && accepted.length > 0) {
        const victim = accepted[Math.floor(random() * accepted.length)]!;
        const admin = random() < 0.3;
        const expected = t.record(victim.id).finals.length > 0 ? 'already-finished' : 'cancelled';
        expect(await t.queue.cancel(victim.id, { userId: admin ? 'mod' : victim.userId, privileged: admin })).toBe(expected);
      }
      if (random() < 0.3) await sleep(Math.floor(random() * 4));
    }
    await Promise.all(accepted.map((a) => t.record(a.id).ended));
    await new Promise((r) => setImmediate(r));

    const finals = accepted.map((a) => t.record(a.id).finals);
    const count = (type: string) => finals.filter((f) => f[0]!.type === type).length;
    // Enough of everything happened for this to mean something.
    expect(accepted.length).toBeGreaterThan(100);
    expect(refusals['user-limit']).toBeGreaterThan(0);
    expect(refusals['queue-full']).toBeGreaterThan(0);
    expect(accepted.filter((a) => t.record(a.id).events.some((e) => e.startsWith('retrying'))).length).toBeGreaterThan(0);
    expect(accepted.filter((a) => t.record(a.id).events.includes('started:restarted')).length).toBeGreaterThan(0);
    expect(count('completed')).toBeGreaterThan(50);
    expect(count('failed')).toBeGreaterThan(5);
    expect(count('cancelled')).toBeGreaterThan(5);
    expect(maxWaiting).toBeLessThanOrEqual(MAX_QUEUE);
    expect(mostListening).toBeGreaterThan(10);

    for (const a of accepted) {
      const { events, finals: ends } = t.record(a.id);
      // Exactly one ending, and nothing after it.
      expect(ends, `job ${a.index}: ${events.join(' ')}`).toHaveLength(1);
      expect(events.at(-1)).toMatch(new RegExp(`^${ends[0]!.type}`));
      expect(events.filter((e) => e === 'started').length).toBeLessThanOrEqual(1);
      // Positions only ever go down, and a job starts only from the front of the line.
      const positions = events.filter((e) => /^(queued|position):/.test(e)).map((e) => Number(e.split(':')[1]));
      for (let k = 1; k < positions.length; k++) expect(positions[k]).toBeLessThan(positions[k - 1]!);
      if (events.includes('started') && positions.length > 0) expect(positions.at(-1)).toBe(1);
    }
    // First come, first served.
    const runOrder = t.runner.calls.map((c) => c.job.id);
    expect(runOrder).toEqual(accepted.filter((a) => runOrder.includes(a.id)).map((a) => a.id));

    const snap = await t.queue.snapshot();
    expect(snap.running).toEqual([]);
    expect(snap.waiting).toEqual([]);
    expect(snap.totals.completed.count).toBe(count('completed'));
    expect(snap.totals.failed.count).toBe(count('failed'));
    expect(snap.totals.cancelled.count).toBe(count('cancelled'));
    expect(t.queue.counts).toEqual({ waiting: 0, running: 0, reserved: 0, slots: WORKERS, lineSize: 0 });
    const leftListening = controllers.signals.filter((signal) => getEventListeners(signal, 'abort').length > 0);
    expect(leftListening).toEqual([]);
    expect(t.runner.maxLive).toBeLessThanOrEqual(WORKERS);
    expect(t.runner.live).toBe(0);
    expect(timers.pending()).toBe(0);
    await t.queue.shutdown();
    expect(timers.pending()).toBe(0);
  });
});
