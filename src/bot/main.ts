import { readConfigOrExit } from '../config/index.ts';
import { isUserFacing } from '../errors/user-facing-error.ts';
import { createLogger } from '../log/logger.ts';
import { installShutdownHandlers } from '../log/shutdown-signals.ts';
import { shutdownDeadlineMs, startBot } from './bot.ts';

/** `npm start`: config → engine workers (weights, backend) → commands → login, then run until SIGTERM/SIGINT. */
const config = readConfigOrExit({ requireToken: true });
const token = config.discord.token?.reveal() ?? '';
const logger = createLogger({ level: config.log.level, format: config.log.format, secrets: [token] });

process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection'));

try {
  const bot = await startBot(config, { logger });
  installShutdownHandlers(() => bot.stop(), logger, shutdownDeadlineMs(config.queue.shutdownGraceMs));
} catch (error) {
  // One clear line for the admin (e.g. bad weights, bad token); the detail goes to the log.
  const message = isUserFacing(error) ? error.userMessage : error instanceof Error ? error.message : String(error);
  logger.debug({ err: error }, 'start-up failed');
  process.stderr.write(`Cannot start: ${message.split(token).join('[redacted]')}\n`);
  process.exit(1);
}
