import type { ChainedLayer } from '../../weights/vgg19-layout.ts';
import type { LossNormalization, Pooling } from '../types.ts';
import { DataType, GraphBuilder } from './proto.ts';

/**
 * The ONNX graphs of the Gatys objective, written from the loaded VGG19 weights at run time:
 * - the objective graph for one image size: VGG19 forward to the deepest layer used, the content, Gram-style and
 *   TV losses, and the gradient with respect to the image through a hand-written backward pass made of ordinary
 *   ops (no autodiff, no training ops), so that any execution provider that runs inference runs it;
 * - the targets graph for images of any size (symbolic height and width), run once per image and scale: content
 *   features and style Gram matrices.
 *
 * The semantics are those of ../objective.ts and ../feature-pass.ts, in NCHW inside the graph (what ORT's CPU
 * convolutions are fastest on): x arrives NHWC and caffe-preprocessed and is transposed once; the gradient is
 * transposed back. Formulas, with F a layer's feature map (C channels, h·w positions, N = C·h·w values),
 * G = FᵀF/N its Gram matrix, P and A the targets and w a term's weight:
 * - content: mse w·Σ(F−P)²/N, paper w·Σ(F−P)²/(4N); gradient 2·(that factor)·(F−P);
 * - style:   mse w·Σ(G−A)²/C², paper w·Σ(G−A)²/4; gradient 4·(that factor)/N · F·(G−A), G−A being symmetric;
 * - TV:      w·Σ of squared differences of vertical and horizontal neighbours, on NCHW x.
 */

/** One VGG19 convolution layer as the graphs use it: the weights' own arrays, not copied. */
export type OnnxLayer = ChainedLayer;

/** What fixes an objective graph's structure; the weights of the terms are inputs, so they are not part of it. */
export interface ObjectiveLayout {
  readonly width: number;
  readonly height: number;
  /** Layer index of each content term, in LossSpec order. */
  readonly content: readonly number[];
  /** Layer index of each style term, in LossSpec order. */
  readonly style: readonly number[];
  readonly tv: boolean;
  readonly pooling: Pooling;
  readonly normalization: LossNormalization;
}

/** The objective graph's value names, for feeds and fetches. */
export const ObjectiveNames = {
  image: 'x',
  /** [content weights…, style weights…, tv weight], each the final weight of its term. */
  weights: 'weights',
  contentTarget: (term: number) => `content_target_${term}`,
  styleTarget: (term: number) => `style_target_${term}`,
  /** [total, content, style, tv]. */
  loss: 'loss',
  grad: 'grad',
} as const;

/** Spatial size of every layer's output for an image of the given size; pooling floors odd sizes. */
export function layerSizes(layers: readonly OnnxLayer[], height: number, width: number, depth: number) {
  const sizes: { height: number; width: number }[] = [];
  let [h, w] = [height, width];
  for (const layer of layers.slice(0, depth)) {
    if (layer.poolBefore) [h, w] = [Math.floor(h / 2), Math.floor(w / 2)];
    if (h < 1 || w < 1) {
      throw new Error(`a ${width}x${height} image is too small to reach ${layer.name}`);
    }
    sizes.push({ height: h, width: w });
  }
  return sizes;
}

