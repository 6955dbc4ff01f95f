import path from 'node:path';
import type h5wasmModule from 'h5wasm';
import type { Dataset, Group } from 'h5wasm';
import { selectLayers, showShape, type FoundLayerShapes } from './shape-check.ts';
import type { ConvLayerWeights, ShapeCheck } from './types.ts';
import { isVggLayerName, type VggLayerName } from './vgg19-layout.ts';
import { WeightsError } from './weights-error.ts';

type H5wasm = typeof h5wasmModule;

let h5wasmReady: Promise<H5wasm> | undefined;

/**
 * Loads h5wasm on first use only (its WebAssembly takes ~0.1 s to compile), and switches HDF5's error stack from
 * printing to stderr to throwing, so a bad file becomes one error here instead of pages of diagnostics.
 */
export function loadH5wasm(): Promise<H5wasm> {
  h5wasmReady ??= import('h5wasm/node').then(async ({ default: h5wasm }) => {
    const module = await h5wasm.ready;
    module.activate_throwing_error_handler();
    return h5wasm;
  });
  return h5wasmReady;
}

interface FoundDatasets {
  kernel?: Dataset;
  bias?: Dataset;
}

const VGG_NAME_IN_PATH = /(?:^|\/)(block[1-5]_conv[1-4])(?:\/|_|$)/;

/**
 * Reads the VGG19 convolution layers from a Keras HDF5 weights file: the legacy layout of
 * `vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5` (root attribute `layer_names`, each layer group's
 * `weight_names`) or a full-model save (the same under `model_weights/`). Dataset names come from the
 * attributes; a layer's kernel is its 4-D dataset and its bias its 1-D one.
 */
export async function readKerasH5(
  file: string,
  label: string,
  shapes: ShapeCheck,
): Promise<Map<VggLayerName, ConvLayerWeights>> {
  const h5wasm = await loadH5wasm();
  let h5: InstanceType<H5wasm['File']>;
  try {
    h5 = new h5wasm.File(path.resolve(file), 'r');
  } catch (error) {
    throw new WeightsError(`${label} ${describeOpenFailure(error)}`, { cause: error });
  }
  try {
    const root = findWeightsRoot(h5, h5wasm, label);
    const datasets = collectConvDatasets(root, h5wasm, label);
    const shapesFound = new Map<VggLayerName, FoundLayerShapes>();
    for (const [name, found] of datasets) {
      shapesFound.set(name, { kernel: found.kernel?.shape ?? undefined, bias: found.bias?.shape ?? undefined });
    }
    const selected = selectLayers(shapesFound, shapes, label);
    const layers = new Map<VggLayerName, ConvLayerWeights>();
    for (const name of selected) {
      const { kernel, bias } = datasets.get(name)!;
      const kernelShape = kernel!.shape as [number, number, number, number];
      layers.set(name, {
        kernel: readFloat32(kernel!, label),
        kernelShape: [kernelShape[0], kernelShape[1], kernelShape[2], kernelShape[3]],
        bias: readFloat32(bias!, label),
      });
    }
    return layers;
  } catch (error) {
    if (error instanceof WeightsError) throw error;
    throw new WeightsError(`${label} could not be read as Keras weights (${lastHdf5Problem(error)})`, { cause: error });
  } finally {
    try {
      h5.close();
    } catch {
      // Closing a file that failed to read can fail too; the first error is the one worth reporting.
    }
  }
}

function findWeightsRoot(h5: Group, h5wasm: H5wasm, label: string): Group {
  if (hasStringListAttr(h5, 'layer_names')) return h5;
  const modelWeights = h5.keys().includes('model_weights') ? h5.get('model_weights') : null;
  if (modelWeights instanceof h5wasm.Group && hasStringListAttr(modelWeights, 'layer_names')) return modelWeights;
  throw new WeightsError(
    `${label} is an HDF5 file but not Keras weights: it has no layer_names attribute, nor model_weights/layer_names ` +
      '(Keras 3 .weights.h5 files are not supported)',
  );
}

function hasStringListAttr(group: Group, name: string): boolean {
  const attrs = group.attrs;
  return name in attrs || `${name}0` in attrs;
}

/**
 * A list attribute as Keras writes it: one attribute, or, when it would exceed HDF5's 64 KiB header limit,
 * chunks `name0`, `name1`, ... in order.
 */
