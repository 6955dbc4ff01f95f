import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Logger } from '../../log/logger.ts';
import type { VggWeights } from '../../weights/types.ts';
import type { Attempt } from '../backends.ts';
import type { ComputeBackend } from '../compute.ts';
import type { BackendInfo } from '../types.ts';
import { VggNetwork } from './network.ts';
import { createObjective } from './objective.ts';

/**
 * tfjs as a ComputeBackend: `tensorflow` (tfjs-node-gpu, else tfjs-node: native TensorFlow, on CUDA when
 * present), `wasm` (XNNPACK in WebAssembly, one thread in Node) or `cpu` (plain JavaScript). tfjs has one global
 * backend per process; each ComputeBackend makes its own the active one whenever it computes, so a process (or a
 * test) can hold several, used one at a time.
 */

export type TfjsBackendName = 'tensorflow' | 'wasm' | 'cpu';

const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

/**
 * The wasm heap cannot grow past 4 GiB, and a module that runs out of it aborts for good. Runs whose estimated
 * peak, times the heap growth measured over it (fragmentation and growth steps: 1.6x at 512 px), would not fit
 * beside the weights are refused up front with EngineOutOfMemoryError, which the queue retries smaller, instead
 * of killing the backend mid-way.
 */
const WASM_HEAP_USABLE = 3.75 * 2 ** 30;
const WASM_HEAP_PER_ESTIMATED_BYTE = 1.6;

/** Starts tfjs on `name` and uploads the weights; `reason` is left for the caller to fill. */
export async function createTfjsBackend(
  name: TfjsBackendName,
  weights: VggWeights,
  options: { logger?: Logger } = {},
): Promise<Attempt> {
  // Production mode: no debug checks, and no "install tfjs-node" banner on stderr.
  tf.enableProdMode();
  const started = name === 'tensorflow' ? await startTensorflow() : name === 'wasm' ? await startWasm() : await startCpu();
  if (!started.ok) return started;
  const before = tf.memory().numBytes;
  const net = new VggNetwork(weights, name);
  const weightBytes = tf.memory().numBytes - before;
  options.logger?.info(
    { backend: name, layers: net.layers.length, winograd: net.winogradLayers.length, megabytes: Math.round(weightBytes / 2 ** 20) },
    'VGG19 weights uploaded to tfjs',
  );

  const activate = async () => {
    if (tf.getBackend() !== name && !(await tf.setBackend(name))) {
      throw new Error(`the tfjs ${name} backend could not be re-activated`);
    }
  };
  let objectives = 0;
  let disposed = false;
  const release = () => {
    if (disposed && objectives === 0) net.dispose();
  };
  const backend: ComputeBackend = {
    info: started.info,
    layers: net.layers.map((layer) => layer.name),
    memoryLimitBytes:
      name === 'wasm' ? (WASM_HEAP_USABLE - weightBytes) / WASM_HEAP_PER_ESTIMATED_BYTE : undefined,
    async createObjective(loss, targets) {
      if (disposed) throw new Error('the tfjs backend has been disposed');
      objectives++;
      try {
        return await createObjective(net, loss, targets, activate, () => {
          objectives--;
          release();
        });
      } catch (error) {
        objectives--;
        release();
        throw error;
      }
    },
    dispose() {
      disposed = true;
      release();
      return Promise.resolve();
    },
  };
  return { backend };
}

type Started = { ok: true; info: BackendInfo } | ({ ok: false } & Exclude<Attempt, { backend: ComputeBackend }>);

function cpuInfo(name: 'wasm' | 'cpu', reason: string): BackendInfo {
  return { name, gpu: false, device: 'CPU, 1 thread', threads: 1, reason };
}

async function startTensorflow(): Promise<Started> {
  let failure: unknown;
  for (const name of NATIVE_PACKAGES) {
    try {
      // A variable specifier: these optional packages need not exist at type-check time.
      const specifier: string = name;
      await import(specifier);
    } catch (error) {
      if (!isModuleNotFound(error)) failure ??= error;
      continue;
    }
    if (await tf.setBackend('tensorflow')) {
      const gpu = usesGpu();
      const where = gpu === undefined ? 'GPU use unknown' : gpu ? 'on the GPU' : 'on the CPU';
      const threads = os.availableParallelism();
      return {
        ok: true,
        info: {
          name: 'tensorflow',
          gpu: gpu === true,
          device: gpu ? 'GPU (CUDA)' : `CPU, ${threads} threads`,
          threads,
          reason: `${name} (${where})`,
        },
      };
    }
    failure ??= new Error(`${name} loaded but the tensorflow backend did not initialize`);
  }
  const why = failure ? 'native TensorFlow failed to load' : 'neither tfjs-node-gpu nor tfjs-node is installed';
  return { ok: false, why, failure };
}

/** tfjs-node's backend says whether TensorFlow placed ops on a GPU device. */
function usesGpu(): boolean | undefined {
  const backend = tf.backend() as unknown as { isUsingGpuDevice?: unknown };
  return typeof backend.isUsingGpuDevice === 'boolean' ? backend.isUsingGpuDevice : undefined;
}

async function startWasm(): Promise<Started> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // In Node the .wasm binaries sit next to the package's main file (dist/), not next to the caller.
    const main = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(`${path.dirname(main)}${path.sep}`);
    if (await tf.setBackend('wasm')) return { ok: true, info: cpuInfo('wasm', 'WebAssembly') };
    return { ok: false, why: 'the wasm backend did not initialize', failure: new Error('tf.setBackend("wasm") returned false') };
  } catch (error) {
    return { ok: false, why: 'the wasm backend failed to load', failure: error };
  }
}

async function startCpu(): Promise<Started> {
  if (await tf.setBackend('cpu')) return { ok: true, info: cpuInfo('cpu', 'plain JavaScript') };
  return { ok: false, why: 'the cpu backend did not initialize', failure: new Error('tf.setBackend("cpu") returned false') };
}

function isModuleNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}
