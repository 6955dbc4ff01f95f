import type { BackendChoice } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { VggWeights } from '../weights/types.ts';
import { createComputeBackend } from './backends.ts';
import { runStylize } from './run.ts';
import type { BackendInfo, StylizeFn } from './types.ts';
import { networkLayers } from './validate.ts';

export interface Engine {
  readonly backend: BackendInfo;
  /** Usable detached (`const { stylize } = engine`). Several runs may share an engine at once. */
  readonly stylize: StylizeFn;
  /** Refuses new runs at once; resolves when the runs in progress have finished and the weights are freed. */
  dispose(): Promise<void>;
}

export interface EngineOptions {
  backend: BackendChoice;
  /** CPU threads, for backends that can be told. */
  threads?: number;
  logger?: Logger;
}

/** An Emscripten abort() (the wasm module ran out of memory) leaves the module unusable for the process. */
function isModuleAbort(error: unknown): boolean {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  return cause instanceof Error && cause.name === 'RuntimeError' && /^Aborted\(/.test(cause.message);
}

/** Starts the compute backend (see backends.ts) with the weights loaded onto it, once, for every run. */
export async function createEngine(weights: VggWeights, options: EngineOptions): Promise<Engine> {
  const { logger } = options;
  const compute = await createComputeBackend(options.backend, weights, { threads: options.threads, logger });
  let layers;
  try {
    layers = networkLayers(compute.layers, weights);
  } catch (error) {
    await compute.dispose();
    throw error;
  }
  const context = { compute, layers, logger };
  let running = 0;
  let disposed = false;
  let crashed: unknown;
  let released: Promise<void> | undefined;
  let idle: (() => void) | undefined;
  const release = () => {
    if (disposed && running === 0) idle?.();
  };
  return {
    backend: compute.info,
    stylize: async (request, hooks) => {
      if (disposed) throw new Error('the engine has been disposed');
      if (crashed) {
        throw new Error(`the ${compute.info.name} backend crashed earlier; restart the process`, { cause: crashed });
      }
      running++;
      try {
        return await runStylize(context, request, hooks);
      } catch (error) {
        if (isModuleAbort(error)) {
          crashed = error;
          logger?.error({ err: error }, `the ${compute.info.name} backend aborted (out of memory); restart the process`);
        }
        throw error;
      } finally {
        running--;
        release();
      }
    },
    dispose: () => {
      disposed = true;
      released ??= new Promise<void>((resolve) => {
        idle = resolve;
        release();
      }).then(() => compute.dispose());
      return released;
    },
  };
}
