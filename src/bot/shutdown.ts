import type { Logger } from '../log/logger.ts';
import { DEFAULT_ABORT_WAIT_MS } from '../queue/index.ts';
import { DELIVERY_WAIT_MS } from './deliveries.ts';
import type { RunningBot } from './start-bot.ts';

/** For what follows the last wait: closing the gateway connection, freeing the engine, the last log line. */
const EXIT_MARGIN_MS = 5_000;

/**
 * The longest a graceful shutdown can take: the running job's grace period, then up to the queue's wait for an
 * engine to stop after its abort (the bot leaves abortWaitMs at the queue's default), then the wait for final
 * messages, plus a margin.
 */
export function shutdownDeadlineMs(graceMs: number): number {
  return graceMs + DEFAULT_ABORT_WAIT_MS + DELIVERY_WAIT_MS + EXIT_MARGIN_MS;
}

/**
 * SIGTERM/SIGINT run the graceful shutdown and exit 0; a second signal, or a shutdown that overruns its
 * deadline, exits 1 at once so that nothing ever hangs. Returns a function that removes the handlers.
 */
export function installShutdownHandlers(bot: Pick<RunningBot, 'stop'>, logger: Logger, graceMs: number): () => void {
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    signalled = true;
    logger.info({ signal }, 'signal received');
    setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, shutdownDeadlineMs(graceMs)).unref();
    bot.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}
