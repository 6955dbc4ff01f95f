import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadH5wasm } from '../../src/weights/keras-h5.ts';
import type { VggWeights } from '../../src/weights/types.ts';
import { isVggLayerName, VGG19_LAYERS, type VggLayerName } from '../../src/weights/vgg19-layout.ts';

/**
 * Writes weights in the two formats people have, so tests exercise the real loaders on real files. Use them with
 * makeTinyVggWeights() from tiny-vgg.ts, or with any VggWeights (shapes are written as given, so a test can
 * also write a file with wrong shapes).
 */

export type Quantization = 'uint8' | 'uint16' | 'float16';

export interface TfjsModelOptions {
  /** Stored like `tensorflowjs_converter --quantize_*`; float32 when absent. */
  quantize?: Quantization;
  /** Shard size in bytes (the converter's default is 4 MiB); small values split tensors across shards. */
  shardBytes?: number;
}

interface ManifestEntry {
  name: string;
  shape: number[];
  dtype: 'float32';
  quantization?: { dtype: Quantization; scale?: number; min?: number; original_dtype?: 'float32' };
}

/** A TF.js layers model: model.json (topology and manifest) plus group1-shardNofM.bin files. Returns model.json's path. */
export async function writeTfjsModel(
  dir: string,
  weights: VggWeights,
  options: TfjsModelOptions = {},
): Promise<string> {
  await mkdir(dir, { recursive: true });
  const entries: ManifestEntry[] = [];
  const chunks: Uint8Array[] = [];
  for (const [name, layer] of weights.layers) {
    for (const [role, values, shape] of [
      ['kernel', layer.kernel, [...layer.kernelShape]],
      ['bias', layer.bias, [layer.bias.length]],
    ] as const) {
      const { bytes, quantization } = encode(values, options.quantize);
      entries.push({
        name: `${name}/${role}`,
        shape: [...shape],
        dtype: 'float32',
        ...(quantization && { quantization }),
      });
      chunks.push(bytes);
    }
  }
  const all = Buffer.concat(chunks);
  const shardBytes = options.shardBytes ?? 4 * 1024 * 1024;
  const count = Math.max(1, Math.ceil(all.length / shardBytes));
  const paths: string[] = [];
  for (let i = 0; i < count; i++) {
    const shardPath = `group1-shard${i + 1}of${count}.bin`;
    await writeFile(path.join(dir, shardPath), all.subarray(i * shardBytes, (i + 1) * shardBytes));
    paths.push(shardPath);
  }
  const model = {
    format: 'layers-model',
    generatedBy: 'keras v2.15.0',
    convertedBy: 'TensorFlow.js Converter v4.22.0',
    modelTopology: kerasTopology(weights),
    weightsManifest: [{ paths, weights: entries }],
  };
  const modelJson = path.join(dir, 'model.json');
  await writeFile(modelJson, JSON.stringify(model));
  return modelJson;
}

/**
 * A TF.js model.json declaring the given layers with the real VGG19 shapes, and no shard files: enough for tests
 * of the shape check, which refuses a file before any tensor data is read. Returns model.json's path.
 */
export async function writeRealShapedManifest(dir: string, layers: readonly VggLayerName[]): Promise<string> {
  await mkdir(dir, { recursive: true });
  const weights = VGG19_LAYERS.filter((layer) => layers.includes(layer.name)).flatMap((layer) => [
    { name: `${layer.name}/kernel`, shape: [3, 3, layer.inChannels, layer.outChannels], dtype: 'float32' },
    { name: `${layer.name}/bias`, shape: [layer.outChannels], dtype: 'float32' },
  ]);
  const modelJson = path.join(dir, 'model.json');
  await writeFile(
    modelJson,
    JSON.stringify({ format: 'layers-model', weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights }] }),
  );
  return modelJson;
}

