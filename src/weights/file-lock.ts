import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';
import { WeightsError } from './weights-error.ts';

export interface FileLockOptions {
  /** Called once if another process holds the lock and this one starts waiting. */
  onWait?: () => void;
  signal?: AbortSignal;
  /** How often to retry while waiting. */
  pollMs?: number;
}

/** A holder refreshes its lock every few seconds; one not refreshed for this long belongs to a dead process. */
const STALE_MS = 20_000;
const UPDATE_MS = 5_000;

/**
 * Runs `work` while holding an inter-process lock on `target` (a `<target>.lock` directory, refreshed while held),
 * waiting for as long as another live process holds it. A lock left by a crashed process goes stale and is
 * taken over. `work` gets a signal that aborts if the lock is lost, so it never finishes unprotected.
 */
export async function withFileLock<T>(
  target: string,
  work: (signal: AbortSignal) => Promise<T>,
  options: FileLockOptions = {},
): Promise<T> {
  const lost = new AbortController();
  let waited = false;
  let release: (() => Promise<void>) | undefined;
  while (!release) {
    options.signal?.throwIfAborted();
    try {
      release = await lockfile.lock(target, {
        realpath: false,
        stale: STALE_MS,
        update: UPDATE_MS,
        retries: 0,
        onCompromised: (error) => lost.abort(new WeightsError(`Lost the lock on ${target} (${error.message})`)),
      });
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'ELOCKED') {
        throw new WeightsError(`Cannot lock ${target}: ${(error as Error).message}`, { cause: error });
      }
      if (!waited) options.onWait?.();
      waited = true;
      await sleep(options.pollMs ?? 500, undefined, options.signal ? { signal: options.signal } : undefined);
    }
  }
  const signal = options.signal ? AbortSignal.any([lost.signal, options.signal]) : lost.signal;
  try {
    return await work(signal);
  } finally {
    await release().catch(() => undefined); // already released if the lock was compromised
  }
}
