import type { BackendChoice } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { VggWeights } from '../weights/types.ts';
import type { ComputeBackend } from './compute.ts';
import { BackendUnavailableError } from './errors.ts';

/**
 * Picks the compute backend once at start-up: exactly the one ENGINE_BACKEND forces, failing with a clear error
 * when it cannot run here, or with `auto` the first of AUTO_ORDER that starts. Each library is imported only
 * when tried, so that importing the engine loads neither tfjs nor ONNX Runtime.
 */

export interface ComputeBackendOptions {
  /** CPU threads to compute with, for backends that can be told (tfjs cannot: wasm has one, TensorFlow picks). */
  threads?: number;
  logger?: Logger;
}

/** Trying one backend: it started (its `info.reason` says how), or why it cannot run here. */
export type Attempt =
  | { backend: ComputeBackend }
  /** `failure`: something installed did not work (worth a warning), rather than simply not being installed. */
  | { why: string; failure?: unknown };

type Named = Exclude<BackendChoice, 'auto'>;

const tfjs =
  (name: 'tensorflow' | 'wasm' | 'cpu') =>
  async (weights: VggWeights, options: ComputeBackendOptions): Promise<Attempt> => {
    const { createTfjsBackend } = await import('./tfjs/backend.ts');
    return createTfjsBackend(name, weights, options);
  };

const notYet = (why: string) => (): Promise<Attempt> => Promise.resolve({ why });

const ATTEMPTS: Readonly<Record<Named, (weights: VggWeights, options: ComputeBackendOptions) => Promise<Attempt>>> = {
  onnx: notYet('the ONNX Runtime backend is not available yet'),
  webgpu: notYet('the WebGPU backend is not available yet'),
  tensorflow: tfjs('tensorflow'),
  wasm: tfjs('wasm'),
  cpu: tfjs('cpu'),
};

/** `auto` takes the first of these that starts. */
const AUTO_ORDER: readonly Named[] = ['tensorflow', 'wasm', 'cpu'];

/** What a forced backend needs, when that is the likely reason it could not start. */
const NEEDS: Partial<Record<Named, string>> = {
  tensorflow: 'needs @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node, and',
};

export async function createComputeBackend(
  choice: BackendChoice,
  weights: VggWeights,
  options: ComputeBackendOptions = {},
): Promise<ComputeBackend> {
  const backend = choice === 'auto' ? await automatically(weights, options) : await forced(choice, weights, options);
  const { name, gpu, device, threads, reason } = backend.info;
  options.logger?.info({ backend: name, gpu, device, threads, reason }, `compute backend: ${name}`);
  return backend;
}

async function forced(choice: Named, weights: VggWeights, options: ComputeBackendOptions): Promise<ComputeBackend> {
  const attempt = await ATTEMPTS[choice](weights, options);
  if ('backend' in attempt) return withReason(attempt.backend, `forced by ENGINE_BACKEND=${choice}`);
  const detail = attempt.failure instanceof Error ? `: ${attempt.failure.message}` : '';
  throw new BackendUnavailableError(
    `ENGINE_BACKEND=${choice} ${NEEDS[choice] ?? 'cannot be used here:'} ${attempt.why}${detail}.`,
    { cause: attempt.failure },
  );
}

async function automatically(weights: VggWeights, options: ComputeBackendOptions): Promise<ComputeBackend> {
  const skipped: string[] = [];
  for (const name of AUTO_ORDER) {
    const attempt = await ATTEMPTS[name](weights, options);
    if ('backend' in attempt) {
      return withReason(attempt.backend, `auto: ${[...skipped, `using ${attempt.backend.info.reason}`].join('; ')}`);
    }
    if (attempt.failure !== undefined) {
      options.logger?.warn({ err: attempt.failure, backend: name }, `the ${name} backend did not start`);
    }
    skipped.push(attempt.why);
  }
  throw new BackendUnavailableError(`No compute backend could start on this machine: ${skipped.join('; ')}.`);
}

/** The same backend, its info saying why it was chosen. Delegates, so that class instances work too. */
function withReason(backend: ComputeBackend, reason: string): ComputeBackend {
  return {
    info: { ...backend.info, reason },
    layers: backend.layers,
    memoryLimitBytes: backend.memoryLimitBytes,
    createObjective: (loss, targets) => backend.createObjective(loss, targets),
    dispose: () => backend.dispose(),
  };
}
