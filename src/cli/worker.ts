import { readConfigOrExit } from '../config/index.ts';
import { isUserFacing } from '../errors/user-facing-error.ts';
import { createLogger } from '../log/logger.ts';
import { EXIT_MARGIN_MS, installShutdownHandlers } from '../log/shutdown-signals.ts';
import { RedisWorker } from '../queue/redis-worker.ts';

/**
 * `npm run worker`: engine workers on this machine that take jobs from the Redis queue the bot uses (REDIS_URL).
 * Its pool is this machine's own (ENGINE_BACKEND, ENGINE_WORKERS, ENGINE_THREADS); it needs the weights, and no
 * Discord token. SIGTERM/SIGINT: no new jobs; running ones get SHUTDOWN_GRACE_SECONDS, then go back to the line
 * for another worker; exit 0.
 */
const config = readConfigOrExit();
const redisUrl = config.redis.url?.reveal();
if (redisUrl === undefined) {
  process.stderr.write(
    'config: REDIS_URL is missing: `npm run worker` takes its jobs from the Redis queue the bot uses; ' +
      'set REDIS_URL to the same URL as the bot (see "Scaling out" in README.md)\n',
  );
  process.exit(1);
}
const password = decodeURIComponent(new URL(redisUrl).password);
const logger = createLogger({ level: config.log.level, format: config.log.format, secrets: password ? [password] : [] });
const displayUrl = config.redis.displayUrl ?? 'redis';

process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection'));

// Loaded once the configuration is known to be good, so that a misconfigured worker says so at once.
const { createWorkerPool, STOP_TIMEOUT_MS } = await import('../queue/index.ts');

let worker: RedisWorker | undefined;
try {
  const pool = await createWorkerPool(config, logger);
  worker = new RedisWorker({
    url: redisUrl,
    displayUrl,
    prefix: config.redis.prefix,
    dataTtlMs: config.redis.dataTtlMs,
    runner: pool,
    shutdownGraceMs: config.queue.shutdownGraceMs,
    weights: pool.weightsLabel,
    logger,
  });
  await worker.start();
  const ready = worker.describe();
  logger.info(
    { worker: ready.id, pool: ready.slots, backends: ready.backends, gpu: ready.gpu, weights: ready.weights, redis: displayUrl, prefix: config.redis.prefix },
    `worker ready: ${ready.slots} engine worker(s) on ${ready.backends}, ${ready.gpu ? 'GPU' : 'no GPU'}, ` +
      `weights ${ready.weights}; taking jobs from ${displayUrl} (prefix ${config.redis.prefix})`,
  );
} catch (error) {
  // One clear line (bad weights, a forced backend that cannot run, Redis out of reach); the detail goes to the log.
  const message = isUserFacing(error) ? error.userMessage : error instanceof Error ? error.message : String(error);
  logger.debug({ err: error }, 'worker start-up failed');
  process.stderr.write(`Cannot start the worker: ${password ? message.split(password).join('[redacted]') : message}\n`);
  await worker?.close().catch(() => undefined);
  process.exit(1);
}

installShutdownHandlers(() => worker.close(), logger, config.queue.shutdownGraceMs + STOP_TIMEOUT_MS + EXIT_MARGIN_MS);
