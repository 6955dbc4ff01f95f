import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BackendUnavailableError, createComputeBackend, createEngine } from '../../src/engine/index.ts';
import { createLogger } from '../../src/log/logger.ts';
import { memoryDestination } from '../helpers/memory-log.ts';
import { REPO_ROOT } from '../helpers/shared-data.ts';
import { makeTinyVggWeights } from '../helpers/tiny-vgg.ts';

/** Backend selection: ENGINE_BACKEND forced or auto, what each reports, and what importing the engine loads. */

describe('backend selection', () => {
  it('auto takes ONNX Runtime on the CPU here, saying why each faster path was passed over, and logs it', async () => {
    const { stream, lines } = memoryDestination();
    const logger = createLogger({ destination: stream, format: 'json' });
    const backend = await createComputeBackend('auto', makeTinyVggWeights(), { logger, threads: 2 });
    try {
      expect(backend.info).toMatchObject({ name: 'onnx', gpu: false, threads: 2, device: 'CPU, 2 threads' });
      // In order: CUDA (not installed), WebGPU (no hardware adapter: software ones are never picked), tfjs-node-gpu.
      expect(backend.info.reason).toMatch(
        /^auto: ONNX Runtime's CUDA provider is not available: .*; no WebGPU adapter to use: .*; neither tfjs-node-gpu nor tfjs-node is installed; using /,
      );
      const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(logged.at(-1)).toMatchObject({ backend: 'onnx', gpu: false, threads: 2, msg: 'compute backend: onnx' });
      expect(backend.memoryLimitBytes).toBeUndefined();
    } finally {
      await backend.dispose();
    }
  });

  it('wasm reports one thread and the heap ceiling that runs are checked against', async () => {
    const backend = await createComputeBackend('wasm', makeTinyVggWeights(), { threads: 2 });
    try {
      expect(backend.info).toMatchObject({ name: 'wasm', gpu: false, threads: 1, reason: 'forced by ENGINE_BACKEND=wasm' });
      expect(backend.memoryLimitBytes).toBeGreaterThan(2 ** 30);
    } finally {
      await backend.dispose();
    }
  });

  it('a forced backend that is not installed is a clear error', async () => {
    const attempt = createComputeBackend('tensorflow', makeTinyVggWeights());
    await expect(attempt).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(attempt).rejects.toThrow(
      /^ENGINE_BACKEND=tensorflow needs @tensorflow\/tfjs-node-gpu or @tensorflow\/tfjs-node, and neither tfjs-node-gpu nor tfjs-node is installed\.$/,
    );
  });

  it('ENGINE_BACKEND=onnx runs ONNX Runtime on the CPU when the CUDA provider is not installed, and says so', async () => {
    const backend = await createComputeBackend('onnx', makeTinyVggWeights(), { threads: 1 });
    try {
      expect(backend.info).toMatchObject({ name: 'onnx', gpu: false, device: 'CPU, 1 thread', threads: 1 });
      expect(backend.info.reason).toMatch(
        /^forced by ENGINE_BACKEND=onnx \(ONNX Runtime's CUDA provider is not available: .*ONNXRUNTIME_NODE_INSTALL=cuda12\); on the CPU\)$/,
      );
    } finally {
      await backend.dispose();
    }
  });

  it('a forced cpu backend is used and reported, and the engine says which backend it runs on', async () => {
    const engine = await createEngine(makeTinyVggWeights({ upTo: 'block3_conv1' }), { backend: 'cpu' });
    try {
      expect(engine.backend).toEqual({
        name: 'cpu',
        gpu: false,
        device: 'CPU, 1 thread',
        threads: 1,
        reason: 'forced by ENGINE_BACKEND=cpu',
      });
    } finally {
      await engine.dispose();
    }
    const backend = await createComputeBackend('cpu', makeTinyVggWeights({ upTo: 'block3_conv1' }));
    expect(backend.layers).toEqual(['block1_conv1', 'block1_conv2', 'block2_conv1', 'block2_conv2', 'block3_conv1']);
    expect(backend.memoryLimitBytes).toBeUndefined();
    await backend.dispose();
  });

  it('importing the engine (or the image pipeline) loads no compute library', async () => {
    // tfjs-core registers its engine on globalThis when it loads.
    const script =
      "await import('./src/engine/index.ts'); await import('./src/images/index.ts'); " +
      'process.stdout.write(String(Object.hasOwn(globalThis, "_tfengine")))';
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: REPO_ROOT,
    });
    expect(stdout).toBe('false');
  });
});
