import * as tf from '@tensorflow/tfjs';
import type { Logger } from '../log/logger.ts';
import type { VggWeights } from '../weights/types.ts';
import { currentBackend } from './backend.ts';
import { runStylize } from './run.ts';
import type { BackendInfo, StylizeFn } from './types.ts';
import { VggNetwork } from './vgg-network.ts';

export interface Engine {
  readonly backend: BackendInfo;
  readonly stylize: StylizeFn;
  /** Frees the weights. Runs in progress finish first; later calls to stylize reject. */
  dispose(): void;
}

/** An Emscripten abort() leaves the wasm module unusable for the rest of the process. */
function isWasmAbort(error: unknown): boolean {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  return cause instanceof Error && cause.name === 'RuntimeError' && /^Aborted\(/.test(cause.message);
}

export interface EngineOptions {
  logger?: Logger;
}

/**
 * The wasm heap cannot grow past 4 GiB, and a module that runs out of it aborts for good. Runs whose estimated
 * peak, times the heap growth measured over it (fragmentation and growth steps: 1.6x at 512 px), would not fit
 * beside the engine's own tensors are refused up front with EngineOutOfMemoryError, which the queue retries
 * smaller, instead of killing the backend mid-way.
 */
const WASM_HEAP_USABLE = 3.75 * 2 ** 30;
const WASM_HEAP_PER_ESTIMATED_BYTE = 1.6;

/**
 * Uploads the weights to the active backend (call selectBackend first) once, for every run. Several runs may
 * share an engine at once; each holds only its own tensors.
 */
export function createEngine(weights: VggWeights, options: EngineOptions = {}): Engine {
  const before = tf.memory().numBytes;
  const net = new VggNetwork(weights);
  const engineBytes = tf.memory().numBytes - before;
  const backend = currentBackend();
  const logger = options.logger;
  let running = 0;
  let disposed = false;
  let crashed: unknown;
  const release = () => {
    if (disposed && running === 0) net.dispose();
  };
  const context = {
    net,
    backend: backend.name,
    memoryLimitBytes:
      backend.name === 'wasm' ? (WASM_HEAP_USABLE - engineBytes) / WASM_HEAP_PER_ESTIMATED_BYTE : undefined,
    logger,
  };
  logger?.info(
    { layers: net.layers.length, winograd: net.winogradLayers.length, megabytes: Math.round(engineBytes / 2 ** 20) },
    'style-transfer engine ready',
  );
  return {
    backend,
    stylize: async (request, hooks) => {
      if (disposed) throw new Error('the engine has been disposed');
      if (crashed) throw new Error('the WebAssembly backend crashed earlier; restart the process', { cause: crashed });
      running++;
      try {
        return await runStylize(context, request, hooks);
      } catch (error) {
        if (backend.name === 'wasm' && isWasmAbort(error)) {
          crashed = error;
          logger?.error({ err: error }, 'the WebAssembly backend aborted (out of memory); restart the process');
        }
        throw error;
      } finally {
        running--;
        release();
      }
    },
    dispose: () => {
      disposed = true;
      release();
    },
  };
}
