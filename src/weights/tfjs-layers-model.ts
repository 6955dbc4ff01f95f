import { open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { decodeFloat16 } from './float16.ts';
import { selectLayers, showShape, type FoundLayerShapes } from './shape-check.ts';
import {
  bytesPerValue,
  isSafeShardPath,
  modelJsonSchema,
  valueCount,
  type ManifestWeight,
  type ModelJson,
} from './tfjs-manifest.ts';
import type { ConvLayerWeights, ShapeCheck } from './types.ts';
import { isVggLayerName, type VggLayerName } from './vgg19-layout.ts';
import { WeightsError } from './weights-error.ts';

export const MAX_MODEL_JSON_BYTES = 16 * 1024 * 1024;
/** Far above any VGG19 (the full network with its classifier is 548 MB as float32). */
const MAX_GROUP_BYTES = 2 * 1024 ** 3;

interface TensorLocation {
  group: number;
  offset: number;
  weight: ManifestWeight;
}

interface FoundTensors {
  kernel?: TensorLocation;
  bias?: TensorLocation;
}

/** Converters name them "block1_conv1/kernel", sometimes under a model scope or with a ":0" suffix. */
const VGG_TENSOR_NAME = /(?:^|\/)(block[1-5]_conv[1-4])\/(kernel|bias)(?::0)?$/;

/** Where a shard's name points, for messages: beside model.json, on disk or on the web. */
export function shardLabel(modelLabel: string, shardPath: string): string {
  try {
    return new URL(shardPath, modelLabel).href;
  } catch {
    return path.join(path.dirname(modelLabel), shardPath);
  }
}

/** Parses and validates model.json text; `label` names it in errors. */
export function parseModelJson(text: string, label: string): ModelJson {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new WeightsError(`${label} is not valid JSON`);
  }
  const parsed = modelJsonSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    throw new WeightsError(`${label} is not a TF.js model.json with a valid weightsManifest (problem${where})`);
  }
  return parsed.data;
}

/** Reads model.json from disk (refusing absurd sizes before reading). */
export async function readModelJsonFile(file: string, label: string): Promise<ModelJson> {
  const info = await stat(file);
  if (info.size > MAX_MODEL_JSON_BYTES) {
    throw new WeightsError(`${label} is ${info.size.toLocaleString('en-US')} bytes, too large for a TF.js model.json`);
  }
  return parseModelJson(await readFile(file, 'utf8'), label);
}

/**
 * Reads the VGG19 convolution layers from a TF.js layers model: model.json plus its binary shards, float32 or
 * quantized (uint8 and uint16 with the manifest's per-tensor scale and min, or float16). Shapes are checked
 * against the manifest and the shard sizes against the manifest before any tensor data is read.
 */
export async function readTfjsLayersModel(
  modelJsonPath: string,
  label: string,
  shapes: ShapeCheck,
): Promise<Map<VggLayerName, ConvLayerWeights>> {
  const model = await readModelJsonFile(modelJsonPath, label);
  const found = locateVggTensors(model, label);
  const shapesFound = new Map<VggLayerName, FoundLayerShapes>();
  for (const [name, tensors] of found) {
    shapesFound.set(name, { kernel: tensors.kernel?.weight.shape, bias: tensors.bias?.weight.shape });
  }
  if (found.size === 0 && model.format === 'graph-model') {
    throw new WeightsError(`${label} is a TF.js graph model; only layers models (and Keras .h5 files) can be read`);
  }
  const selected = selectLayers(shapesFound, shapes, label);

  const groupsNeeded = new Set(
    selected.flatMap((name) => [found.get(name)!.kernel!.group, found.get(name)!.bias!.group]),
  );
  const groupBytes = new Map<number, Buffer>();
  for (const group of groupsNeeded) {
    groupBytes.set(group, await readGroup(model, group, path.dirname(modelJsonPath), label));
  }

  const layers = new Map<VggLayerName, ConvLayerWeights>();
  for (const name of selected) {
    const { kernel, bias } = found.get(name)!;
    const kernelShape = kernel!.weight.shape;
    layers.set(name, {
      kernel: decodeTensor(groupBytes.get(kernel!.group)!, kernel!, label),
      kernelShape: [kernelShape[0]!, kernelShape[1]!, kernelShape[2]!, kernelShape[3]!],
      bias: decodeTensor(groupBytes.get(bias!.group)!, bias!, label),
    });
  }
  return layers;
}