function stringListAttr(group: Group, name: string): string[] {
  const attrs = group.attrs;
  if (name in attrs) return stringList(attrs[name]?.value);
  const items: string[] = [];
  for (let i = 0; `${name}${i}` in attrs; i++) items.push(...stringList(attrs[`${name}${i}`]?.value));
  return items;
}

function collectConvDatasets(root: Group, h5wasm: H5wasm, label: string): Map<VggLayerName, FoundDatasets> {
  const found = new Map<VggLayerName, FoundDatasets>();
  const children = new Set(root.keys());
  for (const layerName of stringListAttr(root, 'layer_names')) {
    if (!children.has(layerName)) {
      throw new WeightsError(`${label} lists layer ${layerName} in layer_names but has no group for it`);
    }
    const group = root.get(layerName);
    if (!(group instanceof h5wasm.Group)) continue;
    for (const weightName of stringListAttr(group, 'weight_names')) {
      // A nested model (one "vgg19" layer holding them all) names its weights "block1_conv1/kernel:0".
      const vggName = VGG_NAME_IN_PATH.exec(weightName)?.[1] ?? layerName;
      if (!isVggLayerName(vggName)) continue;
      const dataset = group.get(weightName);
      if (!(dataset instanceof h5wasm.Dataset)) {
        throw new WeightsError(`${label}: layer ${layerName} names weight ${weightName}, which is missing`);
      }
      const role = dataset.shape?.length === 4 ? 'kernel' : dataset.shape?.length === 1 ? 'bias' : undefined;
      if (!role) {
        throw new WeightsError(
          `${label}: ${vggName} weight ${weightName} has shape ${showShape(dataset.shape ?? [])}, ` +
            'expected a 4-D kernel or a 1-D bias',
        );
      }
      const entry = found.get(vggName) ?? {};
      if (entry[role]) throw new WeightsError(`${label}: layer ${vggName} has two ${role}s`);
      entry[role] = dataset;
      found.set(vggName, entry);
    }
  }
  return found;
}

/** HDF5 float datasets as float32; Keras writes float32, float64 is narrowed. */
function readFloat32(dataset: Dataset, label: string): Float32Array {
  const { type, size } = dataset.metadata;
  const isFloat = type === 1;
  if (!isFloat || (size !== 4 && size !== 8)) {
    const what = isFloat ? `float${size * 8}` : `of HDF5 type class ${type}`;
    throw new WeightsError(
      `${label}: dataset ${dataset.path} is ${what}; only float32 and float64 weights can be read`,
    );
  }
  const value = dataset.value;
  const count = (dataset.shape ?? []).reduce((a, b) => a * b, 1);
  if (!(value instanceof Float32Array || value instanceof Float64Array) || value.length !== count) {
    throw new WeightsError(`${label}: dataset ${dataset.path} could not be read in full`);
  }
  return value instanceof Float32Array ? value : Float32Array.from(value);
}

function stringList(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (!Array.isArray(value)) return [];
  return value.filter((item): item is string => typeof item === 'string');
}

/** HDF5's error stack ends with the most specific problem, e.g. "truncated file: eof = 40, ... stored_eof = 80". */
function lastHdf5Problem(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const lines = text.split('\n').filter((line) => /^\s*#\d+:/.test(line));
  const last = lines.at(-1);
  const problem = last ? /\(\):\s*(.*)$/.exec(last)?.[1] : undefined;
  return (problem ?? text.split('\n')[0] ?? 'unknown error').trim().slice(0, 200);
}

function describeOpenFailure(error: unknown): string {
  const problem = lastHdf5Problem(error);
  const truncated = /truncated file: eof = (\d+).*stored_eof = (\d+)/.exec(problem);
  if (truncated) {
    const [, eof, stored] = truncated;
    return `is truncated: it holds ${Number(eof).toLocaleString('en-US')} bytes of ${Number(stored).toLocaleString('en-US')} (an interrupted download?)`;
  }
  if (/signature not found/.test(problem)) return 'is not an HDF5 file';
  if (/No such file|errno = 44/.test(problem)) return 'was not found';
  if (/Permission denied|errno = 2\b/.test(problem)) return 'cannot be read (permission denied)';
  return `is corrupt or not a valid HDF5 file (${problem})`;
}
