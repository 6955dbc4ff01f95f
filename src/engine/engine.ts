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

export interface EngineOptions {
  logger?: Logger;
}

/**
 * The wasm heap cannot grow past 4 GiB and fragments: runs estimated above this are refused up front with
 * EngineOutOfMemoryError (the queue then retries smaller) rather than dying mid-way.
 */
const WASM_MEMORY_LIMIT = 3 * 2 ** 30;

/**
 * Uploads the weights to the active backend (call selectBackend first) once, for every run. Several runs may
 * share an engine at once; each holds only its own tensors.
 */
export function createEngine(weights: VggWeights, options: EngineOptions = {}): Engine {
  const net = new VggNetwork(weights);
  const backend = currentBackend();
  const logger = options.logger;
  let running = 0;
  let disposed = false;
  const release = () => {
    if (disposed && running === 0) net.dispose();
  };
  const context = {
    net,
    backend: backend.name,
    memoryLimitBytes: backend.name === 'wasm' ? WASM_MEMORY_LIMIT : undefined,
    logger,
  };
  logger?.debug({ layers: net.layers.length, source: weights.source, tensors: tf.memory().numTensors }, 'engine ready');
  return {
    backend,
    stylize: async (request, hooks) => {
      if (disposed) throw new Error('the engine has been disposed');
      running++;
      try {
        return await runStylize(context, request, hooks);
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
