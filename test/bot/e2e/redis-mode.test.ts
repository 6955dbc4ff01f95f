import { spawn, type ChildProcess } from 'node:child_process';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasSharedVgg19, REPO_ROOT, SHARED_VGG19 } from '../../helpers/shared-data.ts';
import { startRedis, type RedisServer } from '../../queue/redis/redis-server.ts';
import { artwork, bodyOf, ORIGINAL_EDITS, photo, startHarness, waitForEdit, type Harness } from './harness.ts';

/**
 * Scale-out end to end: the real bot (discord.js against the fake Discord) enqueues in a real redis-server, and two
 * `npm run worker` processes, started as an admin would on other machines, take the jobs. The workers load the
 * real weights (a worker accepts only real VGG19 files), so this runs only where ../shared has them.
 */

interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function startWorker(redisUrl: string): WorkerProcess {
  const child = spawn('npm', ['run', '--silent', 'worker'], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DOTENV_CONFIG_PATH: '/nonexistent',
      REDIS_URL: redisUrl,
      VGG19_WEIGHTS: SHARED_VGG19,
      ENGINE_WORKERS: '1',
      ENGINE_THREADS: '1',
      LOG_FORMAT: 'json',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: npm, tsx and node under it, and the engine workers, are stopped together.
    detached: true,
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output, exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))) };
}

let redis: RedisServer | undefined;
let workers: WorkerProcess[] = [];
let harness: Harness | undefined;

beforeAll(async () => {
  if (!hasSharedVgg19) return;
  redis = await startRedis();
  workers = [startWorker(redis.url), startWorker(redis.url)];
  harness = await startHarness({ REDIS_URL: redis.url, PROGRESS_INTERVAL_MS: '1000' });
}, 120_000);

/** SIGTERM to the worker's whole process group, as a service manager sends it; SIGKILL if it lingers. */
async function stopWorker(worker: WorkerProcess): Promise<void> {
  const group = -worker.child.pid!;
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(group, name);
    } catch {
      // Already gone.
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), 30_000);
  await worker.exited;
  clearTimeout(timer);
  signal('SIGKILL'); // anything left in the group (nothing, normally)
}

afterAll(async () => {
  await harness?.close();
  await Promise.all(workers.map(stopWorker));
  await redis?.dispose();
}, 90_000);

describe.skipIf(!hasSharedVgg19)('Redis mode: the bot and two `npm run worker` processes', () => {
  it('runs a job on a worker, with progress edits and the final image, and /queue shows both workers', async () => {
    const { fake } = harness!;
    await fake.waitUntil(
      () => workers.every((w) => /"msg":"worker ready: 1 engine worker/.test(w.output())),
      120_000,
      'both workers ready',
    );
    const status = fake.interactions.slashCommand({ name: 'queue' });
    const answer = (await status.waitForResponse()).json as { data: { content: string } };
    expect(answer.data.content).toMatch(/Workers: 2 online \(0 busy\)/);

    const content = await fake.cdn.add(await photo(160, 120), { filename: 'photo.jpg' });
    const style = await fake.cdn.add(await artwork(), { filename: 'art.png' });
    const command = fake.interactions.slashCommand({ name: 'stylize', options: { content, style, size: 128, iterations: 60 } });
    expect((await command.waitForResponse()).json).toMatchObject({ type: 5 });
    const final = await waitForEdit(fake, command, '✅', 120_000);

    const edits = fake.requestsTo('PATCH', ORIGINAL_EDITS).filter((r) => r.interactionId === command.id);
    expect(edits.some((r) => /iteration \d+\/60/.test(bodyOf(r).content ?? '') && r.files.length > 0)).toBe(true);
    const meta = await sharp(final.files[0]!.bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 128, 96]);
    // The job ran on one of the worker processes, not in the bot.
    const jobId = /job `([0-9A-Z]{6})`/.exec(bodyOf(final).content ?? '')![1]!;
    expect(workers.filter((w) => w.output().includes(jobId)).length).toBe(1);
    expect(fake.internalErrors).toEqual([]);
  }, 240_000);
});
