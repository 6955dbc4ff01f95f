import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { BackendUnavailableError, createEngine, selectBackend } from '../../src/engine/index.ts';
import { evaluate } from '../../src/engine/objective.ts';
import { PRESETS } from '../../src/engine/presets.ts';
import { buildObjective, disposeObjective } from '../../src/engine/targets.ts';
import { VggNetwork } from '../../src/engine/vgg-network.ts';
import { createLogger } from '../../src/log/logger.ts';
import { memoryDestination } from '../helpers/memory-log.ts';
import { makeTinyVggWeights } from '../helpers/tiny-vgg.ts';

/** Loss terms and image gradient of the default objective on a small model, computed on the active backend. */
function lossAndGradient(
  seed: number,
  widths?: [number, number, number, number, number],
  side = 32,
): { terms: Float32Array; grad: Float32Array; winograd: string[] } {
  const net = new VggNetwork(makeTinyVggWeights({ seed, widths }));
  try {
    return tf.tidy(() => {
      const shape: [number, number, number, number] = [1, side, side, 3];
      const content = tf.randomUniform<tf.Rank.R4>(shape, -110, 110, 'float32', seed + 1);
      const style = tf.randomUniform<tf.Rank.R4>(shape, -110, 110, 'float32', seed + 2);
      const x = tf.randomUniform<tf.Rank.R4>(shape, -110, 110, 'float32', seed + 3);
      const objective = buildObjective(net, PRESETS.default, content, [{ image: style, weight: 1 }]);
      const result = evaluate(net, objective, x);
      const out = {
        terms: result.terms.dataSync() as Float32Array,
        grad: result.grad.dataSync() as Float32Array,
        winograd: net.winogradLayers,
      };
      disposeObjective(objective);
      return out;
    });
  } finally {
    net.dispose();
  }
}

function expectAgreement(a: ReturnType<typeof lossAndGradient>, b: ReturnType<typeof lossAndGradient>, tolerance: number) {
  for (let i = 0; i < 4; i++) {
    expect(b.terms[i]).toBeGreaterThan(0);
    expect(Math.abs(a.terms[i]! - b.terms[i]!) / b.terms[i]!).toBeLessThan(tolerance);
  }
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < b.grad.length; i++) {
    diff += (a.grad[i]! - b.grad[i]!) ** 2;
    norm += b.grad[i]! ** 2;
  }
  expect(norm).toBeGreaterThan(0);
  expect(Math.sqrt(diff / norm)).toBeLessThan(tolerance);
}

describe('backends', () => {
  it('wasm and cpu agree within float tolerance on a tiny model', async () => {
    await selectBackend('cpu');
    const cpu = lossAndGradient(3);
    await selectBackend('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expectAgreement(lossAndGradient(3), cpu, 1e-5);
  });

  it('wasm runs 256-channel layers as Winograd convolutions and still agrees with cpu', async () => {
    const widths: [number, number, number, number, number] = [4, 6, 256, 8, 8];
    await selectBackend('cpu');
    const cpu = lossAndGradient(5, widths, 40);
    expect(cpu.winograd).toEqual([]);
    await selectBackend('wasm');
    const wasm = lossAndGradient(5, widths, 40);
    expect(wasm.winograd).toEqual(['block3_conv2', 'block3_conv3', 'block3_conv4']);
    expectAgreement(wasm, cpu, 1e-4);
  });

  it('auto picks WebAssembly when native TensorFlow is not installed, and logs the choice', async () => {
    const { stream, lines } = memoryDestination();
    const info = await selectBackend('auto', createLogger({ destination: stream, format: 'json' }));
    expect(info).toMatchObject({ name: 'wasm', gpu: false });
    expect(info.reason).toMatch(/neither tfjs-node-gpu nor tfjs-node is installed/);
    expect(tf.getBackend()).toBe('wasm');
    const logged = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
    expect(logged).toMatchObject({ backend: 'wasm', gpu: false, msg: 'tfjs backend: wasm' });
  });

  it('a forced backend that is not installed is a clear error', async () => {
    const attempt = selectBackend('tensorflow');
    await expect(attempt).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(attempt).rejects.toThrow(/ENGINE_BACKEND=tensorflow needs @tensorflow\/tfjs-node-gpu or @tensorflow\/tfjs-node/);
  });

  it('a forced cpu backend is used and reported, and the engine says which backend it runs on', async () => {
    const info = await selectBackend('cpu');
    expect(info).toEqual({ name: 'cpu', gpu: false, reason: 'forced by ENGINE_BACKEND=cpu' });
    const engine = createEngine(makeTinyVggWeights());
    expect(engine.backend).toEqual(info);
    engine.dispose();
  });
});
