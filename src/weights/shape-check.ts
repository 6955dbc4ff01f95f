import type { ShapeCheck } from './types.ts';
import { VGG19_LAYERS, type VggLayerName } from './vgg19-layout.ts';
import { WeightsError } from './weights-error.ts';

export interface FoundLayerShapes {
  kernel?: readonly number[];
  bias?: readonly number[];
}

/**
 * Decides which layers of a file to load, before any tensor data is read: the VGG19 layers it holds must be a
 * prefix of the network in order, each with a kernel and a bias of the right shapes. `vgg19` demands all sixteen
 * convolution layers with the real ImageNet shapes, so that a file any preset cannot use (the `keras` preset
 * reads block5_conv2) is refused at start-up rather than mid-job; `consistent` (tiny test models) demands 3x3
 * kernels whose channels chain from 3. Throws a WeightsError naming `label` and the first problem.
 */
export function selectLayers(
  found: ReadonlyMap<VggLayerName, FoundLayerShapes>,
  mode: ShapeCheck,
  label: string,
): VggLayerName[] {
  if (found.size === 0) {
    throw new WeightsError(`${label} holds no VGG19 convolution layers (block1_conv1 … block5_conv4)`);
  }
  for (const [name, shapes] of found) {
    if (!shapes.kernel) throw new WeightsError(`${label}: layer ${name} has a bias but no kernel`);
    if (!shapes.bias) throw new WeightsError(`${label}: layer ${name} has a kernel but no bias`);
  }

  const present = VGG19_LAYERS.map((layer) => found.has(layer.name));
  const prefixLength = present.indexOf(false) === -1 ? present.length : present.indexOf(false);
  if (mode === 'vgg19' && prefixLength < VGG19_LAYERS.length) {
    const missing = VGG19_LAYERS.filter((layer) => !found.has(layer.name)).map((layer) => layer.name);
    throw new WeightsError(
      `${label} is missing ${missing.length} of the ${VGG19_LAYERS.length} VGG19 convolution layers ` +
        `(${listLayers(missing)}); all of block1_conv1 … block5_conv4 are needed`,
    );
  }
  const afterGap = VGG19_LAYERS.slice(prefixLength).find((layer) => found.has(layer.name));
  if (afterGap) {
    throw new WeightsError(`${label} has ${afterGap.name} but is missing ${VGG19_LAYERS[prefixLength]!.name}`);
  }

  const selected = VGG19_LAYERS.slice(0, prefixLength);
  let previousOut = 3;
  let previousName = 'the RGB input';
  for (const layer of selected) {
    const { kernel, bias } = found.get(layer.name)!;
    const out = mode === 'vgg19' ? layer.outChannels : (kernel![3] ?? 0);
    const expectedKernel = [3, 3, mode === 'vgg19' ? layer.inChannels : previousOut, out];
    if (!sameShape(kernel!, expectedKernel)) {
      throw new WeightsError(
        `${label}: ${layer.name} kernel ${kernelProblem(kernel!, expectedKernel, mode, previousName)}`,
      );
    }
    if (!sameShape(bias!, [out])) {
      throw new WeightsError(`${label}: ${layer.name} bias has shape ${showShape(bias!)}, expected [${out}]`);
    }
    previousOut = out;
    previousName = `${layer.name}'s outputs`;
  }
  return selected.map((layer) => layer.name);
}

function kernelProblem(actual: readonly number[], expected: number[], mode: ShapeCheck, inputName: string): string {
  const shown = `has shape ${showShape(actual)}`;
  if (actual.length === 4 && actual[2] === 3 && actual[3] === 3 && !(actual[0] === 3 && actual[1] === 3)) {
    return `${shown}: channels-first (Theano) ordering; use the tf_dim_ordering file instead`;
  }
  if (mode === 'vgg19') return `${shown}, VGG19 needs ${showShape(expected)}`;
  if (actual.length !== 4 || actual[0] !== 3 || actual[1] !== 3) return `${shown}, expected a 3x3 kernel [3,3,in,out]`;
  if (actual[3] === 0) return `${shown}, expected at least one output channel`;
  return `${shown}, its input channels must be ${expected[2]} (${inputName})`;
}

function sameShape(actual: readonly number[], expected: readonly number[]): boolean {
  return actual.length === expected.length && actual.every((dim, i) => dim === expected[i]);
}

export function showShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** Layer names in network order, each run of three or more consecutive layers shown as "first … last". */
function listLayers(names: readonly VggLayerName[]): string {
  const index = (name: VggLayerName) => VGG19_LAYERS.findIndex((layer) => layer.name === name);
  const runs: VggLayerName[][] = [];
  for (const name of names) {
    const run = runs.at(-1);
    if (run && index(run.at(-1)!) === index(name) - 1) run.push(name);
    else runs.push([name]);
  }
  return runs.map((run) => (run.length >= 3 ? `${run[0]} … ${run.at(-1)}` : run.join(', '))).join(', ');
}
