import pino, { type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { makeScrubber, scrubDeep } from './scrub.ts';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level?: string;
  /** `auto` is pretty on a TTY and JSON otherwise. */
  format?: 'auto' | 'pretty' | 'json';
  /** Values that must never appear in a log line, such as the bot token. */
  secrets?: readonly string[];
  /** Where lines go; stdout by default. Tests pass a collecting stream. */
  destination?: DestinationStream;
}

const REDACT_PATHS = [
  'token',
  '*.token',
  'password',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'config.discord.token',
];

export function createLogger(options: LoggerOptions = {}): Logger {
  const scrub = makeScrubber(options.secrets ?? []);
  const usePretty =
    options.format === 'pretty' || ((options.format ?? 'auto') === 'auto' && process.stdout.isTTY === true);
  const destination =
    options.destination ??
    (usePretty ? pretty({ colorize: true, translateTime: 'HH:MM:ss', ignore: 'pid,hostname' }) : pino.destination(1));

  return pino(
    {
      level: options.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      // Errors stay raw here so that scrubDeep serializes them and scrubs their messages and stacks.
      serializers: { err: (e: unknown) => e },
      hooks: {
        logMethod(args, method) {
          const scrubbed = args.map((a) => (typeof a === 'string' ? scrub(a) : a));
          method.apply(this, scrubbed as Parameters<typeof method>);
        },
      },
      formatters: {
        log: (object) => scrubDeep(object, scrub) as Record<string, unknown>,
      },
    },
    destination,
  );
}
