import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { BackendChoice } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import { BackendUnavailableError } from './errors.ts';
import type { BackendInfo } from './types.ts';

/**
 * Picks the tfjs backend once at start-up: `tensorflow` (tfjs-node-gpu, else tfjs-node) when installed, then
 * `wasm`, then `cpu`; or exactly the one ENGINE_BACKEND forces, failing with a clear error when it cannot run.
 */

const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

let selected: BackendInfo | undefined;

/** What selectBackend chose, or what tfjs is running on if it was never called. */
export function currentBackend(): BackendInfo {
  if (selected && tf.getBackend() === selected.name) return selected;
  const name = tf.getBackend();
  const known = name === 'tensorflow' || name === 'wasm' ? name : 'cpu';
  return { name: known, gpu: false, device: 'CPU', threads: 1, reason: `tfjs was already running on ${name}` };
}

export async function selectBackend(choice: BackendChoice, logger?: Logger): Promise<BackendInfo> {
  // Production mode: no debug checks, and no "install tfjs-node" banner on stderr.
  tf.enableProdMode();
  const info = choice === 'auto' ? await selectAutomatically(logger) : await force(choice);
  selected = info;
  logger?.info({ backend: info.name, gpu: info.gpu, reason: info.reason }, `tfjs backend: ${info.name}`);
  return info;
}

async function selectAutomatically(logger: Logger | undefined): Promise<BackendInfo> {
  const native = await tryTensorflow();
  if (native.info) return { ...native.info, reason: `auto: ${native.info.reason}` };
  if (native.failure) logger?.warn({ err: native.failure }, 'native TensorFlow is installed but did not start');
  const wasm = await tryWasm();
  if (wasm.info) return { ...wasm.info, reason: `auto: ${native.why}; using WebAssembly` };
  logger?.warn({ err: wasm.failure }, 'the WebAssembly backend did not start');
  if (await tf.setBackend('cpu')) {
    return {
      name: 'cpu',
      gpu: false,
      device: 'CPU',
      threads: 1,
      reason: `auto: ${native.why}; WebAssembly failed; using plain JavaScript`,
    };
  }
  throw new BackendUnavailableError('No TensorFlow.js backend could start on this machine.');
}

async function force(choice: Exclude<BackendChoice, 'auto'>): Promise<BackendInfo> {
  if (choice === 'onnx' || choice === 'webgpu') {
    throw new BackendUnavailableError(`ENGINE_BACKEND=${choice} is not available in this build.`);
  }
  const attempt =
    choice === 'tensorflow' ? await tryTensorflow() : choice === 'wasm' ? await tryWasm() : await tryCpu();
  if (attempt.info) return { ...attempt.info, reason: `forced by ENGINE_BACKEND=${choice}` };
  const detail = attempt.failure instanceof Error ? `: ${attempt.failure.message}` : '';
  throw new BackendUnavailableError(
    choice === 'tensorflow'
      ? `ENGINE_BACKEND=tensorflow needs @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node, and ${attempt.why}${detail}.`
      : `ENGINE_BACKEND=${choice} could not start${detail}.`,
    { cause: attempt.failure },
  );
}

interface Attempt {
  info?: BackendInfo;
  /** Why it was not used, for the reason text. */
  why: string;
  failure?: unknown;
}

async function tryTensorflow(): Promise<Attempt> {
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
      const device = gpu === undefined ? 'GPU use unknown' : gpu ? 'on the GPU' : 'on the CPU';
      return {
        info: { name: 'tensorflow', gpu: gpu === true, device: gpu ? 'GPU' : 'CPU', threads: 1, reason: `${name} (${device})` },
        why: '',
      };
    }
    failure ??= new Error(`${name} loaded but the tensorflow backend did not initialize`);
  }
  const why = failure ? 'native TensorFlow failed to load' : 'neither tfjs-node-gpu nor tfjs-node is installed';
  return { why, failure };
}

/** tfjs-node's backend says whether TensorFlow placed ops on a GPU device. */
function usesGpu(): boolean | undefined {
  const backend = tf.backend() as unknown as { isUsingGpuDevice?: unknown };
  return typeof backend.isUsingGpuDevice === 'boolean' ? backend.isUsingGpuDevice : undefined;
}

async function tryWasm(): Promise<Attempt> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // In Node the .wasm binaries sit next to the package's main file (dist/), not next to the caller.
    const main = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(`${path.dirname(main)}${path.sep}`);
    if (await tf.setBackend('wasm')) return { info: { name: 'wasm', gpu: false, device: 'CPU', threads: 1, reason: 'WebAssembly' }, why: '' };
    return { why: 'the wasm backend did not initialize', failure: new Error('tf.setBackend("wasm") returned false') };
  } catch (error) {
    return { why: 'the wasm backend failed to load', failure: error };
  }
}

async function tryCpu(): Promise<Attempt> {
  if (await tf.setBackend('cpu')) {
    return { info: { name: 'cpu', gpu: false, device: 'CPU', threads: 1, reason: 'plain JavaScript' }, why: '' };
  }
  return { why: 'the cpu backend did not initialize' };
}

function isModuleNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}
