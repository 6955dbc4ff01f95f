import type { StylizeFn } from '../engine/types.ts';
import type { Config } from '../config/index.ts';
import type { Logger } from '../log/logger.ts';
import type { QueueOptions } from './types.ts';

/** The queue settings from the validated configuration (GPU_CONCURRENCY, MAX_QUEUE, JOB_TIMEOUT_SECONDS ...). */
export function queueOptionsFromConfig(
  config: Config,
  stylize: StylizeFn,
  extra: { logger?: Logger; backendName?: string } = {},
): QueueOptions {
  return {
    stylize,
    concurrency: config.engine.workers ?? 1,
    maxQueue: config.queue.maxQueue,
    maxJobsPerUser: config.queue.maxJobsPerUser,
    shutdownGraceMs: config.queue.shutdownGraceMs,
    timeoutMs: config.jobs.timeoutMs,
    maxIterations: config.jobs.maxIterations,
    maxSize: config.images.maxSize,
    ...extra,
  };
}
