import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadWeights } from '../../src/weights/load-weights.ts';
import { VGG19_LAYERS } from '../../src/weights/vgg19-layout.ts';
import { writeKerasH5 } from '../helpers/weights-fixtures.ts';
import { useTempDirs } from './temp-dir.ts';
import { SHARED_VGG19 } from '../helpers/shared-data.ts';

/** The real ImageNet weights shared beside the repository (uint8-quantized TF.js model); skipped when absent. */
const sharedModel = SHARED_VGG19;
const tempDir = useTempDirs();

interface Manifest {
  weightsManifest: {
    paths: string[];
    weights: { name: string; shape: number[]; quantization: { dtype: string; scale: number; min: number } }[];
  }[];
}

describe.skipIf(!existsSync(sharedModel))('the shared real VGG19 weights', () => {
  it('load with every VGG19 shape, matching the manifest dequantization value for value', async () => {
    const weights = await loadWeights(sharedModel);
    expect([...weights.layers.keys()]).toEqual(VGG19_LAYERS.map((l) => l.name));
    for (const layer of VGG19_LAYERS) {
      expect(weights.layers.get(layer.name)!.kernelShape).toEqual([3, 3, layer.inChannels, layer.outChannels]);
    }

    // An independent reading of the bytes: every tensor is uint8, so a value's byte offset is its index.
    const manifest = JSON.parse(await readFile(path.join(sharedModel, 'model.json'), 'utf8')) as Manifest;
    const group = manifest.weightsManifest[0]!;
    const bytes = Buffer.concat(await Promise.all(group.paths.map((p) => readFile(path.join(sharedModel, p)))));
    let offset = 0;
    let checked = 0;
    for (const entry of group.weights) {
      const count = entry.shape.reduce((a, b) => a * b, 1);
      const [layerName, role] = entry.name.split('/') as [string, 'kernel' | 'bias'];
      const loaded = weights.layers.get(layerName as never)![role];
      expect(loaded.length).toBe(count);
      for (const index of [0, 1, Math.floor(count / 2), count - 1]) {
        const expected = Math.fround(bytes[offset + index]! * entry.quantization.scale + entry.quantization.min);
        expect(loaded[index]).toBe(expected);
        checked++;
      }
      offset += count;
    }
    expect(offset).toBe(bytes.length);
    expect(checked).toBe(128);
  });

  it('round-trip through a full-size Keras .h5 (the 80 MB layout of the canonical file)', async () => {
    const weights = await loadWeights(sharedModel);
    const file = path.join(await tempDir(), 'vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5');
    await writeKerasH5(file, weights);
    const size = (await stat(file)).size;
    expect(size).toBeGreaterThan(80_000_000);
    expect(size).toBeLessThan(80_200_000);
    const reloaded = await loadWeights(file);
    expect(reloaded.layers.size).toBe(16);
    const bytesOf = (values: Float32Array) => Buffer.from(values.buffer, values.byteOffset, values.byteLength);
    for (const [name, layer] of weights.layers) {
      const other = reloaded.layers.get(name)!;
      // Buffer.equals, not toEqual: a deep comparison of 9 MB arrays element by element takes minutes.
      expect(bytesOf(other.kernel).equals(bytesOf(layer.kernel)), `${name} kernel`).toBe(true);
      expect(bytesOf(other.bias).equals(bytesOf(layer.bias)), `${name} bias`).toBe(true);
    }
  });
});
