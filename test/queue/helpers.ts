import { createLogger, memoryDestination } from '../../src/log/logger.ts';
import { JobQueue, type JobListener, type QueueOptions } from '../../src/queue/index.ts';
import type { FakeEngine } from './fake-engine.ts';

export interface TestQueue {
  queue: JobQueue;
  /** Parsed JSON log lines. */
  logs: () => Array<Record<string, unknown>>;
}

export function makeQueue(engine: FakeEngine, overrides: Partial<QueueOptions> = {}): TestQueue {
  const { stream, lines } = memoryDestination();
  const queue = new JobQueue({
    stylize: engine.stylize,
    concurrency: 1,
    maxQueue: 20,
    maxJobsPerUser: 1,
    timeoutMs: 10_000,
    shutdownGraceMs: 1_000,
    maxIterations: 1000,
    maxSize: 1024,
    backendName: 'fake',
    logger: createLogger({ level: 'debug', format: 'json', destination: stream }),
    ...overrides,
  });
  return { queue, logs: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

/** Records every event a job sends, as short strings ("queued:2", "started", "completed" ...). */
export function recorder(): { listener: JobListener; events: string[]; progressCount: () => number } {
  const events: string[] = [];
  let progress = 0;
  const listener: JobListener = {
    queued: (p) => events.push(`queued:${p}`),
    position: (p) => events.push(`position:${p}`),
    started: () => events.push('started'),
    retrying: (info) => events.push(`retrying:${info.size}`),
    progress: () => progress++,
    completed: () => events.push('completed'),
    failed: (error) => events.push(`failed:${error.kind}`),
    cancelled: (by) => events.push(`cancelled:${by}`),
  };
  return { listener, events, progressCount: () => progress };
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
