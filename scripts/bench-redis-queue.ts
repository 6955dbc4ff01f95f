/**
 * Redis queue benchmarks (not timed tests), each against its own redis-server on a loopback port:
 *
 *   npx tsx scripts/bench-redis-queue.ts overhead [--jobs 200] [--size 512] [--json]
 *     One job at a time through a bot (this process) and a worker process with a near-instant stand-in engine:
 *     submit → start of work in the worker, and end of work → result in the bot's sink; p50, p99, max.
 *
 *   npx tsx scripts/bench-redis-queue.ts cluster [--jobs 500] [--users 50] [--bots 2] [--workers 3] [--cap 2] [--json]
 *     Every user keeps trying to have one more job than MAX_JOBS_PER_USER allows, through bot processes taking
 *     turns, while worker processes run a fast stand-in engine. Checks that every job ends exactly once, that no
 *     user ever holds more than the cap (sampled from Redis every 5 ms, and by the refusals), and that Redis holds
 *     no job data afterwards.
 *
 *   npx tsx scripts/bench-redis-queue.ts throughput --workers 1|2 [--jobs 4] [--size 256] [--iterations 10] [--json]
 *     The real engine: `npm run worker` processes (ENGINE_WORKERS=1 each) with ../shared/vgg19-uint8, and jobs of
 *     a real photo and artwork; wall time from the first submit to the last result. Run it with 1 and with 2
 *     workers, side by side, and compare.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { RedisQueue } from '../src/queue/redis-queue.ts';
import type { JobEvent, JobInput, Refusal, Reservation } from '../src/queue/contract.ts';
import { testInput } from '../test/queue/helpers.ts';
import { startRedis, type RedisServer } from '../test/queue/redis/redis-server.ts';
import { forkBot, leftoverJobKeys, spawnWorker, FAST_BOT, type BotEvent, type WorkerReport } from '../test/queue/redis/harness.ts';
import { REPO_ROOT } from '../test/helpers/shared-data.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    jobs: { type: 'string' },
    size: { type: 'string' },
    users: { type: 'string', default: '50' },
    bots: { type: 'string', default: '2' },
    workers: { type: 'string', default: '3' },
    cap: { type: 'string', default: '2' },
    iterations: { type: 'string', default: '10' },
    json: { type: 'boolean', default: false },
  },
});
const mode = positionals[0] ?? 'overhead';
const now = () => performance.timeOrigin + performance.now();

function percentiles(samples: number[]): { p50: number; p99: number; max: number; n: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  const round = (ms: number) => Math.round(ms * 10) / 10;
  return { p50: round(at(0.5)), p99: round(at(0.99)), max: round(sorted.at(-1)!), n: sorted.length };
}

function print(result: Record<string, unknown>): void {
  if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

async function overhead(server: RedisServer): Promise<void> {
  const jobs = Number(values.jobs ?? 200);
  const size = Number(values.size ?? 512);
  const prefix = 'bench-overhead';
  const worker = await spawnWorker(server, prefix, { msPerIter: 0 }, { progressEveryMs: 200 });
  const results = new Map<string, { at: number; event: JobEvent }>();
  const queue = new RedisQueue<null>({
    url: server.url,
    prefix,
    maxQueue: 100,
    maxJobsPerUser: 1,
    timeoutMs: 60_000,
    maxSize: 2048,
    maxIterations: 1000,
    previewEveryMs: 1000,
    dataTtlMs: 600_000,
    ...FAST_BOT,
  });
  const waiters = new Map<string, () => void>();
  await queue.start((job, event) => {
    if (event.type === 'completed' || event.type === 'failed' || event.type === 'cancelled') {
      results.set(job.jobId, { at: now(), event });
      waiters.get(job.jobId)?.();
    }
  });
  while ((await queue.health()).ok === false) await new Promise((r) => setTimeout(r, 50));
  const input: JobInput = { ...testInput(size, 1) };
  const toStart: number[] = [];
  const toResult: number[] = [];
  const total: number[] = [];
  for (let i = 0; i < jobs + 10; i++) {
    const reserved = await queue.reserve({ userId: 'bench', guildId: undefined });
    if (!('jobId' in reserved)) throw new Error(reserved.message);
    const done = new Promise<void>((resolve) => waiters.set(reserved.jobId, resolve));
    const submittedAt = now();
    const submitted = await queue.submit(reserved, input, null);
    if (!submitted.accepted) throw new Error(submitted.message);
    await done;
    const started = (await worker.next((r) => r.type === 'started' && r.jobId === reserved.jobId)) as Extract<WorkerReport, { type: 'started' }>;
    const ended = (await worker.next((r) => r.type === 'ended' && r.jobId === reserved.jobId)) as Extract<WorkerReport, { type: 'ended' }>;
    const result = results.get(reserved.jobId)!;
    if (result.event.type !== 'completed') throw new Error(`job ended ${result.event.type}`);
    if (i < 10) continue; // warm-up: connections, scripts, JIT
    toStart.push(started.at - submittedAt);
    toResult.push(result.at - ended.at);
    total.push(result.at - submittedAt);
  }
  await queue.shutdown();
  worker.child.kill('SIGTERM');
  await worker.exited;
  print({
    mode: 'overhead',
    jobs,
    imageSide: size,
    submitToStartMs: percentiles(toStart),
    endToResultMs: percentiles(toResult),
    submitToResultMs: percentiles(total),
  });
}

async function cluster(server: RedisServer): Promise<void> {
  const jobs = Number(values.jobs ?? 500);
  const users = Number(values.users);
  const cap = Number(values.cap);
  const prefix = 'bench-cluster';
  const options = { maxJobsPerUser: cap, maxQueue: 10_000 };
  const bots = await Promise.all(Array.from({ length: Number(values.bots) }, () => forkBot(server, prefix, { options })));
  const workers = await Promise.all(Array.from({ length: Number(values.workers) }, () => spawnWorker(server, prefix, { msPerIter: 2 })));
  while ((await bots[0]!.call<{ workers: unknown[] }>({ op: 'snapshot' })).workers.length < workers.length) {
    await new Promise((r) => setTimeout(r, 50));
  }

  // Sample every user's live jobs straight from Redis.
  const sampler = new Redis(server.url);
  let maxHeld = 0;
  let sampling = true;
  const sampled = (async () => {
    while (sampling) {
      const pipeline = sampler.pipeline();
      for (let u = 0; u < users; u++) pipeline.zcard(`${prefix}:user:u${u}`);
      for (const [, n] of (await pipeline.exec()) ?? []) maxHeld = Math.max(maxHeld, Number(n));
      await new Promise((r) => setTimeout(r, 5));
    }
  })();

  const finals = new Map<string, BotEvent[]>();
  const endWaiters = new Map<string, () => void>();
  for (const bot of bots) {
    bot.child.on('message', (message: { event?: BotEvent }) => {
      const e = message.event;
      if (!e || (e.type !== 'completed' && e.type !== 'failed' && e.type !== 'cancelled')) return;
      finals.set(e.jobId, [...(finals.get(e.jobId) ?? []), e]);
      endWaiters.get(e.jobId)?.();
    });
  }
  let turn = 0;
  let accepted = 0;
  let userLimitRefusals = 0;
  let otherRefusals = 0;
  const started = now();
  const perUser = Math.ceil(jobs / users);
  // Each user runs cap + 1 lanes: one more than the cap allows, so that the cap is always being pushed.
  const lane = async (user: string, quota: { left: number }) => {
    while (quota.left > 0) {
      quota.left--;
      const bot = bots[turn++ % bots.length]!;
      const reply = await bot.call<{ jobId: string } | Refusal>({ op: 'add', owner: { userId: user }, iterations: 5 });
      if ('jobId' in reply) {
        accepted++;
        await new Promise<void>((resolve) => (finals.has(reply.jobId) ? resolve() : endWaiters.set(reply.jobId, resolve)));
      } else {
        quota.left++;
        if (reply.reason === 'user-limit') userLimitRefusals++;
        else otherRefusals++;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  await Promise.all(
    Array.from({ length: users }, (_, u) => {
      const quota = { left: perUser };
      return Promise.all(Array.from({ length: cap + 1 }, () => lane(`u${u}`, quota)));
    }),
  );
  const wallMs = now() - started;
  await new Promise((r) => setTimeout(r, 1_000));
  sampling = false;
  await sampled;
  sampler.disconnect();
  const counts = [...finals.values()].map((list) => list.length);
  const leftover = await leftoverJobKeys(server, prefix);
  for (const bot of bots) bot.child.kill('SIGTERM');
  for (const worker of workers) worker.child.kill('SIGTERM');
  await Promise.all([...bots.map((b) => b.exited), ...workers.map((w) => w.exited)]);
  print({
    mode: 'cluster',
    bots: bots.length,
    workers: workers.length,
    users,
    cap,
    accepted,
    ended: finals.size,
    endedOnce: counts.filter((n) => n === 1).length,
    endedMoreThanOnce: counts.filter((n) => n > 1).length,
    completed: [...finals.values()].filter((l) => l[0]!.type === 'completed').length,
    maxJobsOfOneUserInRedis: maxHeld,
    userLimitRefusals,
    otherRefusals,
    wallSeconds: Math.round(wallMs / 100) / 10,
    jobsPerSecond: Math.round((accepted / wallMs) * 1000 * 10) / 10,
    leftoverJobKeys: Object.keys(leftover),
  });
}

async function throughput(server: RedisServer): Promise<void> {
  const weights = path.resolve(REPO_ROOT, '../shared/vgg19-uint8');
  if (!existsSync(weights)) throw new Error(`needs the real weights at ${weights}`);
  if (!existsSync(path.join(REPO_ROOT, 'src/queue/worker-pool.ts'))) throw new Error('needs src/queue/worker-pool.ts (the engine pool)');
  const { default: sharp } = await import('sharp');
  const workerCount = Number(values.workers);
  const jobs = Number(values.jobs ?? 4);
  const size = Number(values.size ?? 256);
  const iterations = Number(values.iterations);
  const prefix = `bench-throughput-${workerCount}`;
  const env = {
    ...process.env,
    REDIS_URL: server.url,
    REDIS_PREFIX: prefix,
    VGG19_WEIGHTS: weights,
    ENGINE_WORKERS: '1',
    ENGINE_THREADS: String(Math.max(1, Math.floor(2 / workerCount))),
    LOG_FORMAT: 'json',
    LOG_LEVEL: 'warn',
    DOTENV_CONFIG_PATH: '/nonexistent',
  };
  const children = Array.from({ length: workerCount }, () =>
    spawn(process.execPath, ['--import', 'tsx', 'src/cli/worker.ts'], { cwd: REPO_ROOT, env, stdio: 'inherit' }),
  );
  const rgb = async (file: string, side: number) => {
    const { data, info } = await sharp(path.resolve(REPO_ROOT, '../shared/images', file))
      .resize(side, side, { fit: 'inside' })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, data: new Uint8Array(data) };
  };
  const input: JobInput = {
    content: await rgb('tubingen.jpg', size),
    styles: [{ image: await rgb('starry_night.jpg', size), weight: 1 }],
    settings: { seed: 1 },
    size,
    iterations,
    resultMaxBytes: 10 * 1024 * 1024,
  };
  const ends = new Map<string, () => void>();
  const queue = new RedisQueue<null>({
    url: server.url,
    prefix,
    maxQueue: 100,
    maxJobsPerUser: 100,
    timeoutMs: 3_600_000,
    maxSize: 2048,
    maxIterations: 10_000,
    previewEveryMs: 60_000,
    dataTtlMs: 3_600_000,
  });
  await queue.start((job, event) => {
    if (event.type === 'completed' || event.type === 'failed' || event.type === 'cancelled') {
      if (event.type !== 'completed') process.stderr.write(`job ${job.jobId} ended ${event.type}\n`);
      ends.get(job.jobId)?.();
    }
  });
  while ((await queue.snapshot()).workers.length < workerCount) await new Promise((r) => setTimeout(r, 200));
  const started = now();
  const done: Promise<void>[] = [];
  for (let i = 0; i < jobs; i++) {
    const reserved = (await queue.reserve({ userId: `u${i}`, guildId: undefined })) as Reservation;
    done.push(new Promise((resolve) => ends.set(reserved.jobId, resolve)));
    await queue.submit(reserved, input, null);
  }
  await Promise.all(done);
  const seconds = (now() - started) / 1000;
  await queue.shutdown();
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(children.map((c) => new Promise((r) => c.once('exit', r))));
  print({ mode: 'throughput', workers: workerCount, jobs, size, iterations, seconds: Math.round(seconds * 10) / 10 });
}

const server = await startRedis();
try {
  if (mode === 'overhead') await overhead(server);
  else if (mode === 'cluster') await cluster(server);
  else if (mode === 'throughput') await throughput(server);
  else throw new Error(`unknown mode ${mode}: overhead, cluster or throughput`);
} finally {
  await server.dispose();
}
process.exit(0);
