import type { WeightsLogger } from './types.ts';

/** Where download progress goes: `bar` redraws one line on a terminal, `log` writes throttled log lines. */
export type ProgressMode = 'auto' | 'bar' | 'log' | 'none';

export interface ProgressSink {
  start(totalBytes: number | undefined): void;
  advance(bytes: number): void;
  /** Ends the display; `ok` false when the download failed. */
  finish(ok: boolean): void;
}

export interface ProgressOptions {
  mode: ProgressMode;
  /** What is being downloaded, e.g. the file's name. */
  label: string;
  logger: WeightsLogger;
  /** The terminal for the bar; stderr by default so that stdout stays clean for output. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Time source, for tests. */
  now?: () => number;
}

const BAR_INTERVAL_MS = 100;
const LOG_INTERVAL_MS = 10_000;
const MB = 1_000_000;

export function createProgress(options: ProgressOptions): ProgressSink {
  const stream = options.stream ?? process.stderr;
  const mode = options.mode === 'auto' ? (stream.isTTY === true ? 'bar' : 'log') : options.mode;
  if (mode === 'none') return { start() {}, advance() {}, finish() {} };
  return mode === 'bar' ? barProgress(options, stream) : logProgress(options);
}

function barProgress(options: ProgressOptions, stream: NonNullable<ProgressOptions['stream']>): ProgressSink {
  const now = options.now ?? Date.now;
  let total: number | undefined;
  let received = 0;
  let startedAt = 0;
  let drawnAt = -Infinity;
  const draw = () => {
    const seconds = Math.max((now() - startedAt) / 1000, 0.001);
    const bytesPerSecond = received / seconds;
    const rate = `${(bytesPerSecond / MB).toFixed(1)} MB/s`;
    const amount = total
      ? `${(received / MB).toFixed(1)}/${(total / MB).toFixed(1)} MB`
      : `${(received / MB).toFixed(1)} MB`;
    let bar = '';
    let eta = '';
    if (total) {
      const width = 30;
      const filled = Math.min(width, Math.floor((received / total) * width));
      const percent = `${Math.floor((received / total) * 100)}%`.padStart(4);
      bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${percent} `;
      if (received > 0 && received < total) eta = `, ${Math.ceil((total - received) / bytesPerSecond)} s left`;
    }
    const status = `${bar}${amount} ${rate}${eta}`;
    // One line that fits the terminal, or \r cannot redraw it: the label gives way first.
    const room = (stream.columns ?? 120) - 1 - status.length - 1;
    const label = options.label.length <= room ? options.label : `${options.label.slice(0, Math.max(room - 1, 0))}…`;
    stream.write(`\r${room > 1 ? `${label} ` : ''}${status}\x1b[K`);
    drawnAt = now();
  };
  return {
    start(totalBytes) {
      total = totalBytes;
      startedAt = now();
      draw();
    },
    advance(bytes) {
      received += bytes;
      if (now() - drawnAt >= BAR_INTERVAL_MS) draw();
    },
    finish(ok) {
      draw();
      stream.write(ok ? '\n' : ' failed\n');
    },
  };
}

/** A line at the start, at each tenth of the way (at most every 10 s) and at the end. */
function logProgress(options: ProgressOptions): ProgressSink {
  const now = options.now ?? Date.now;
  const { logger, label } = options;
  let total: number | undefined;
  let received = 0;
  let startedAt = 0;
  let loggedAt = 0;
  let loggedTenth = 0;
  const fields = () => ({
    file: label,
    receivedBytes: received,
    totalBytes: total,
    percent: total ? Math.floor((received / total) * 100) : undefined,
  });
  return {
    start(totalBytes) {
      total = totalBytes;
      startedAt = now();
      loggedAt = startedAt;
      const size = total ? ` (${(total / MB).toFixed(1)} MB)` : '';
      logger.info(fields(), `Downloading ${label}${size}`);
    },
    advance(bytes) {
      received += bytes;
      const tenth = total ? Math.floor((received / total) * 10) : 0;
      const due = now() - loggedAt >= LOG_INTERVAL_MS;
      if ((total && tenth > loggedTenth && tenth < 10 && due) || (!total && due)) {
        loggedTenth = tenth;
        loggedAt = now();
        const amount = total
          ? `${Math.floor((received / total) * 100)}% (${(received / MB).toFixed(1)} of ${(total / MB).toFixed(1)} MB)`
          : `${(received / MB).toFixed(1)} MB`;
        logger.info(fields(), `Downloading ${label}: ${amount}`);
      }
    },
    finish(ok) {
      const seconds = ((now() - startedAt) / 1000).toFixed(1);
      if (ok) logger.info(fields(), `Downloaded ${label}: ${(received / MB).toFixed(1)} MB in ${seconds} s`);
      else logger.warn(fields(), `Download of ${label} failed after ${(received / MB).toFixed(1)} MB`);
    },
  };
}
