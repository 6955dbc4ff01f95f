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
  /** `note`: why it is the fallback it is (e.g. no CUDA provider, so the CPU), for the reason text. */
  | { backend: ComputeBackend; note?: string }
  /** `failure`: something installed did not work (worth a warning), rather than simply not being installed. */
  | { why: string; failure?: unknown };

type Named = Exclude<BackendChoice, 'auto'>;

const tfjs =
  (name: 'tensorflow' | 'wasm' | 'cpu') =>
  async (weights: VggWeights, options: ComputeBackendOptions): Promise<Attempt> => {
    const { createTfjsBackend } = await import('./tfjs/backend.ts');
    return createTfjsBackend(name, weights, options);
  };

/** ONNX Runtime on one provider; a provider that cannot start here is a reason, not an error. */
const onnx =
  (provider: 'cpu' | 'cuda' | 'webgpu', allowSoftwareAdapter = false) =>
  async (weights: VggWeights, options: ComputeBackendOptions): Promise<Attempt> => {
    try {
      const { createOnnxBackend } = await import('./onnx/backend.ts');
      const backend = await createOnnxBackend(weights, {
        provider,
        threads: options.threads,
        allowSoftwareAdapter,
        ...(options.logger && { logger: options.logger }),
      });
      return { backend };
    } catch (error) {
      if (error instanceof BackendUnavailableError) return { why: lowerFirst(error.userMessage.replace(/\.$/, '')) };
      return { why: `ONNX Runtime (${provider}) failed to start`, failure: error };
    }
  };

/** `onnx`: ONNX Runtime on CUDA when its provider is installed, else on the CPU. */
const onnxCudaOrCpu = async (weights: VggWeights, options: ComputeBackendOptions): Promise<Attempt> => {
  const cuda = await onnx('cuda')(weights, options);
  if ('backend' in cuda) return cuda;
  const cpu = await onnx('cpu')(weights, options);
  return 'backend' in cpu ? { backend: cpu.backend, note: `${cuda.why}; on the CPU` } : cpu;
};

/** tfjs-node-gpu, only when TensorFlow really placed its ops on a GPU: on a CPU, ONNX Runtime is faster. */
const tensorflowOnGpu = async (weights: VggWeights, options: ComputeBackendOptions): Promise<Attempt> => {
  const attempt = await tfjs('tensorflow')(weights, options);
  if (!('backend' in attempt) || attempt.backend.info.gpu) return attempt;
  await attempt.backend.dispose();
  return { why: 'native TensorFlow found no GPU' };
};

const ATTEMPTS: Readonly<Record<Named, (weights: VggWeights, options: ComputeBackendOptions) => Promise<Attempt>>> = {
  onnx: onnxCudaOrCpu,
  // Forced, WebGPU may run on a software adapter (lavapipe): slow, but it checks the GPU path without a GPU.
  webgpu: onnx('webgpu', true),
  tensorflow: tfjs('tensorflow'),
  wasm: tfjs('wasm'),
  cpu: tfjs('cpu'),
};

/**
 * `auto` takes the first of these that starts: ONNX Runtime on CUDA, then on WebGPU with a hardware adapter
 * (never a software one), then tfjs-node-gpu with a GPU, then ONNX Runtime on the CPU (3× wasm per core, and
 * it uses every core), then wasm, then plain JavaScript.
 */
const AUTO_ATTEMPTS: readonly (readonly [string, (weights: VggWeights, options: ComputeBackendOptions) => Promise<Attempt>])[] = [
  ['onnx-cuda', onnx('cuda')],
  ['onnx-webgpu', onnx('webgpu')],
  ['tensorflow', tensorflowOnGpu],
  ['onnx', onnx('cpu')],
  ['wasm', tfjs('wasm')],
  ['cpu', tfjs('cpu')],
];

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
  if ('backend' in attempt) {
    const note = attempt.note === undefined ? '' : ` (${attempt.note})`;
    return withReason(attempt.backend, `forced by ENGINE_BACKEND=${choice}${note}`);
  }
  const detail = attempt.failure instanceof Error ? `: ${attempt.failure.message}` : '';
  throw new BackendUnavailableError(
    `ENGINE_BACKEND=${choice} ${NEEDS[choice] ?? 'cannot be used here:'} ${attempt.why}${detail}.`,
    { cause: attempt.failure },
  );
}

async function automatically(weights: VggWeights, options: ComputeBackendOptions): Promise<ComputeBackend> {
  const skipped: string[] = [];
  for (const [name, attemptTo] of AUTO_ATTEMPTS) {
    const attempt = await attemptTo(weights, options);
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

/** "No WebGPU adapter …" → "no WebGPU adapter …", inside a sentence; acronyms ("ONNX") stay. */
function lowerFirst(text: string): string {
  return /^[A-Z][a-z]/.test(text) ? text.charAt(0).toLowerCase() + text.slice(1) : text;
}