function locateVggTensors(model: ModelJson, label: string): Map<VggLayerName, FoundTensors> {
  const found = new Map<VggLayerName, FoundTensors>();
  model.weightsManifest.forEach((group, groupIndex) => {
    let offset = 0;
    for (const weight of group.weights) {
      if (weight.dtype === 'string') {
        throw new WeightsError(`${label} holds string tensors (${weight.name}); VGG19 weights are numbers`);
      }
      const match = VGG_TENSOR_NAME.exec(weight.name);
      const layer = match?.[1];
      if (layer && isVggLayerName(layer)) {
        const role = match[2] as 'kernel' | 'bias';
        const entry = found.get(layer) ?? {};
        if (entry[role]) throw new WeightsError(`${label}: layer ${layer} has two ${role}s`);
        entry[role] = { group: groupIndex, offset, weight };
        found.set(layer, entry);
      }
      offset += valueCount(weight.shape) * bytesPerValue(weight);
      if (offset > MAX_GROUP_BYTES) throw new WeightsError(`${label} describes more than 2 GiB of weights`);
    }
  });
  return found;
}

/** One weights group's shards, concatenated, after checking each exists and together they are exactly the size. */
async function readGroup(model: ModelJson, groupIndex: number, dir: string, label: string): Promise<Buffer> {
  const group = model.weightsManifest[groupIndex]!;
  const expected = group.weights.reduce((sum, w) => sum + valueCount(w.shape) * bytesPerValue(w), 0);
  const shards: { path: string; size: number }[] = [];
  for (const shardPath of group.paths) {
    if (!isSafeShardPath(shardPath)) {
      throw new WeightsError(`${label} names a shard outside its folder ("${shardPath.slice(0, 80)}")`);
    }
    try {
      shards.push({ path: shardPath, size: (await stat(path.join(dir, shardPath))).size });
    } catch {
      throw new WeightsError(`${shardLabel(label, shardPath)} is missing (a shard named in ${label})`);
    }
  }
  const total = shards.reduce((sum, shard) => sum + shard.size, 0);
  if (total !== expected) {
    const culprit = findShortShard(
      shards.map((shard) => shard.size),
      total < expected,
    );
    const shard = shardLabel(label, group.paths[culprit]!);
    const counts = `${total.toLocaleString('en-US')} bytes where its manifest describes ${expected.toLocaleString('en-US')}`;
    throw new WeightsError(
      total < expected
        ? `${shard} is truncated: the shards of ${label} hold ${counts}`
        : `${shard} does not match its manifest: the shards of ${label} hold ${counts}`,
    );
  }
  const bytes = Buffer.allocUnsafe(expected);
  let offset = 0;
  for (const shard of shards) {
    const handle = await open(path.join(dir, shard.path), 'r');
    try {
      const { bytesRead } = await handle.read(bytes, offset, shard.size, 0);
      if (bytesRead !== shard.size)
        throw new WeightsError(`${shardLabel(label, shard.path)} changed while it was read`);
    } finally {
      await handle.close();
    }
    offset += shard.size;
  }
  return bytes;
}

/** Converters write equal shards and a smaller last one, so a short one before the last is the culprit. */
function findShortShard(sizes: number[], tooShort: boolean): number {
  if (tooShort) {
    const full = Math.max(...sizes);
    const short = sizes.findIndex((size, i) => i < sizes.length - 1 && size < full);
    if (short !== -1) return short;
  }
  return sizes.length - 1;
}

function decodeTensor(bytes: Buffer, location: TensorLocation, label: string): Float32Array {
  const { weight, offset } = location;
  const count = valueCount(weight.shape);
  const stored = bytes.subarray(offset, offset + count * bytesPerValue(weight));
  if (weight.dtype !== 'float32') {
    throw new WeightsError(`${label}: ${weight.name} is ${weight.dtype}, expected float32 ${showShape(weight.shape)}`);
  }
  const quantization = weight.quantization;
  if (!quantization) {
    const out = new Float32Array(count);
    // Copied, not viewed: the tensor's offset in the shards need not be 4-byte aligned. Hosts are little-endian.
    new Uint8Array(out.buffer).set(stored);
    return out;
  }
  if (quantization.dtype === 'float16') return decodeFloat16(stored, count);
  const { scale, min } = quantization;
  if (scale === undefined || min === undefined) {
    throw new WeightsError(`${label}: ${weight.name} is quantized as ${quantization.dtype} without scale and min`);
  }
  const out = new Float32Array(count);
  if (quantization.dtype === 'uint8') {
    for (let i = 0; i < count; i++) out[i] = stored[i]! * scale + min;
  } else {
    for (let i = 0; i < count; i++) out[i] = (stored[2 * i]! | (stored[2 * i + 1]! << 8)) * scale + min;
  }
  return out;
}
