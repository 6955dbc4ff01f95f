import type { Logger } from '../log/logger.ts';
import type { RunningBot } from './start-bot.ts';

/** Past the grace period, shutdown gets this long for final edits before the process exits anyway. */
const HARD_DEADLINE_EXTRA_MS = 20_000;

/**
 * SIGTERM/SIGINT run the graceful shutdown and exit 0; a second signal, or a shutdown that overruns its
 * deadline, exits 1 at once so that nothing ever hangs.
 */
export function installShutdownHandlers(bot: RunningBot, logger: Logger, graceMs: number): void {
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
    }, graceMs + HARD_DEADLINE_EXTRA_MS).unref();
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
}
