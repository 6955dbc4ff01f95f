import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { InteractionHandle } from '../../fake-discord/index.ts';
import { hasSharedVgg19, SHARED_VGG19 } from '../../helpers/shared-data.ts';
import { artwork, jobIdIn, photo, startHarness, waitForEdit, type Harness } from './harness.ts';

/**
 * The bot with its engine in worker processes: it answers while a worker computes, refuses new jobs while no
 * worker is alive, and leaves no worker behind. Real processes, real signals.
 */

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

/** The pids of the bot's engine workers, from /queue's view of them (`host:pid`). */
async function workerPids(h: Harness): Promise<number[]> {
  const { workers } = await h.bot.context.queue.snapshot();
  return workers.map((w) => Number(w.id.split(':').at(-1)));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls `check` (the queue's state is no change the fake sees) until it holds. */
async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Time from dispatch to the bot's first answer, as Discord would measure it. */
async function acknowledged(dispatch: () => InteractionHandle): Promise<{ ms: number; handle: InteractionHandle }> {
  const started = performance.now();
  const handle = dispatch();
  await handle.waitForResponse(10_000);
  return { ms: performance.now() - started, handle };
}

describe('engine worker processes', () => {
  it.skipIf(!hasSharedVgg19)(
    'while a real 256 px job keeps the worker busy, /queue and Cancel are acknowledged within a second',
    async () => {
      harness = await startHarness({ VGG19_WEIGHTS: SHARED_VGG19, ENGINE_BACKEND: 'onnx', ENGINE_THREADS: '1' });
      const { fake } = harness;
      const alice = fake.addUser('alice');
      const content = await fake.cdn.add(await photo(256, 192), { filename: 'photo.jpg' });
      const style = await fake.cdn.add(await artwork(), { filename: 'art.png' });
      const job = fake.interactions.slashCommand({ name: 'stylize', user: alice, options: { content, style, size: 256, iterations: 40 } });
      const running = await waitForEdit(fake, job, '🎨 Stylizing ·', 60_000);
      const jobId = jobIdIn((running.json as { content?: string }).content);

      const latencies: number[] = [];
      for (let i = 0; i < 3; i++) {
        const { ms } = await acknowledged(() => fake.interactions.slashCommand({ name: 'queue', user: fake.addUser(`asker${i}`) }));
        latencies.push(ms);
      }
      const cancel = await acknowledged(() =>
        fake.interactions.button({ customId: `cancel:${jobId}`, message: job.originalMessage()!, user: alice }),
      );
      latencies.push(cancel.ms);
      expect(Math.max(...latencies)).toBeLessThan(1000);
      // The cancel reached the worker, which stopped within an iteration.
      await waitForEdit(fake, job, '🛑 Cancelled.', 30_000);
      expect(fake.internalErrors).toEqual([]);
    },
    120_000,
  );

  it('refuses /stylize privately while no engine worker is alive, and takes jobs again once one is back', async () => {
    harness = await startHarness();
    const { fake, bot } = harness;
    const content = await fake.cdn.add(await photo(), { filename: 'photo.jpg' });
    const style = await fake.cdn.add(await artwork(), { filename: 'art.png' });
    const [pid] = await workerPids(harness);
    process.kill(pid!, 'SIGKILL');
    await until(async () => !(await bot.context.queue.health()).ok, 10_000, 'the engine to be down');

    const refused = fake.interactions.slashCommand({ name: 'stylize', options: { content, style, size: 128, iterations: 3 } });
    const answer = (await refused.waitForResponse()).json as { type: number; data: { content: string; flags: number } };
    expect(answer).toMatchObject({ type: 4, data: { content: 'The engine is restarting. Please try again in a minute.', flags: 64 } });

    await until(async () => (await bot.context.queue.health()).ok, 30_000, 'a fresh engine worker');
    expect(await workerPids(harness)).not.toContain(pid);
    const accepted = fake.interactions.slashCommand({ name: 'stylize', options: { content, style, size: 128, iterations: 3 } });
    expect((await accepted.waitForResponse()).json).toMatchObject({ type: 5 });
    await waitForEdit(fake, accepted, '✅', 60_000);
  }, 120_000);

  it('stops with a running job and leaves no engine worker process', async () => {
    harness = await startHarness({ SHUTDOWN_GRACE_SECONDS: '0' });
    const { fake } = harness;
    const content = await fake.cdn.add(await photo(), { filename: 'photo.jpg' });
    const style = await fake.cdn.add(await artwork(), { filename: 'art.png' });
    const job = fake.interactions.slashCommand({ name: 'stylize', options: { content, style, size: 256, iterations: 1000 } });
    await waitForEdit(fake, job, '🎨 Stylizing ·', 60_000);
    const pids = await workerPids(harness);
    expect(pids.length).toBeGreaterThan(0);
    expect(pids.every(alive)).toBe(true);

    await harness.close();
    harness = undefined;
    // No worker in the process table (a zombie counts as gone: it has exited).
    expect(pids.filter(alive).filter((pid) => !/\bZ\b/.test(processState(pid)))).toEqual([]);
    expect(job.originalMessage()?.data.content).toMatch(/^🔁 The bot is restarting/);
  }, 120_000);
});

function processState(pid: number): string {
  try {
    // /proc/<pid>/stat: "pid (comm) S …"; the state follows the closing parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return 'gone';
  }
}