/** Builds the objective graph (see the module comment). */
export function objectiveGraph(layers: readonly OnnxLayer[], layout: ObjectiveLayout): GraphBuilder {
  const { width: W, height: H } = layout;
  const depth = Math.max(-1, ...layout.content, ...layout.style) + 1;
  if (depth > layers.length) throw new Error(`the weights have ${layers.length} layers; the loss needs ${depth}`);
  const sizes = layerSizes(layers, H, W, depth);
  const g = new GraphBuilder(`stylebot objective ${W}x${H}`);
  const net = new Network(g, layers.slice(0, depth), layout.pooling, sizes);

  const x = g.input(ObjectiveNames.image, [1, H, W, 3]);
  const termCount = layout.content.length + layout.style.length + 1;
  const weights = g.input(ObjectiveNames.weights, [termCount]);
  const weight = (i: number) => g.op('Gather', [weights, g.ints('index', [i], true)]);
  const xc = g.op('Transpose', [x], { perm: [0, 3, 1, 2] });
  const pass = net.forward(xc, true);
  const { outputs } = pass;

  const injected = new Map<number, string[]>();
  const inject = (index: number, grad: string) => injected.set(index, [...(injected.get(index) ?? []), grad]);
  const paper = layout.normalization === 'paper';

  const contentLosses = layout.content.map((index, term) => {
    const { height: h, width: w } = sizes[index]!;
    const channels = layers[index]!.outChannels;
    const target = g.input(ObjectiveNames.contentTarget(term), [1, channels, h, w]);
    const factor = (paper ? 0.25 : 1) / (channels * h * w);
    const diff = g.op('Sub', [outputs[index]!, target]);
    const w_ = weight(term);
    inject(index, g.op('Mul', [diff, g.op('Mul', [w_, g.scalar(2 * factor)])]));
    return g.op('Mul', [sumOfSquares(g, diff, 4), g.op('Mul', [w_, g.scalar(factor)])]);
  });

  const grams = new Map<number, { f: string; gram: string }>();
  const styleLosses = layout.style.map((index, term) => {
    const { height: h, width: w } = sizes[index]!;
    const channels = layers[index]!.outChannels;
    const n = channels * h * w;
    const target = g.input(ObjectiveNames.styleTarget(term), [channels, channels]);
    let layerGram = grams.get(index);
    if (!layerGram) {
      const f = g.op('Reshape', [outputs[index]!, g.ints('shape', [channels, h * w])]);
      layerGram = { f, gram: gram(g, f, n) };
      grams.set(index, layerGram);
    }
    const factor = paper ? 0.25 : 1 / (channels * channels);
    const diff = g.op('Sub', [layerGram.gram, target]);
    const w_ = weight(layout.content.length + term);
    const scaled = g.op('Mul', [diff, g.op('Mul', [w_, g.scalar((4 * factor) / n)])]);
    const df = g.op('MatMul', [scaled, layerGram.f]);
    inject(index, g.op('Reshape', [df, g.ints('shape', [1, channels, h, w])]));
    return g.op('Mul', [sumOfSquares(g, diff, 2), g.op('Mul', [w_, g.scalar(factor)])]);
  });

  let grad = injected.size > 0 ? net.backward(pass, injected) : undefined;
  let tvLoss = g.scalar(0);
  if (layout.tv) {
    const tvWeight = weight(termCount - 1);
    const tv = totalVariation(g, xc, H, W);
    tvLoss = g.op('Mul', [tv.value, tvWeight]);
    const tvGrad = g.op('Mul', [tv.grad, tvWeight]);
    grad = grad === undefined ? tvGrad : g.op('Add', [grad, tvGrad]);
  }
  const gradNhwc =
    grad === undefined
      ? g.op('Expand', [g.scalar(0), g.ints('shape', [1, H, W, 3])])
      : g.op('Transpose', [grad], { perm: [0, 2, 3, 1] });
  g.output(gradNhwc, ObjectiveNames.grad, [1, H, W, 3]);

  const content = sum(g, contentLosses);
  const style = sum(g, styleLosses);
  const total = sum(g, [content, style, tvLoss]);
  const asVector = (scalar: string) => g.op('Reshape', [scalar, g.ints('shape', [1])]);
  const loss = g.op('Concat', [total, content, style, tvLoss].map(asVector), { axis: 0 });
  g.output(loss, ObjectiveNames.loss, [4]);
  return g;
}

/** The feature graphs' value names. */
export const FeatureNames = {
  image: 'image',
  /** Content features of layer `index`, NCHW. */
  features: (index: number) => `features_${index}`,
  /** Gram matrix G = FᵀF/(C·h·w) of layer `index`, [C, C]. */
  gram: (index: number) => `gram_${index}`,
} as const;

