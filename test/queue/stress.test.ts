import { getEventListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import { UserFacingError } from '../../src/errors/user-facing-error.ts';
import type { Job, JobOutcome } from '../../src/queue/index.ts';
import { seededRandom } from '../helpers/tiny-vgg.ts';
import { createFakeEngine, testRequest } from './fake-engine.ts';
import { makeQueue, trackAbortSignals, trackTimers } from './helpers.ts';

interface Tracked {
  index: number;
  job: Job;
  events: string[];
  terminal: number;
  outcome?: JobOutcome;
}

const CONCURRENCY = 2;
const MAX_QUEUE = 60;
const PER_USER = 3;

describe('JobQueue under load', () => {
  it('200 jobs from 30 users: every accepted job ends exactly once, in order, leaving nothing behind', async () => {
    const random = seededRandom(7);
    const timers = trackTimers();
    onTestFinished(() => timers.stop());
    const controllers = trackAbortSignals();
    onTestFinished(() => controllers.stop());
    // Sizes pick the fate: 301 breaks the engine, 500 runs out of memory once, 77 is an unreadable upload.
    const engine = createFakeEngine({
      msPerIter: 1,
      oomAbove: 450,
      fail: (request) => (request.content.width === 301 ? new Error('engine bug') : undefined),
    });
    const { queue } = makeQueue(engine, {
      concurrency: CONCURRENCY,
      maxQueue: MAX_QUEUE,
      maxJobsPerUser: PER_USER,
    });

    const tracked: Tracked[] = [];
    const refusals: Record<string, number> = {};
    const activeByUser = new Map<string, number>();
    const startOrder: number[] = [];
    let maxWaiting = 0;
    let mostLineListeners = 0;

    for (let i = 0; i < 200; i++) {
      const userId = `user${Math.floor(random() * 30)}`;
      const roll = random();
      const size = roll < 0.05 ? 301 : roll < 0.1 ? 500 : roll < 0.15 ? 77 : 256;
      const request = testRequest(userId, { size, iterations: 1 + Math.floor(random() * 4) });
      if (size === 77) request.prepare = () => Promise.reject(new UserFacingError('That file is not an image.'));

      const waitingBefore = queue.snapshot().queuedCount;
      const activeBefore = activeByUser.get(userId) ?? 0;
      const entry: Partial<Tracked> & { events: string[]; terminal: number } = { index: i, events: [], terminal: 0 };
      const end = (what: string) => {
        entry.events.push(what);
        entry.terminal++;
        activeByUser.set(userId, (activeByUser.get(userId) ?? 1) - 1);
      };
      const result = queue.submit(request, {
        queued: (p) => entry.events.push(`queued:${p}`),
        position: (p) => entry.events.push(`position:${p}`),
        started: () => {
          entry.events.push('started');
          startOrder.push(i);
        },
        retrying: () => entry.events.push('retrying'),
        completed: () => end('completed'),
        failed: (e) => end(`failed:${e.kind}`),
        cancelled: (by) => end(`cancelled:${by}`),
      });

      if (!result.accepted) {
        refusals[result.reason] = (refusals[result.reason] ?? 0) + 1;
        // Refused only for a reason that really held.
        if (result.reason === 'user-limit') expect(activeBefore).toBeGreaterThanOrEqual(PER_USER);
        else expect(waitingBefore).toBeGreaterThanOrEqual(MAX_QUEUE);
      } else {
        expect(activeBefore).toBeLessThan(PER_USER);
        activeByUser.set(userId, activeBefore + 1);
        entry.job = result.job;
        tracked.push(entry as Tracked);
        void result.job.done.then((outcome) => (entry.outcome = outcome));
      }
      const { queuedCount } = queue.snapshot();
      maxWaiting = Math.max(maxWaiting, queuedCount);
      // p-queue holds exactly the jobs the line shows, and never runs more than CONCURRENCY.
      expect(queue.slots.size).toBe(queuedCount);
      expect(queue.slots.pending).toBeLessThanOrEqual(CONCURRENCY);
      const listening = controllers.signals.filter((signal) => getEventListeners(signal, 'abort').length > 0);
      mostLineListeners = Math.max(mostLineListeners, listening.length);

      // Now and then somebody cancels something: their own job, or an admin anyone's.
      if (random() < 0.15 && tracked.length > 0) {
        const victim = tracked[Math.floor(random() * tracked.length)]!.job;
        const admin = random() < 0.3;
        const expected = victim.isFinished ? 'already-finished' : 'cancelled';
        const answer = queue.cancel(victim.id, { userId: admin ? 'mod' : victim.userId, privileged: admin });
        expect(answer).toBe(expected);
      }
      // Submissions arrive in bursts while jobs run.
      if (random() < 0.3) await sleep(Math.floor(random() * 4));
    }

    await Promise.all(tracked.map((t) => t.job.done));
    await new Promise((r) => setImmediate(r));

    const outcomes = tracked.map((t) => t.outcome!.state);
    const count = (state: string) => outcomes.filter((s) => s === state).length;
    // Enough of everything happened for this to mean something.
    expect(tracked.length).toBeGreaterThan(100);
    expect(refusals['user-limit']).toBeGreaterThan(0);
    expect(refusals['queue-full']).toBeGreaterThan(0);
    expect(tracked.filter((t) => t.events.includes('retrying')).length).toBeGreaterThan(0);
    expect(count('completed')).toBeGreaterThan(50);
    expect(count('failed')).toBeGreaterThan(5);
    expect(count('cancelled')).toBeGreaterThan(5);
    expect(maxWaiting).toBeLessThanOrEqual(MAX_QUEUE);
    // While jobs waited, their signals did carry listeners, so the check below for none left can fail.
    expect(mostLineListeners).toBeGreaterThan(10);

    for (const t of tracked) {
      // Exactly one ending, the one `done` reports, and nothing after it.
      expect(t.terminal, `job ${t.index}: ${t.events.join(' ')}`).toBe(1);
      expect(t.events.at(-1)).toMatch(new RegExp(`^${t.outcome!.state}`));
      expect(t.events.filter((e) => e === 'started').length).toBeLessThanOrEqual(1);
      // Positions only ever go down, and a job starts only from the front of the line.
      const positions = t.events.filter((e) => /^(queued|position):/.test(e)).map((e) => Number(e.split(':')[1]));
      for (let k = 1; k < positions.length; k++) expect(positions[k]).toBeLessThan(positions[k - 1]!);
      if (t.events.includes('started')) expect(positions.at(-1)).toBe(1);
      expect(t.job.listenerCount()).toBe(0);
    }
    // First come, first served.
    expect(startOrder).toEqual([...startOrder].sort((a, b) => a - b));

    const snap = queue.snapshot();
    expect(snap.running).toEqual([]);
    expect(snap.waiting).toEqual([]);
    expect(snap.queuedCount).toBe(0);
    expect(snap.totals.completed.count).toBe(count('completed'));
    expect(snap.totals.failed.count).toBe(count('failed'));
    expect(snap.totals.cancelled.count).toBe(count('cancelled'));
    const { completed, failed, cancelled } = snap.totals;
    expect(completed.count + failed.count + cancelled.count).toBe(tracked.length);
    // p-queue itself is empty and idle.
    expect(queue.slots).toEqual({ size: 0, pending: 0 });
    // One signal per accepted job (its place in p-queue's line) and one per started run; none keeps a listener.
    const started = tracked.filter((t) => t.events.includes('started')).length;
    expect(controllers.signals).toHaveLength(tracked.length + started);
    const leftListening = controllers.signals.filter((signal) => getEventListeners(signal, 'abort').length > 0);
    expect(leftListening).toEqual([]);
    expect(engine.maxLive).toBeLessThanOrEqual(CONCURRENCY);
    expect(engine.live).toBe(0);
    expect(engine.held).toBe(0);
    expect(engine.calls.every((c) => getEventListeners(c.signal!, 'abort').length === 0)).toBe(true);
    expect(timers.pending()).toBe(0);
    await queue.shutdown();
    expect(timers.pending()).toBe(0);
  });
});
