import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { DELIVERY_WAIT_MS, shutdownDeadlineMs } from '../../src/bot/bot.ts';
import { installShutdownHandlers } from '../../src/log/shutdown-signals.ts';
import { STOP_TIMEOUT_MS as DEFAULT_ABORT_WAIT_MS } from '../../src/queue/index.ts';

const GRACE_MS = 30_000;
const logger = pino({ enabled: false });

describe('the shutdown deadline', () => {
  let uninstall: (() => void) | undefined;
  let exit: MockInstance<typeof process.exit>;
  beforeEach(() => {
    vi.useFakeTimers();
    exit = vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
  });
  afterEach(() => {
    uninstall?.();
    uninstall = undefined;
    exit.mockRestore();
    vi.useRealTimers();
  });

  it('covers the grace period, the wait before a stuck worker is killed and the wait for final messages', () => {
    expect(shutdownDeadlineMs(GRACE_MS)).toBeGreaterThan(GRACE_MS + DEFAULT_ABORT_WAIT_MS + DELIVERY_WAIT_MS);
    expect(shutdownDeadlineMs(0)).toBeGreaterThan(DEFAULT_ABORT_WAIT_MS + DELIVERY_WAIT_MS);
  });

  it('lets a slow shutdown use all of those waits, and exits 1 only at the deadline', async () => {
    uninstall = installShutdownHandlers(() => new Promise<void>(() => {}), logger, shutdownDeadlineMs(GRACE_MS));
    process.emit('SIGTERM');
    await vi.advanceTimersByTimeAsync(GRACE_MS + DEFAULT_ABORT_WAIT_MS + DELIVERY_WAIT_MS);
    expect(exit).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(shutdownDeadlineMs(GRACE_MS) - (GRACE_MS + DEFAULT_ABORT_WAIT_MS + DELIVERY_WAIT_MS));
    expect(exit).toHaveBeenCalledWith(1);
  });

  it('exits 0 when the graceful shutdown finishes, and 1 at once on a second signal', async () => {
    let finish!: () => void;
    uninstall = installShutdownHandlers(
      () => new Promise<void>((resolve) => (finish = resolve)),
      logger,
      shutdownDeadlineMs(GRACE_MS),
    );
    process.emit('SIGINT');
    finish();
    await vi.advanceTimersByTimeAsync(0);
    expect(exit).toHaveBeenLastCalledWith(0);
    process.emit('SIGTERM');
    expect(exit).toHaveBeenLastCalledWith(1);
  });
});
