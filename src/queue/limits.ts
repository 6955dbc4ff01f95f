/** The bounds the queue enforces whatever a request asks for. */

/** No output is smaller than this (or than maxSize, if that is smaller). */
export const MIN_SIZE = 64;

export function clampSize(requested: number, maxSize: number): number {
  return clampInt(requested, Math.min(MIN_SIZE, maxSize), maxSize, 'size');
}

export function clampIterations(requested: number, maxIterations: number): number {
  return clampInt(requested, 1, maxIterations, 'iterations');
}

/**
 * The size an out-of-memory retry runs at: `scale` times smaller, but not below `minSize`. Undefined when that
 * would not be smaller than the failed size, i.e. there is nothing left to try.
 */
export function retrySize(failedSize: number, scale: number, minSize: number): number | undefined {
  const smaller = Math.max(minSize, Math.floor(failedSize * scale));
  return smaller < failedSize ? smaller : undefined;
}

function clampInt(value: number, min: number, max: number, name: string): number {
  // A non-number here is a caller bug, not user input: the bot parses and validates what users type.
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new TypeError(`${name} must be a finite number`);
  return Math.min(max, Math.max(min, Math.round(value)));
}