function encode(
  values: Float32Array,
  quantize: Quantization | undefined,
): { bytes: Uint8Array; quantization?: ManifestEntry['quantization'] } {
  if (!quantize) return { bytes: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
  if (quantize === 'float16') {
    const halves = new Uint16Array(values.length);
    for (let i = 0; i < values.length; i++) halves[i] = toFloat16Bits(values[i]!);
    return { bytes: new Uint8Array(halves.buffer), quantization: { dtype: 'float16' } };
  }
  // Affine quantization as the converter does it: value = q * scale + min, one scale and min per tensor.
  const levels = quantize === 'uint8' ? 255 : 65535;
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const scale = max > min ? (max - min) / levels : 1;
  const q = quantize === 'uint8' ? new Uint8Array(values.length) : new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) q[i] = Math.round((values[i]! - min) / scale);
  return {
    bytes: new Uint8Array(q.buffer),
    quantization: { dtype: quantize, scale, min, original_dtype: 'float32' },
  };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 half precision, rounded to nearest even. */
export function toFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 31) return sign | 0x7c00;
  if (halfExponent <= 0) {
    if (halfExponent < -10) return sign;
    const full = mantissa | 0x800000;
    const shift = 14 - halfExponent;
    let half = full >>> shift;
    const rest = full & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = sign | (halfExponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return half;
}

function kerasTopology(weights: VggWeights): object {
  const layers: object[] = [
    {
      class_name: 'InputLayer',
      name: 'input_1',
      config: { batch_input_shape: [null, null, null, 3], dtype: 'float32', name: 'input_1' },
      inbound_nodes: [],
    },
  ];
  let previous = 'input_1';
  for (const [name, layer] of weights.layers) {
    layers.push({
      class_name: 'Conv2D',
      name,
      config: {
        name,
        filters: layer.kernelShape[3],
        kernel_size: [3, 3],
        padding: 'same',
        activation: 'relu',
        use_bias: true,
      },
      inbound_nodes: [[[previous, 0, 0, {}]]],
    });
    previous = name;
  }
  return {
    keras_version: '2.15.0',
    backend: 'tensorflow',
    model_config: {
      class_name: 'Functional',
      config: { name: 'vgg19', layers, input_layers: [['input_1', 0, 0]], output_layers: [[previous, 0, 0]] },
    },
  };
}

export interface KerasH5Options {
  /**
   * `legacy` (default): the layout of vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 (root `layer_names`,
   * datasets `block1_conv1_W_1:0` and `block1_conv1_b_1:0`). `model`: a full-model save, with the weights under
   * `model_weights/<layer>/<layer>/kernel:0`.
   */
  layout?: 'legacy' | 'model';
}

/** A Keras HDF5 weights file, with the input and pooling layers (no weights) listed as Keras lists them. */
export async function writeKerasH5(file: string, weights: VggWeights, options: KerasH5Options = {}): Promise<void> {
  const h5wasm = await loadH5wasm();
  await mkdir(path.dirname(file), { recursive: true });
  const h5 = new h5wasm.File(file, 'w');
  try {
    const layout = options.layout ?? 'legacy';
    const layerNames = kerasLayerNames([...weights.layers.keys()]);
    let root: InstanceType<typeof h5wasm.Group> = h5;
    h5.create_attribute('keras_version', '2.1.5');
    h5.create_attribute('backend', 'tensorflow');
    if (layout === 'model') {
      h5.create_attribute('model_config', JSON.stringify(kerasTopology(weights)));
      root = h5.create_group('model_weights');
      root.create_attribute('keras_version', '2.1.5');
      root.create_attribute('backend', 'tensorflow');
    }
    root.create_attribute('layer_names', layerNames, null, fixedString(layerNames));
    for (const layerName of layerNames) {
      const group = root.create_group(layerName);
      const layer = isVggLayerName(layerName) ? weights.layers.get(layerName) : undefined;
      if (!layer) {
        group.create_attribute('weight_names', [], [0], 'S1');
        continue;
      }
      const names =
        layout === 'legacy'
          ? [`${layerName}_W_1:0`, `${layerName}_b_1:0`]
          : [`${layerName}/kernel:0`, `${layerName}/bias:0`];
      group.create_attribute('weight_names', names, null, fixedString(names));
      const target = layout === 'legacy' ? group : group.create_group(layerName);
      const datasetNames = layout === 'legacy' ? names : ['kernel:0', 'bias:0'];
      target.create_dataset({ name: datasetNames[0]!, data: layer.kernel, shape: [...layer.kernelShape], dtype: '<f' });
      target.create_dataset({ name: datasetNames[1]!, data: layer.bias, shape: [layer.bias.length], dtype: '<f' });
    }
  } finally {
    h5.close();
  }
}

/** Keras lists every layer: the input, each convolution and a pooling layer after each block. */
function kerasLayerNames(convNames: string[]): string[] {
  const names = ['input_1'];
  convNames.forEach((name, i) => {
    names.push(name);
    const block = name.slice(0, 6);
    if (convNames[i + 1]?.slice(0, 6) !== block) names.push(`${block}_pool`);
  });
  return names;
}

/** numpy-style fixed-length byte strings ("S20"), as h5py writes Keras attributes. */
function fixedString(values: string[]): string {
  return `S${Math.max(1, ...values.map((v) => v.length))}`;
}
