import { pino } from 'pino';
import type { Config } from '../config/index.ts';
import type { Logger } from '../log/logger.ts';
import { locateWeights } from '../weights/locate.ts';
import type { ShapeCheck } from '../weights/types.ts';
import type { StylizeQueue } from './contract.ts';
import { LocalQueue, type JobRunner } from './local-queue.ts';
import { RedisQueue } from './redis-queue.ts';
import { WorkerPool } from './worker-pool.ts';

export type * from './contract.ts';
export { normalizeJobId } from './job-id.ts';

/** A worker told to stop (cancel, timeout, shutdown) that has not stopped this long after is killed and replaced. */
export const STOP_TIMEOUT_MS = 10_000;

export interface QueueDependencies {
  logger?: Logger;
  /** `consistent` lets tests run the real workers on a tiny generated model. */
  weightsShapes?: ShapeCheck;
  /** Runs engine jobs instead of forked workers (queue logic tests). */
  runner?: JobRunner;
}

/**
 * This machine's engine workers as the config sets them (ENGINE_BACKEND, ENGINE_WORKERS, ENGINE_THREADS), for the
 * bot's own queue and for `npm run worker` alike. The weights are located here (downloaded on first use), once,
 * before any worker loads them.
 */
export async function createWorkerPool(config: Config, logger: Logger, shapes: ShapeCheck = 'vgg19'): Promise<WorkerPool> {
  const location = await locateWeights(config.weights, { logger });
  return new WorkerPool({
    init: {
      weights: { file: location.file, label: location.label, cacheDir: config.weights.cacheDir, shapes },
      backend: config.engine.backend,
      log: { level: config.log.level, format: config.log.format },
    },
    workers: config.engine.workers,
    threads: config.engine.threads,
    stopTimeoutMs: STOP_TIMEOUT_MS,
    logger,
  });
}

/**
 * The queue the bot talks to: in-process with local engine workers (the default), or BullMQ on Redis when
 * REDIS_URL is set (then `npm run worker` processes run the jobs, and this process needs no weights). Weights are
 * located (downloaded on first start) here, once, before any worker loads them.
 */
export async function createStylizeQueue<D>(config: Config, dependencies: QueueDependencies = {}): Promise<StylizeQueue<D>> {
  const logger = dependencies.logger ?? pino({ enabled: false });
  if (config.redis.url) {
    return new RedisQueue<D>({
      url: config.redis.url.reveal(),
      ...(config.redis.displayUrl !== undefined && { displayUrl: config.redis.displayUrl }),
      prefix: config.redis.prefix,
      dataTtlMs: config.redis.dataTtlMs,
      maxQueue: config.queue.maxQueue,
      maxJobsPerUser: config.queue.maxJobsPerUser,
      maxJobsPerGuild: (guildId) => config.jobs.guildLimits[guildId]?.maxJobs,
      timeoutMs: config.jobs.timeoutMs,
      maxSize: config.images.maxSize,
      maxIterations: config.jobs.maxIterations,
      previewEveryMs: config.bot.progressIntervalMs,
      logger,
    });
  }
  const runner = dependencies.runner ?? (await createWorkerPool(config, logger, dependencies.weightsShapes));
  return new LocalQueue<D>({
    runner,
    maxQueue: config.queue.maxQueue,
    maxJobsPerUser: config.queue.maxJobsPerUser,
    maxJobsPerGuild: (guildId) => config.jobs.guildLimits[guildId]?.maxJobs,
    timeoutMs: config.jobs.timeoutMs,
    shutdownGraceMs: config.queue.shutdownGraceMs,
    maxSize: config.images.maxSize,
    maxIterations: config.jobs.maxIterations,
    previewEveryMs: config.bot.progressIntervalMs,
    logger,
  });
}
