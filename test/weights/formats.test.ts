import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadH5wasm } from '../../src/weights/keras-h5.ts';
import { loadWeights } from '../../src/weights/index.ts';
import type { VggWeights } from '../../src/weights/types.ts';
import { VGG19_LAYER_NAMES } from '../../src/weights/vgg19-layout.ts';
import { makeTinyVggWeights } from '../helpers/tiny-vgg.ts';
import { writeKerasH5, writeRealShapedManifest, writeTfjsModel } from '../helpers/weights-fixtures.ts';
import { expectWeightsError } from './expect-weights-error.ts';
import { useTempDirs } from './temp-dir.ts';

const tempDir = useTempDirs();
const tiny = makeTinyVggWeights();

function expectSameWeights(actual: VggWeights, expected: VggWeights, tolerance: (v: number) => number = () => 0) {
  expect([...actual.layers.keys()]).toEqual([...expected.layers.keys()]);
  for (const [name, layer] of expected.layers) {
    const got = actual.layers.get(name)!;
    expect(got.kernelShape).toEqual(layer.kernelShape);
    expect(got.kernel).toBeInstanceOf(Float32Array);
    expect(got.kernel.length).toBe(layer.kernel.length);
    expect(got.bias.length).toBe(layer.bias.length);
    for (const [values, want] of [
      [got.kernel, layer.kernel],
      [got.bias, layer.bias],
    ] as const) {
      let worst = 0;
      for (let i = 0; i < want.length; i++) {
        worst = Math.max(worst, Math.abs(values[i]! - want[i]!) - tolerance(want[i]!));
      }
      expect(worst, `${name} deviates`).toBeLessThanOrEqual(0);
    }
  }
}

describe('Keras HDF5 loader', () => {
  it('reads the legacy notop layout through layer_names and weight_names', async () => {
    const file = path.join(await tempDir(), 'vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5');
    await writeKerasH5(file, tiny, { layout: 'legacy' });
    const weights = await loadWeights(file, { shapes: 'consistent' });
    expect(weights.source).toBe(file);
    expect([...weights.layers.keys()]).toEqual(VGG19_LAYER_NAMES);
    expectSameWeights(weights, tiny);
  });

  it('reads a full-model save (model_weights/<layer>/<layer>/kernel:0)', async () => {
    const file = path.join(await tempDir(), 'vgg19-model.h5');
    await writeKerasH5(file, tiny, { layout: 'model' });
    expectSameWeights(await loadWeights(file, { shapes: 'consistent' }), tiny);
  });

  it('loads a prefix of VGG19 when that is all the file has', async () => {
    const partial = makeTinyVggWeights({ upTo: 'block3_conv1' });
    const file = path.join(await tempDir(), 'partial.h5');
    await writeKerasH5(file, partial);
    const weights = await loadWeights(file, { shapes: 'consistent' });
    expect([...weights.layers.keys()]).toEqual(VGG19_LAYER_NAMES.slice(0, 5));
  });

  it('reads list attributes that Keras split into chunks (layer_names0, layer_names1, ...)', async () => {
    const h5wasm = await loadH5wasm();
    const file = path.join(await tempDir(), 'chunked.h5');
    const layers = makeTinyVggWeights({ upTo: 'block2_conv1' });
    const h5 = new h5wasm.File(file, 'w');
    h5.create_attribute('layer_names0', ['block1_conv1', 'block1_conv2'], null, 'S12');
    h5.create_attribute('layer_names1', ['block2_conv1'], null, 'S12');
    for (const [name, layer] of layers.layers) {
      const group = h5.create_group(name);
      group.create_attribute('weight_names0', [`${name}/kernel:0`], null, 'S24');
      group.create_attribute('weight_names1', [`${name}/bias:0`], null, 'S20');
      const inner = group.create_group(name);
      inner.create_dataset({ name: 'kernel:0', data: layer.kernel, shape: [...layer.kernelShape], dtype: '<f' });
      inner.create_dataset({ name: 'bias:0', data: layer.bias, shape: [layer.bias.length], dtype: '<f' });
    }
    h5.close();
    expectSameWeights(await loadWeights(file, { shapes: 'consistent' }), layers);
  });

  it('reads weights nested in one model layer, and float64 datasets', async () => {
    const h5wasm = await loadH5wasm();
    const file = path.join(await tempDir(), 'nested.h5');
    const h5 = new h5wasm.File(file, 'w');
    const layers = makeTinyVggWeights({ upTo: 'block1_conv2' });
    h5.create_attribute('layer_names', ['input_1', 'vgg19'], null, 'S7');
    h5.create_group('input_1').create_attribute('weight_names', [], [0], 'S1');
    const group = h5.create_group('vgg19');
    const names: string[] = [];
    for (const [name, layer] of layers.layers) {
      const inner = group.create_group(name);
      inner.create_dataset({
        name: 'kernel:0',
        data: Float64Array.from(layer.kernel),
        shape: [...layer.kernelShape],
        dtype: '<d',
      });
      inner.create_dataset({
        name: 'bias:0',
        data: Float64Array.from(layer.bias),
        shape: [layer.bias.length],
        dtype: '<d',
      });
      names.push(`${name}/kernel:0`, `${name}/bias:0`);
    }
    group.create_attribute('weight_names', names, null, 'S25');
    h5.close();
    expectSameWeights(await loadWeights(file, { shapes: 'consistent' }), layers);
  });
});

