import { WeightsError } from './weights-error.ts';

/** A file-system failure in a few words, e.g. "the disk is full". */
export function fsProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC') return 'the disk is full';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EROFS') return 'the file system is read-only';
  if (code === 'ENOTDIR' || code === 'EEXIST') return 'a file is in the way';
  return code ?? (error instanceof Error ? error.message : String(error));
}

/**
 * For work that writes into the cache folder: a WeightsError or an abort passes through unchanged, anything
 * else (a file-system failure) becomes a WeightsError saying what could not be written.
 */
export function asCacheError(error: unknown, what: string, signal?: AbortSignal): unknown {
  if (error instanceof WeightsError || signal?.aborted) return error;
  return new WeightsError(`Cannot write ${what}: ${fsProblem(error)}`, { cause: error });
}