/**
 * The targets graph, for images of any size ([1, height, width, 3], caffe NHWC): content features (NCHW) of the
 * `content` layers and Gram matrices of the `style` layers, in one pass. It serves the content image and every
 * style image of a run; each run fetches what it needs.
 */
export function featureGraph(
  layers: readonly OnnxLayer[],
  wanted: { readonly content: readonly number[]; readonly style: readonly number[] },
  pooling: Pooling,
): GraphBuilder {
  const content = [...new Set(wanted.content)].sort((a, b) => a - b);
  const style = [...new Set(wanted.style)].sort((a, b) => a - b);
  const depth = Math.max(-1, ...content, ...style) + 1;
  if (depth === 0) throw new Error('the targets graph needs at least one layer');
  if (depth > layers.length) throw new Error(`the weights have ${layers.length} layers; the loss needs ${depth}`);
  const g = new GraphBuilder(`stylebot targets ${content.join(',')} / ${style.join(',')}`);
  const net = new Network(g, layers.slice(0, depth), pooling);
  const image = g.input(FeatureNames.image, [1, 'height', 'width', 3]);
  const { outputs } = net.forward(g.op('Transpose', [image], { perm: [0, 3, 1, 2] }));
  for (const index of content) {
    g.output(outputs[index]!, FeatureNames.features(index), [1, layers[index]!.outChannels, `h${index}`, `w${index}`]);
  }
  for (const index of style) {
    const y = outputs[index]!;
    const channels = layers[index]!.outChannels;
    const f = g.op('Reshape', [y, g.ints('shape', [channels, -1])]);
    const n = g.op('Cast', [g.op('Size', [y])], { to: DataType.FLOAT });
    const product = g.op('MatMul', [f, g.op('Transpose', [f], { perm: [1, 0] })]);
    g.output(g.op('Div', [product, n]), FeatureNames.gram(index), [channels, channels]);
  }
  return g;
}

interface ForwardPass {
  readonly outputs: readonly string[];
  readonly masks: readonly string[];
}

/** VGG19's convolutions on one graph, forward and backward, sharing each layer's initializers. */
class Network {
  readonly #hwio: string[];
  /** OIHW, as Conv takes them. */
  readonly #kernels: string[];
  readonly #biases: string[];

  /**
   * `sizes` (each layer's output size, from layerSizes) is needed by the backward pass only, whose pooling
   * gradients are written for fixed shapes.
   */
  constructor(
    private readonly g: GraphBuilder,
    private readonly layers: readonly OnnxLayer[],
    private readonly pooling: Pooling,
    private readonly sizes?: readonly { height: number; width: number }[],
  ) {
    // The HWIO kernels go into the model as they are and are reordered in the graph, which ORT folds into
    // constants when the session loads: no second copy of the weights in JavaScript.
    this.#hwio = layers.map((l) => g.floats(`${l.name}_kernel`, [3, 3, l.inChannels, l.outChannels], l.kernel));
    this.#kernels = this.#hwio.map((k) => g.op('Transpose', [k], { perm: [3, 2, 0, 1] }));
    this.#biases = layers.map((l) => g.floats(`${l.name}_bias`, [l.outChannels], l.bias));
  }