describe('TF.js layers model loader', () => {
  it('reads float32 shards, with tensors split across shard boundaries', async () => {
    const dir = await tempDir();
    const modelJson = await writeTfjsModel(dir, tiny, { shardBytes: 1000 });
    const weights = await loadWeights(modelJson, { shapes: 'consistent' });
    expect(weights.source).toBe(modelJson);
    expectSameWeights(weights, tiny);
  });

  it('accepts the folder that holds model.json', async () => {
    const dir = await tempDir();
    await writeTfjsModel(dir, tiny);
    const weights = await loadWeights(dir, { shapes: 'consistent' });
    expect(weights.source).toBe(path.join(dir, 'model.json'));
    expectSameWeights(weights, tiny);
  });

  it("dequantizes uint8 and uint16 with each tensor's scale and min", async () => {
    for (const [quantize, levels] of [
      ['uint8', 255],
      ['uint16', 65535],
    ] as const) {
      const dir = await tempDir();
      await writeTfjsModel(dir, tiny, { quantize, shardBytes: 333 });
      const weights = await loadWeights(dir, { shapes: 'consistent' });
      // Each value must land within half a quantization step of the original (plus float32 rounding).
      for (const [name, layer] of tiny.layers) {
        for (const [got, want] of [
          [weights.layers.get(name)!.kernel, layer.kernel],
          [weights.layers.get(name)!.bias, layer.bias],
        ] as const) {
          const range = Math.max(...want) - Math.min(...want);
          const step = range / levels;
          let worst = 0;
          for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
          expect(worst, `${quantize} ${name}`).toBeLessThanOrEqual(step / 2 + 1e-6);
        }
      }
      // Quantization is lossy: uint8 must actually differ from the originals somewhere.
      if (quantize === 'uint8')
        expect(weights.layers.get('block1_conv1')!.kernel).not.toEqual(tiny.layers.get('block1_conv1')!.kernel);
    }
  });

  it('decodes float16 shards', async () => {
    const dir = await tempDir();
    await writeTfjsModel(dir, tiny, { quantize: 'float16' });
    const weights = await loadWeights(dir, { shapes: 'consistent' });
    expectSameWeights(weights, tiny, (v) => Math.abs(v) * 2 ** -11 + 2 ** -25);
  });

  it('finds tensors under a model scope with a :0 suffix, ignoring other tensors', async () => {
    const dir = await tempDir();
    const layers = makeTinyVggWeights({ upTo: 'block1_conv2' });
    const modelJson = await writeTfjsModel(dir, layers);
    const model = JSON.parse(await import('node:fs/promises').then((fs) => fs.readFile(modelJson, 'utf8'))) as {
      weightsManifest: { weights: { name: string; shape: number[] }[]; paths: string[] }[];
    };
    for (const weight of model.weightsManifest[0]!.weights) weight.name = `vgg19/${weight.name}:0`;
    // An extra tensor after the VGG ones must be skipped without upsetting offsets.
    model.weightsManifest[0]!.weights.push({ name: 'predictions/bias', shape: [2], dtype: 'float32' } as never);
    const shard = path.join(dir, model.weightsManifest[0]!.paths[0]!);
    const fs = await import('node:fs/promises');
    await fs.appendFile(shard, Buffer.from(new Float32Array([1, 2]).buffer));
    await writeFile(modelJson, JSON.stringify(model));
    expectSameWeights(await loadWeights(modelJson, { shapes: 'consistent' }), layers);
  });
});

