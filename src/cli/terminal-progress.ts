/**
 * Iteration progress on the terminal: one redrawn line on a TTY, an occasional plain line otherwise (so logs
 * and CI output stay readable). Always on stderr, leaving stdout for results.
 */
export interface IterationProgress {
  update(view: { iteration: number; total: number; elapsedMs: number; etaMs: number | undefined; detail?: string }): void;
  done(): void;
}

const REDRAW_MS = 100;
const PLAIN_LINE_MS = 10_000;

export function createIterationProgress(
  label: string,
  stream: NodeJS.WriteStream = process.stderr,
  now: () => number = Date.now,
): IterationProgress {
  const tty = stream.isTTY === true;
  let drawnAt = -Infinity;
  let drew = false;
  return {
    update(view) {
      const last = view.iteration >= view.total;
      if (!last && now() - drawnAt < (tty ? REDRAW_MS : PLAIN_LINE_MS)) return;
      drawnAt = now();
      drew = true;
      const fraction = view.total > 0 ? Math.min(1, view.iteration / view.total) : 0;
      const width = 24;
      const filled = Math.round(fraction * width);
      const eta = view.etaMs === undefined ? '' : ` · ~${clock(view.etaMs)} left`;
      const text =
        `${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%` +
        ` ${view.iteration}/${view.total} · ${clock(view.elapsedMs)}${eta}${view.detail ? ` · ${view.detail}` : ''}`;
      stream.write(tty ? `\r${text}\x1b[K` : `${text}\n`);
    },
    done() {
      if (tty && drew) stream.write('\n');
    },
  };
}

/** m:ss, or h:mm:ss past an hour. */
export function clock(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}
