import type { Logger } from './logger.ts';

/**
 * How a long-running process (the bot, `npm run worker`) ends: SIGTERM/SIGINT run its graceful `stop` and exit 0;
 * a second signal, a failed stop, or a stop that overruns `deadlineMs` exits 1 at once, so that nothing ever hangs.
 * Returns a function that removes the handlers.
 */
export function installShutdownHandlers(stop: () => Promise<void>, logger: Logger, deadlineMs: number): () => void {
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
    }, deadlineMs).unref();
    stop().then(
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

/** For what follows the last wait of a shutdown: closing connections, the last log line. */
export const EXIT_MARGIN_MS = 5_000;
