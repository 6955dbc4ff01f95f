import { UserFacingError } from '../errors/user-facing-error.ts';

/** The request cannot run as given: a bad image, setting or layer. The message says which and why. */
export class StylizeRequestError extends UserFacingError {}

/** A forced ENGINE_BACKEND cannot be used here. */
export class BackendUnavailableError extends UserFacingError {}

const OUT_OF_MEMORY = [
  /out of memory/i,
  /\bOOM\b/,
  /cannot enlarge memory/i,
  /array buffer allocation failed/i,
  /could not allocate memory/i,
  /failed to allocate/i,
  /resource ?exhausted/i,
  /invalid typed array length/i,
  /array buffer length exceeds/i,
  /memory access out of bounds/i,
  // Emscripten's abort(): in the tfjs wasm module, a failed allocation (malloc or XNNPACK's).
  /^Aborted\(/,
];

/**
 * Whether an error from any backend means memory ran out: the wasm heap could not grow, the JS heap could not
 * allocate a typed array, or TensorFlow (CPU or CUDA) reported OOM / ResourceExhausted.
 */
export function isOutOfMemoryError(error: unknown): boolean {
  if (error instanceof RangeError && /allocation|length|memory/i.test(error.message)) return true;
  if (!(error instanceof Error)) return typeof error === 'string' && OUT_OF_MEMORY.some((re) => re.test(error));
  if (error.name === 'EngineOutOfMemoryError') return true;
  return OUT_OF_MEMORY.some((re) => re.test(error.message));
}
