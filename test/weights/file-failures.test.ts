import { readFile, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadH5wasm } from '../../src/weights/keras-h5.ts';
import { loadWeights } from '../../src/weights/load-weights.ts';
import { makeTinyVggWeights } from '../helpers/tiny-vgg.ts';
import { writeKerasH5, writeTfjsModel } from '../helpers/weights-fixtures.ts';
import { expectWeightsError } from './expect-weights-error.ts';
import { useTempDirs } from './temp-dir.ts';

const tempDir = useTempDirs();

async function shardPaths(modelJson: string): Promise<string[]> {
  const model = JSON.parse(await readFile(modelJson, 'utf8')) as { weightsManifest: { paths: string[] }[] };
  return model.weightsManifest[0]!.paths;
}
const tiny = makeTinyVggWeights();

describe('local files that cannot be used', () => {
  it('a path that does not exist', async () => {
    const file = path.join(await tempDir(), 'nowhere.h5');
    await expectWeightsError(loadWeights(file), `VGG19 weights file ${file} was not found`);
  });

  it('an empty file', async () => {
    const file = path.join(await tempDir(), 'empty.h5');
    await writeFile(file, '');
    await expectWeightsError(loadWeights(file), `${file} is empty`);
  });

  it('a zip archive such as a Keras 3 .keras file', async () => {
    const file = path.join(await tempDir(), 'vgg19.keras');
    await writeFile(file, Buffer.from('PK\x03\x04\x14\x00\x00\x00config.json', 'latin1'));
    await expectWeightsError(loadWeights(file), `${file} is a zip archive (a Keras 3 .keras file?)`);
  });

  it('a file that is not HDF5 nor model.json', async () => {
    const file = path.join(await tempDir(), 'weights.h5');
    await writeFile(file, Buffer.from('GIF89a\x01\x00\x01\x00 an image saved under the wrong name', 'latin1'));
    await expectWeightsError(loadWeights(file), `${file} is neither a Keras HDF5 (.h5) file nor a TF.js model.json`);
  });

  it('a file with the HDF5 signature but garbage after it', async () => {
    const file = path.join(await tempDir(), 'garbage.h5');
    await writeFile(file, Buffer.concat([Buffer.from('\x89HDF\r\n\x1a\n', 'latin1'), Buffer.alloc(4000, 7)]));
    await expectWeightsError(loadWeights(file), `${file} is corrupt or not a valid HDF5 file (bad superblock`);
  });

  it('a truncated HDF5 file (an interrupted copy)', async () => {
    const file = path.join(await tempDir(), 'cut.h5');
    await writeKerasH5(file, tiny);
    const { length } = await readFile(file);
    await truncate(file, Math.floor(length / 2));
    await expectWeightsError(
      loadWeights(file, { shapes: 'consistent' }),
      `${file} is truncated: it holds ${Math.floor(length / 2).toLocaleString('en-US')} bytes of ${length.toLocaleString('en-US')}`,
    );
  });

  it('an HDF5 file that is not Keras weights', async () => {
    const h5wasm = await loadH5wasm();
    const file = path.join(await tempDir(), 'other.h5');
    const h5 = new h5wasm.File(file, 'w');
    h5.create_dataset({ name: 'data', data: new Float32Array(4) });
    h5.close();
    await expectWeightsError(loadWeights(file), `${file} is an HDF5 file but not Keras weights`);
  });

  it('a layer with a kernel and no bias', async () => {
    const h5wasm = await loadH5wasm();
    const file = path.join(await tempDir(), 'nobias.h5');
    const h5 = new h5wasm.File(file, 'w');
    const layer = tiny.layers.get('block1_conv1')!;
    h5.create_attribute('layer_names', ['block1_conv1'], null, 'S12');
    const group = h5.create_group('block1_conv1');
    group.create_attribute('weight_names', ['block1_conv1_W_1:0'], null, 'S18');
    group.create_dataset({
      name: 'block1_conv1_W_1:0',
      data: layer.kernel,
      shape: [...layer.kernelShape],
      dtype: '<f',
    });
    h5.close();
    await expectWeightsError(
      loadWeights(file, { shapes: 'consistent' }),
      `${file}: layer block1_conv1 has a kernel but no bias`,
    );
  });

  it('weight_names naming a dataset that is not there', async () => {
    const h5wasm = await loadH5wasm();
    const file = path.join(await tempDir(), 'dangling.h5');
    const h5 = new h5wasm.File(file, 'w');
    h5.create_attribute('layer_names', ['block1_conv1'], null, 'S12');
    h5.create_group('block1_conv1').create_attribute('weight_names', ['block1_conv1_W_1:0'], null, 'S18');
    h5.close();
    await expectWeightsError(loadWeights(file), 'names weight block1_conv1_W_1:0, which is missing');
  });

  it('a file with no VGG19 layers at all', async () => {
    const file = path.join(await tempDir(), 'none.h5');
    await writeKerasH5(file, { source: 'none', layers: new Map() });
    await expectWeightsError(loadWeights(file), `${file} holds no VGG19 convolution layers`);
  });
});