describe('shape checks', () => {
  it('demands the real VGG19 shapes by default and names the file and layer', async () => {
    const file = path.join(await tempDir(), 'tiny.h5');
    await writeKerasH5(file, tiny);
    await expectWeightsError(
      loadWeights(file),
      file,
      'block1_conv1 kernel has shape [3,3,3,4], VGG19 needs [3,3,3,64]',
    );
  });

  it('names the missing layers when a real-shaped file stops early', async () => {
    const file = path.join(await tempDir(), 'short.h5');
    await writeKerasH5(file, makeTinyVggWeights({ widths: [64, 128, 256, 512, 512], upTo: 'block1_conv1' }));
    const message = await expectWeightsError(loadWeights(file));
    expect(message).toBe(
      `${file} is missing 15 of the 16 VGG19 convolution layers (block1_conv2 … block5_conv4); ` +
        'all of block1_conv1 … block5_conv4 are needed',
    );
  });

  it('refuses at start-up a real-shaped file that stops at block5_conv1 (the keras preset needs block5_conv2)', async () => {
    const modelJson = await writeRealShapedManifest(await tempDir(), VGG19_LAYER_NAMES.slice(0, 13));
    // No shard exists: the check must come before any tensor data is read.
    const message = await expectWeightsError(
      loadWeights({ source: modelJson, cacheDir: await tempDir() }, { progress: 'none' }),
    );
    expect(message).toBe(
      `${modelJson} is missing 3 of the 16 VGG19 convolution layers (block5_conv2 … block5_conv4); ` +
        'all of block1_conv1 … block5_conv4 are needed',
    );
  });

  it('names each missing layer, with runs shortened, when layers are missing in the middle too', async () => {
    const kept = VGG19_LAYER_NAMES.filter((name) => !['block2_conv2', 'block5_conv3', 'block5_conv4'].includes(name));
    const modelJson = await writeRealShapedManifest(await tempDir(), kept);
    await expectWeightsError(
      loadWeights(modelJson),
      `${modelJson} is missing 3 of the 16 VGG19 convolution layers (block2_conv2, block5_conv3, block5_conv4)`,
    );
  });

  it('passes the shape check with all sixteen real-shaped layers (then needs the shards)', async () => {
    const dir = await tempDir();
    const modelJson = await writeRealShapedManifest(dir, VGG19_LAYER_NAMES);
    await expectWeightsError(
      loadWeights(modelJson),
      `${path.join(dir, 'group1-shard1of1.bin')} is missing (a shard named in ${modelJson})`,
    );
  });

  it('recognizes channels-first (Theano) kernels', async () => {
    const dir = await tempDir();
    const layer = tiny.layers.get('block1_conv1')!;
    const theano: VggWeights = {
      source: 'theano',
      layers: new Map([['block1_conv1', { ...layer, kernelShape: [4, 3, 3, 3] }]]),
    };
    await writeTfjsModel(dir, theano);
    await expectWeightsError(loadWeights(dir, { shapes: 'consistent' }), 'model.json', 'channels-first (Theano)');
  });

  it('requires channels to chain from one layer to the next in consistent mode', async () => {
    const dir = await tempDir();
    const a = makeTinyVggWeights({ upTo: 'block1_conv2', widths: [4, 6, 8, 8, 8] });
    const b = makeTinyVggWeights({ upTo: 'block1_conv2', widths: [5, 6, 8, 8, 8] });
    const mixed: VggWeights = {
      source: 'mixed',
      layers: new Map([
        ['block1_conv1', a.layers.get('block1_conv1')!],
        ['block1_conv2', b.layers.get('block1_conv2')!],
      ]),
    };
    await writeTfjsModel(dir, mixed);
    await expectWeightsError(
      loadWeights(dir, { shapes: 'consistent' }),
      "block1_conv2 kernel has shape [3,3,5,5], its input channels must be 4 (block1_conv1's outputs)",
    );
  });

  it('refuses a gap in the layer sequence', async () => {
    const dir = await tempDir();
    const layers = new Map(tiny.layers);
    layers.delete('block2_conv2');
    await writeTfjsModel(dir, { source: 'gap', layers });
    await expectWeightsError(
      loadWeights(dir, { shapes: 'consistent' }),
      'has block3_conv1 but is missing block2_conv2',
    );
  });

  it('refuses a bias of the wrong length', async () => {
    const dir = await tempDir();
    const layer = tiny.layers.get('block1_conv1')!;
    await writeTfjsModel(dir, {
      source: 'bad bias',
      layers: new Map([['block1_conv1', { ...layer, bias: new Float32Array(3) }]]),
    });
    await expectWeightsError(
      loadWeights(dir, { shapes: 'consistent' }),
      'block1_conv1 bias has shape [3], expected [4]',
    );
  });
});

describe('a file of the wrong kind', () => {
  it('names an HTML page saved in place of the weights', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5');
    await writeFile(file, '\n<!DOCTYPE html><html><head><title>Sign in</title></head><body>...</body></html>');
    await expectWeightsError(loadWeights(file), file, 'is a web page (HTML/XML), not weights');
    await mkdir(path.join(dir, 'm'));
    await writeFile(path.join(dir, 'm', 'model.json'), "<?xml version='1.0'?><Error><Code>AccessDenied</Code></Error>");
    await expectWeightsError(loadWeights(path.join(dir, 'm')), 'model.json is a web page');
  });
});
