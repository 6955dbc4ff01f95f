import { createLogger } from '../../src/log/logger.ts';
import { memoryDestination } from '../helpers/memory-log.ts';
import type { JobEvent, JobInput, JobRef, Refusal } from '../../src/queue/contract.ts';
import { LocalQueue, type LocalQueueOptions } from '../../src/queue/local-queue.ts';
import type { RgbImage } from '../../src/images/rgb-image.ts';
import { FakeRunner, type FakeRunnerOptions } from './fake-runner.ts';

/** What the tests' sink records of one job: its events as short strings, and its ending. */
export interface JobRecord {
  events: string[];
  progress: number;
  /** The newest progress event, preview included. */
  lastProgress?: Extract<JobEvent, { type: 'progress' }>;
  finals: JobEvent[];
  ended: Promise<JobEvent>;
}

export interface TestQueue {
  queue: LocalQueue<{ tag: string }>;
  runner: FakeRunner;
  /** Every job's events, by id ("queued:2", "started", "retrying:358", "completed", "failed:timeout" ...). */
  jobs: Map<string, JobRecord>;
  /** Parsed JSON log lines. */
  logs: () => Array<Record<string, unknown>>;
  /** reserve + submit, as the bot does; resolves to the job id, or the refusal. */
  add(userId: string, options?: { size?: number; iterations?: number; guildId?: string }): Promise<string | Refusal>;
  /** Like add, but fails the test on a refusal. */
  accept(userId: string, options?: { size?: number; iterations?: number; guildId?: string }): Promise<string>;
  record(jobId: string): JobRecord;
}

export function imageOfSize(width: number, height = Math.round(width * 0.75)): RgbImage {
  return { width, height, data: new Uint8Array(width * height * 3) };
}

export function testInput(size = 256, iterations = 5): JobInput {
  return {
    content: imageOfSize(size),
    styles: [{ image: imageOfSize(64), weight: 1 }],
    settings: {},
    size,
    iterations,
    resultMaxBytes: 10 * 1024 * 1024,
  };
}

export async function makeQueue(
  runnerOptions: FakeRunnerOptions = {},
  overrides: Partial<LocalQueueOptions> = {},
): Promise<TestQueue> {
  const { stream, lines } = memoryDestination();
  const runner = new FakeRunner(runnerOptions);
  const queue = new LocalQueue<{ tag: string }>({
    runner,
    maxQueue: 20,
    maxJobsPerUser: 1,
    timeoutMs: 10_000,
    shutdownGraceMs: 1_000,
    maxIterations: 1000,
    maxSize: 1024,
    previewEveryMs: 1000,
    logger: createLogger({ level: 'debug', format: 'json', destination: stream }),
    ...overrides,
  });
  const { jobs, record, sink } = recordingSink();
  await queue.start(sink);
  const add: TestQueue['add'] = async (userId, options = {}) => {
    const reserved = await queue.reserve({ userId, guildId: options.guildId });
    if (!('jobId' in reserved)) return reserved;
    record(reserved.jobId);
    const submitted = await queue.submit(reserved, testInput(options.size, options.iterations), { tag: userId });
    return submitted.accepted ? reserved.jobId : submitted;
  };
  return {
    queue,
    runner,
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

/**
 * A sink that records every job's events as short strings ("queued:2", "started", "started:restarted",
 * "retrying:358", "completed", "failed:timeout", "cancelled:owner"), counts progress, and resolves `ended` on the
 * final event. `finals` keeps every final event, so that a test can check there was exactly one.
 */
export function recordingSink(): {
  jobs: Map<string, JobRecord>;
  record: (jobId: string) => JobRecord;
  sink: (job: JobRef<unknown>, event: JobEvent) => void;
} {
  const jobs = new Map<string, JobRecord>();
  const record = (jobId: string): JobRecord => {
    let entry = jobs.get(jobId);
    if (!entry) {
      let resolve!: (event: JobEvent) => void;
      entry = { events: [], progress: 0, finals: [], ended: new Promise((r) => (resolve = r)) };
      (entry as JobRecord & { resolve: typeof resolve }).resolve = resolve;
      jobs.set(jobId, entry);
    }
    return entry;
  };
  const sink = (job: JobRef<unknown>, event: JobEvent) => {
    const entry = record(job.jobId);
    switch (event.type) {
      case 'queued':
      case 'position':
        entry.events.push(`${event.type}:${event.position}`);
        break;
      case 'started':
        entry.events.push(event.restarted ? 'started:restarted' : 'started');
        break;
      case 'retrying':
        entry.events.push(`retrying:${event.size}`);
        break;
      case 'progress':
        entry.progress++;
        entry.lastProgress = event;
        break;
      case 'completed':
      case 'cancelled':
      case 'failed':
        entry.events.push(
          event.type === 'failed' ? `failed:${event.failure.code}` : event.type === 'cancelled' ? `cancelled:${event.by}` : 'completed',
        );
        entry.finals.push(event);
        (entry as JobRecord & { resolve: (e: JobEvent) => void }).resolve(event);
        break;
    }
  };
  return { jobs, record, sink };
}

/** Resolves when the job has reported progress at or beyond `iteration`. */
export async function progressed(t: TestQueue, jobId: string, iteration = 1): Promise<void> {
  while ((t.jobs.get(jobId)?.progress ?? 0) < iteration) await new Promise((r) => setTimeout(r, 1));
}

/**
 * Watches the global setTimeout/clearTimeout (which the queue uses) and counts timers that were neither cleared
 * nor fired: a queue that leaves none behind has zero pending once its jobs are done. Call stop() afterwards.
 */
export function trackTimers(): { pending: () => number; stop: () => void } {
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  const pending = new Set<unknown>();
  const tracked = ((callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const timer = realSet(() => {
      pending.delete(timer);
      callback(...args);
    }, ms);
    pending.add(timer);
    return timer;
  }) as typeof setTimeout;
  globalThis.setTimeout = tracked;
  globalThis.clearTimeout = (timer: Parameters<typeof clearTimeout>[0]) => {
    pending.delete(timer);
    realClear(timer);
  };
  return {
    pending: () => pending.size,
    stop: () => {
      globalThis.setTimeout = realSet;
      globalThis.clearTimeout = realClear;
    },
  };
}

/**
 * Records the signal of every AbortController created until stop() (the queue makes one per waiting job and one
 * per run), so a test can check that no abort listener is left on any of them.
 */
export function trackAbortSignals(): { signals: AbortSignal[]; stop: () => void } {
  const Real = globalThis.AbortController;
  const signals: AbortSignal[] = [];
  globalThis.AbortController = class extends Real {
    constructor() {
      super();
      signals.push(this.signal);
    }
  };
  return { signals, stop: () => (globalThis.AbortController = Real) };
}
