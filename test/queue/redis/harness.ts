import { fork, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import type { JobEvent, Refusal } from '../../../src/queue/contract.ts';
import { RedisQueue, type RedisQueueOptions } from '../../../src/queue/redis-queue.ts';
import { RedisWorker, type RedisWorkerOptions } from '../../../src/queue/redis-worker.ts';
import { createLogger } from '../../../src/log/logger.ts';
import { REPO_ROOT } from '../../helpers/shared-data.ts';
import { memoryDestination } from '../../helpers/memory-log.ts';
import { FakeRunner, type FakeRunnerOptions } from '../fake-runner.ts';
import { recordingSink, testInput, type JobRecord } from '../helpers.ts';
import type { RedisServer } from './redis-server.ts';

/** Short timings, so that a dead bot or worker is noticed within a second or two instead of half a minute. */
export const FAST_BOT = { heartbeatMs: 150, botTtlMs: 1_200, workerTtlMs: 2_000, deliveryLockMs: 3_000, commandTimeoutMs: 1_000 };
export const FAST_WORKER = { heartbeatMs: 300, lockDurationMs: 1_500, stalledIntervalMs: 500, progressEveryMs: 0 };

export const TEST_CAPS = {
  maxQueue: 20,
  maxJobsPerUser: 1,
  timeoutMs: 10_000,
  maxSize: 1024,
  maxIterations: 100_000,
  previewEveryMs: 1_000,
  dataTtlMs: 600_000,
};

export interface TestBot {
  queue: RedisQueue<{ tag: string }>;
  jobs: Map<string, JobRecord>;
  record: (jobId: string) => JobRecord;
  logs: () => Array<Record<string, unknown>>;
  add(userId: string, options?: { size?: number; iterations?: number; guildId?: string; seed?: number }): Promise<string | Refusal>;
  accept(userId: string, options?: { size?: number; iterations?: number; guildId?: string; seed?: number }): Promise<string>;
}

/** A bot-side RedisQueue in this process, recording its sink's events like the LocalQueue tests do. */
export async function startBot(server: RedisServer, prefix: string, overrides: Partial<RedisQueueOptions> = {}): Promise<TestBot> {
  const { stream, lines } = memoryDestination();
  const queue = new RedisQueue<{ tag: string }>({
    url: server.url,
    prefix,
    ...TEST_CAPS,
    ...FAST_BOT,
    logger: createLogger({ level: 'debug', format: 'json', destination: stream }),
    ...overrides,
  });
  const { jobs, record, sink } = recordingSink();
  await queue.start(sink);
  const add: TestBot['add'] = async (userId, options = {}) => {
    const reserved = await queue.reserve({ userId, guildId: options.guildId });
    if (!('jobId' in reserved)) return reserved;
    record(reserved.jobId);
    const input = testInput(options.size, options.iterations);
    if (options.seed !== undefined) input.settings = { seed: options.seed };
    const submitted = await queue.submit(reserved, input, { tag: userId });
    return submitted.accepted ? reserved.jobId : submitted;
  };
  return {
    queue,
    jobs,
    record,
    logs: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
    add,
    accept: async (userId, options) => {
      const result = await add(userId, options);
      if (typeof result !== 'string') throw new Error(`refused: ${result.message}`);
      return result;
    },
  };
}

/** A worker-side RedisWorker in this process, running jobs on the in-process stand-in runner. */
export async function startWorker(
  server: RedisServer,
  prefix: string,
  runnerOptions: FakeRunnerOptions = {},
  overrides: Partial<RedisWorkerOptions> = {},
): Promise<{ worker: RedisWorker; runner: FakeRunner }> {
  const runner = new FakeRunner(runnerOptions);
  const worker = new RedisWorker({ url: server.url, prefix, dataTtlMs: TEST_CAPS.dataTtlMs, runner, shutdownGraceMs: 1_000, ...FAST_WORKER, ...overrides });
  await worker.start();
  return { worker, runner };
}

/** What a worker child process reports, one JSON line each (see worker-process.ts). */
export type WorkerReport =
  | { type: 'ready'; id: string }
  | { type: 'started'; jobId: string; at: number }
  | { type: 'ended'; jobId: string; outcome: string; lastIteration: number; iterationAtAbort: number | null; at: number };

export interface WorkerProcess {
  child: ChildProcess;
  id: string;
  reports: WorkerReport[];
  /** Resolves with the first report that matches. */
  next(match: (report: WorkerReport) => boolean): Promise<WorkerReport>;
  exited: Promise<number | null>;
}

/** `npm run worker`'s consumer in a real child process, with the stand-in runner configured by `runner`. */
export async function spawnWorker(
  server: RedisServer,
  prefix: string,
  runner: FakeRunnerOptions & { poisonSeed?: number } = {},
  timing: Partial<typeof FAST_WORKER> = {},
): Promise<WorkerProcess> {
  const config = { url: server.url, prefix, runner, timing: { ...FAST_WORKER, ...timing }, dataTtlMs: TEST_CAPS.dataTtlMs };
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/queue/redis/worker-process.ts', JSON.stringify(config)], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const reports: WorkerReport[] = [];
  const waiters = new Set<{ match: (r: WorkerReport) => boolean; resolve: (r: WorkerReport) => void }>();
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (!line.startsWith('{"type"')) return;
    const report = JSON.parse(line) as WorkerReport;
    reports.push(report);
    for (const waiter of waiters) {
      if (waiter.match(report)) {
        waiters.delete(waiter);
        waiter.resolve(report);
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const next = (match: (r: WorkerReport) => boolean) =>
    new Promise<WorkerReport>((resolve, reject) => {
      const found = reports.find(match);
      if (found) return resolve(found);
      waiters.add({ match, resolve });
      void exited.then(() => reject(new Error(`worker process exited: ${stderr.slice(-2000)}`)));
    });
  const ready = await next((r) => r.type === 'ready');
  return { child, id: (ready as { id: string }).id, reports, next, exited };
}

/** Every key under the prefix that is not bounded bookkeeping: what must be gone once every job has ended. */
export async function leftoverJobKeys(server: RedisServer, prefix: string): Promise<Record<string, string>> {
  const redis = new Redis(server.url);
  try {
    const keys = await redis.keys(`${prefix}:*`);
    const bounded = new Set(['bots', 'workers', 'stats', 'finished'].map((k) => `${prefix}:${k}`));
    // BullMQ's own: its id counter, meta, event stream (trimmed to ~10,000), stalled-check marker.
    const bullBounded = /:stylize:(meta|events|id|stalled-check|marker)$/;
    const out: Record<string, string> = {};
    for (const key of keys.sort()) {
      if (bounded.has(key) || bullBounded.test(key)) continue;
      out[key] = await redis.type(key);
    }
    return out;
  } finally {
    redis.disconnect();
  }
}

export function finalsOf(jobs: Iterable<JobRecord>): JobEvent[] {
  return [...jobs].flatMap((j) => j.finals);
}

export async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** What a bot child process reports of each sink call (see bot-process.ts). */
export interface BotEvent {
  jobId: string;
  type: JobEvent['type'];
  /** position; restarted; failure code; cancelled by; result byte count. */
  detail: unknown;
  bot: string;
  /** Wall-clock ms when the sink got it. */
  at: number;
}

export interface BotProcess {
  child: ChildProcess;
  botId: string;
  events: BotEvent[];
  call<T = unknown>(message: Record<string, unknown>): Promise<T>;
  nextEvent(match: (event: BotEvent) => boolean): Promise<BotEvent>;
  exited: Promise<number | null>;
}

/** A bot's RedisQueue in a real child process, driven over IPC. */
export async function forkBot(
  server: RedisServer,
  prefix: string,
  config: { options?: Partial<RedisQueueOptions>; guildCaps?: Record<string, number>; hangOnFinal?: boolean } = {},
): Promise<BotProcess> {
  const args = { url: server.url, prefix, options: { ...FAST_BOT, ...config.options }, guildCaps: config.guildCaps, hangOnFinal: config.hangOnFinal };
  const child = fork('test/queue/redis/bot-process.ts', [JSON.stringify(args)], {
    cwd: REPO_ROOT,
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const events: BotEvent[] = [];
  const eventWaiters = new Set<{ match: (e: BotEvent) => boolean; resolve: (e: BotEvent) => void }>();
  const replies = new Map<number, (reply: unknown) => void>();
  let nextId = 1;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<string>((resolve, reject) => {
    child.on('message', (message: { ready?: string; id?: number; reply?: unknown; event?: BotEvent }) => {
      if (message.ready) resolve(message.ready);
      if (message.event) {
        events.push(message.event);
        for (const waiter of eventWaiters) {
          if (waiter.match(message.event)) {
            eventWaiters.delete(waiter);
            waiter.resolve(message.event);
          }
        }
      }
      if (message.id !== undefined) replies.get(message.id)?.(message.reply);
    });
    void exited.then((code) => reject(new Error(`bot process exited with ${code}`)));
  });
  const botId = await ready;
  return {
    child,
    botId,
    events,
    exited,
    call: <T>(message: Record<string, unknown>) =>
      new Promise<T>((resolve) => {
        const id = nextId++;
        replies.set(id, resolve as (reply: unknown) => void);
        child.send({ ...message, id });
      }),
    nextEvent: (match) =>
      new Promise<BotEvent>((resolve) => {
        const found = events.find(match);
        if (found) return resolve(found);
        eventWaiters.add({ match, resolve });
      }),
  };
}