describe('TF.js models that cannot be used', () => {
  it('a truncated last shard', async () => {
    const dir = await tempDir();
    const last = (await shardPaths(await writeTfjsModel(dir, tiny, { shardBytes: 2000 }))).at(-1)!;
    const { length } = await readFile(path.join(dir, last));
    await truncate(path.join(dir, last), length - 10);
    await expectWeightsError(
      loadWeights(dir, { shapes: 'consistent' }),
      `${path.join(dir, last)} is truncated`,
      /hold [\d,]+ bytes where its manifest describes [\d,]+/,
    );
  });

  it('a truncated shard in the middle is the one named', async () => {
    const dir = await tempDir();
    const shards = await shardPaths(await writeTfjsModel(dir, tiny, { shardBytes: 2000 }));
    expect(shards.length).toBeGreaterThan(3);
    await truncate(path.join(dir, shards[1]!), 1500);
    await expectWeightsError(loadWeights(dir, { shapes: 'consistent' }), `${path.join(dir, shards[1]!)} is truncated`);
  });

  it('a missing shard', async () => {
    const dir = await tempDir();
    const shards = await shardPaths(await writeTfjsModel(dir, tiny, { shardBytes: 2000 }));
    await rm(path.join(dir, shards[2]!));
    await expectWeightsError(
      loadWeights(dir, { shapes: 'consistent' }),
      `${path.join(dir, shards[2]!)} is missing (a shard named in ${path.join(dir, 'model.json')})`,
    );
  });

  it('a shard path that leaves the model folder', async () => {
    const dir = await tempDir();
    const modelJson = await writeTfjsModel(dir, tiny);
    const model = JSON.parse(await readFile(modelJson, 'utf8')) as { weightsManifest: { paths: string[] }[] };
    model.weightsManifest[0]!.paths = ['../../etc/passwd'];
    await writeFile(modelJson, JSON.stringify(model));
    await expectWeightsError(loadWeights(modelJson, { shapes: 'consistent' }), 'names a shard outside its folder');
  });

  it('JSON that is not a model.json, and JSON that does not parse', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'model.json');
    await writeFile(file, JSON.stringify({ modelTopology: {} }));
    await expectWeightsError(loadWeights(file), `${file} is not a TF.js model.json with a valid weightsManifest`);
    await writeFile(file, '{"weightsManifest": [');
    await expectWeightsError(loadWeights(file), `${file} is not valid JSON`);
  });

  it('quantized tensors without their scale', async () => {
    const dir = await tempDir();
    const modelJson = await writeTfjsModel(dir, tiny, { quantize: 'uint8' });
    const model = JSON.parse(await readFile(modelJson, 'utf8')) as {
      weightsManifest: { weights: { quantization?: { scale?: number } }[] }[];
    };
    delete model.weightsManifest[0]!.weights[0]!.quantization!.scale;
    await writeFile(modelJson, JSON.stringify(model));
    await expectWeightsError(
      loadWeights(modelJson, { shapes: 'consistent' }),
      'block1_conv1/kernel is quantized as uint8 without scale and min',
    );
  });

  it('keeps working after failures (no state leaks between loads)', async () => {
    const dir = await tempDir();
    await writeTfjsModel(dir, tiny);
    const weights = await loadWeights(dir, { shapes: 'consistent' });
    expect(weights.layers.size).toBe(16);
  });
});