  /**
   * ReLU outputs of every layer, NCHW, and with `masks` where each is positive (the ReLU gradient's mask). The
   * masks are taken right after each layer: bool is a quarter of float32, and a layer whose output feeds no loss
   * term then lives only until the next layer has read it (about 5% less memory at 512 px).
   */
  forward(x: string, masks = false): ForwardPass {
    const { g } = this;
    const result = { outputs: [] as string[], masks: [] as string[] };
    let h = x;
    for (const layer of this.layers) {
      if (layer.poolBefore) {
        h = g.op(this.pooling === 'avg' ? 'AveragePool' : 'MaxPool', [h], { kernel_shape: [2, 2], strides: [2, 2] });
      }
      h = g.op('Relu', [g.op('Conv', [h, this.#kernels[layer.index]!, this.#biases[layer.index]!], CONV)]);
      result.outputs.push(h);
      if (masks) result.masks.push(g.op('Greater', [h, g.scalar(0)]));
    }
    return result;
  }

  /**
   * d loss / d x (NCHW) given `injected`: per layer index, gradients with respect to that layer's ReLU output.
   * `pass` is forward(x, true).
   */
  backward(pass: ForwardPass, injected: ReadonlyMap<number, readonly string[]>): string {
    const { outputs, masks } = pass;
    const { g } = this;
    const zero = g.scalar(0);
    let grad: string | undefined;
    for (let i = outputs.length - 1; i >= 0; i--) {
      const terms = [...(grad === undefined ? [] : [grad]), ...(injected.get(i) ?? [])];
      if (terms.length === 0) continue;
      const dy = sum(this.g, terms);
      const layer = this.layers[i]!;
      // ReLU: the gradient passes where the output is positive.
      const dz = g.op('Where', [masks[i]!, dy, zero]);
      const dx = g.op('Conv', [dz, this.#flipped(layer)], CONV);
      grad = layer.poolBefore ? this.#poolBackward(dx, outputs[i - 1]!, layer) : dx;
    }
    if (grad === undefined) throw new Error('no loss term reaches the image');
    return grad;
  }

  /**
   * The input gradient of a stride-1 'same' 3x3 convolution is a forward convolution with the kernel rotated
   * 180° and its in/out channels swapped: [in, out, 3, 3] from HWIO, spatially reversed. Built from the layer's
   * own initializer, so the weights are stored once in the model; ORT folds it into a constant when the session
   * loads. (ConvTranspose was 1.8x slower.)
   */
  #flipped(layer: OnnxLayer): string {
    const { g } = this;
    const swapped = g.op('Transpose', [this.#hwio[layer.index]!], { perm: [2, 3, 0, 1] });
    // Both spatial axes reversed: from the last element to past the first, step −1.
    const end = -(2 ** 53);
    return g.op('Slice', [
      swapped,
      g.ints('starts', [-1, -1]),
      g.ints('ends', [end, end]),
      g.ints('axes', [2, 3]),
      g.ints('steps', [-1, -1]),
    ]);
  }

  /**
   * Gradient through the 2x2/2 pooling that precedes layer `index`, from `dx` ([1, C, h, w]) to the previous
   * layer's output `input` ([1, C, H, W], H ∈ {2h, 2h+1}). The last row/column of odd sizes was dropped by the
   * pooling and gets zero.
   */
  #poolBackward(dx: string, input: string, layer: OnnxLayer): string {
    const { g } = this;
    if (!this.sizes) throw new Error('the backward pass needs the layer sizes');
    const { height: h, width: w } = this.sizes[layer.index]!;
    const { height: H, width: W } = this.sizes[layer.index - 1]!;
    const C = layer.inChannels;
    let up: string;
    if (this.pooling === 'avg') {
      // Every pixel of a window gets a quarter of the window's gradient: a nearest-neighbour upscale.
      const scales = g.floats('scales', [4], Float32Array.of(1, 1, 2, 2));
      up = g.op('Resize', [g.op('Mul', [dx, g.scalar(0.25)]), '', scales], {
        mode: 'nearest',
        coordinate_transformation_mode: 'asymmetric',
        nearest_mode: 'floor',
      });
    } else {
      // The window's gradient goes to its maximum; on ties to the first in row-major order, as tfjs'
      // MaxPoolGrad and ORT's MaxPool do. Windows become a trailing axis of 4; each position holding the
      // maximum scores 8, 4, 2 or 1 by its place, and the best score marks the first of them. All in float32:
      // ArgMax would give int64 positions, which WebGPU leaves to the CPU.
      const cropped =
        H === 2 * h && W === 2 * w
          ? input
          : g.op('Slice', [input, g.ints('starts', [0, 0]), g.ints('ends', [2 * h, 2 * w]), g.ints('axes', [2, 3])]);
      const windows = g.op('Reshape', [
        g.op('Transpose', [g.op('Reshape', [cropped, g.ints('shape', [1, C, h, 2, w, 2])])], { perm: WINDOWS }),
        g.ints('shape', [1, C, h, w, 4]),
      ]);
      const isMax = g.op('Equal', [windows, g.op('ReduceMax', [windows], { axes: [4], keepdims: 1 })]);
      const score = g.op('Where', [isMax, g.floats('score', [4], Float32Array.of(8, 4, 2, 1)), g.scalar(0)]);
      const chosen = g.op('Equal', [score, g.op('ReduceMax', [score], { axes: [4], keepdims: 1 })]);
      const spread = g.op('Where', [chosen, g.op('Reshape', [dx, g.ints('shape', [1, C, h, w, 1])]), g.scalar(0)]);
      up = g.op('Reshape', [
        g.op('Transpose', [g.op('Reshape', [spread, g.ints('shape', [1, C, h, w, 2, 2])])], { perm: WINDOWS }),
        g.ints('shape', [1, C, 2 * h, 2 * w]),
      ]);
    }
    if (H === 2 * h && W === 2 * w) return up;
    return g.op('Pad', [up, g.ints('pads', [0, 0, 0, 0, 0, 0, H - 2 * h, W - 2 * w])]);
  }
}

const CONV = { kernel_shape: [3, 3], pads: [1, 1, 1, 1] };
/** [1, C, h, 2, w, 2] ↔ [1, C, h, w, 2, 2]: the perm is its own inverse. */
const WINDOWS = [0, 1, 2, 4, 3, 5];

/** Gram matrix FFᵀ/n of f = [C, h·w]. */
function gram(g: GraphBuilder, f: string, n: number): string {
  return g.op('Mul', [g.op('MatMul', [f, g.op('Transpose', [f], { perm: [1, 0] })]), g.scalar(1 / n)]);
}

/**
 * Σx² over a rank-2 or rank-4 tensor, one axis at a time from the last, so that no float32 partial sum runs over
 * more than one row (as the tfjs code's two-level reduction, one level finer).
 */
function sumOfSquares(g: GraphBuilder, x: string, rank: 2 | 4): string {
  let s = g.op('ReduceSumSquare', [x], { axes: [rank - 1], keepdims: 0 });
  for (let axis = rank - 2; axis >= 1; axis--) s = g.op('ReduceSum', [s, g.ints('axes', [axis])], { keepdims: 0 });
  return g.op('ReduceSum', [s], { keepdims: 0 });
}

/** Sum of values of one shape, as a chain of Adds (WebGPU has no Sum). */
function sum(g: GraphBuilder, values: readonly string[]): string {
  if (values.length === 0) return g.scalar(0);
  return values.slice(1).reduce((total, value) => g.op('Add', [total, value]), values[0]!);
}

/** Σ squared neighbour differences of NCHW x and its gradient 2·(d[i−1] − d[i]) per direction. */
function totalVariation(g: GraphBuilder, x: string, height: number, width: number) {
  const slice = (start: number, end: number, axis: number) =>
    g.op('Slice', [x, g.ints('starts', [start]), g.ints('ends', [end]), g.ints('axes', [axis])]);
  const dh = g.op('Sub', [slice(1, height, 2), slice(0, height - 1, 2)]);
  const dw = g.op('Sub', [slice(1, width, 3), slice(0, width - 1, 3)]);
  const value = g.op('Add', [sumOfSquares(g, dh, 4), sumOfSquares(g, dw, 4)]);
  const pad = (d: string, pads: number[]) => g.op('Pad', [d, g.ints('pads', pads)]);
  const gradH = g.op('Sub', [pad(dh, [0, 0, 1, 0, 0, 0, 0, 0]), pad(dh, [0, 0, 0, 0, 0, 0, 1, 0])]);
  const gradW = g.op('Sub', [pad(dw, [0, 0, 0, 1, 0, 0, 0, 0]), pad(dw, [0, 0, 0, 0, 0, 0, 0, 1])]);
  return { value, grad: g.op('Mul', [g.op('Add', [gradH, gradW]), g.scalar(2)]) };
}
