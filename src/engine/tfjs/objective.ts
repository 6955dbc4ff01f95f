import * as tf from '@tensorflow/tfjs';
import { balanceWeights, type CaffeImage, type Evaluation, type LossSpec, type Objective, type ScaleTargets } from '../compute.ts';
import type { LossNormalization, Pooling } from '../types.ts';
import type { VggNetwork } from './network.ts';

/**
 * The Gatys loss on one image size and its gradient with respect to the image, on tfjs: targets computed once,
 * then per evaluation one forward and one hand-written backward pass.
 *
 * With F a layer's [H·W, C] feature matrix, G = FᵀF/(C·H·W) its Gram matrix, P and A the targets:
 * - `mse` (neural-style, and the PyTorch reference tools): content = mean((F−P)²), style = mean over the C×C
 *   entries of (G−A)²;
 * - `paper` (the seed article): content = Σ(F−P)²/(4·C·H·W), style = Σ(Ĝ−Â)²/(4·C²·(H·W)²) with
 *   unnormalized Ĝ = FᵀF, which equals Σ(G−A)²/4.
 * - `balanced`: `mse` with each weight rescaled once per objective from the targets (balanceWeights).
 * Each term is multiplied by its weight from the LossSpec (run weight times layer weight). TV is Σ of squared
 * differences between neighbouring pixels (on 0-255 values) times the TV weight.
 *
 * The backward pass is written by hand: autodiff would use Conv2DBackpropInput (a naive kernel on wasm) and keep
 * more tensors alive; here every convolution in both directions is a forward (fused) conv2d.
 */

interface ContentTerm {
  readonly index: number;
  readonly target: tf.Tensor4D;
  readonly weight: number;
}

interface StyleTerm {
  readonly index: number;
  /** Blended Gram matrix of the style image(s). */
  readonly target: tf.Tensor2D;
  readonly weight: number;
}

/** A LossSpec with its targets on the backend, layers by index. */
interface Targets {
  readonly content: readonly ContentTerm[];
  readonly style: readonly StyleTerm[];
  readonly tvWeight: number;
  readonly pooling: Pooling;
  readonly normalization: LossNormalization;
}

/**
 * The contract's Objective on tfjs. `activate` makes this objective's tfjs backend the active one (tfjs has one
 * global backend); it runs before the targets are built and before every evaluation. `onDispose` runs once.
 */
export async function createObjective(
  net: VggNetwork,
  loss: LossSpec,
  scale: ScaleTargets,
  activate: () => Promise<void>,
  onDispose: () => void,
): Promise<Objective> {
  await activate();
  const { width, height } = scale.content;
  const built = buildTargets(net, loss, scale);
  let targets: Targets;
  try {
    targets = loss.normalization === 'balanced' ? await balance(net, built, scale.content) : built;
  } catch (error) {
    disposeTargets(built);
    throw error;
  }
  let disposed = false;
  return {
    width,
    height,
    async evaluate(x) {
      if (disposed) throw new Error('the objective has been disposed');
      if (x.length !== width * height * 3) {
        throw new RangeError(`expected ${width}x${height}x3 = ${width * height * 3} values, got ${x.length}`);
      }
      await activate();
      const { terms, grad } = tf.tidy(() => evaluate(net, targets, tf.tensor4d(x, [1, height, width, 3])));
      try {
        const [values, gradient] = await Promise.all([terms.data(), grad.data()]);
        return {
          loss: { total: values[0]!, content: values[1]!, style: values[2]!, tv: values[3]! },
          grad: gradient as Float32Array,
        } satisfies Evaluation;
      } finally {
        terms.dispose();
        grad.dispose();
      }
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      disposeTargets(targets);
      onDispose();
    },
  };
}

function upload(image: CaffeImage): tf.Tensor4D {
  return tf.tensor4d(image.data, [1, image.height, image.width, 3]);
}

/**
 * The loss targets for one scale: content features of the content image and, per style layer, the Gram
 * matrices of the style images blended by their weights (normalized to sum to 1). Terms whose weight is zero
 * are left out, so their layers cost nothing.
 */
function buildTargets(net: VggNetwork, loss: LossSpec, scale: ScaleTargets): Targets {
  const contentLayers = loss.content
    .filter((term) => term.weight > 0)
    .map(({ layer, weight }) => ({ index: net.layer(layer).index, weight }));
  const styleLayers = loss.style
    .filter((term) => term.weight > 0)
    .map(({ layer, weight }) => ({ index: net.layer(layer).index, weight }));
  let features = new Map<number, tf.Tensor4D>();
  const blended = new Map<number, tf.Tensor2D>();
  try {
    if (contentLayers.length > 0) {
      const image = upload(scale.content);
      try {
        features = collectFeatures(net, image, new Set(contentLayers.map((t) => t.index)), loss.pooling, (f) => f);
      } finally {
        image.dispose();
      }
    }
    const totalWeight = scale.styles.reduce((sum, s) => sum + Math.max(0, s.weight), 0);
    for (const style of styleLayers.length > 0 ? scale.styles : []) {
      if (!(style.weight > 0)) continue;
      const share = style.weight / totalWeight;
      const image = upload(style.image);
      let grams: Map<number, tf.Tensor2D>;
      try {
        grams = collectFeatures(net, image, new Set(styleLayers.map((t) => t.index)), loss.pooling, (f) =>
          tf.tidy(() => gram(f).mul<tf.Tensor2D>(share)),
        );
      } finally {
        image.dispose();
      }
      for (const [index, g] of grams) {
        const previous = blended.get(index);
        if (previous) {
          blended.set(index, previous.add(g));
          previous.dispose();
          g.dispose();
        } else {
          blended.set(index, g);
        }
      }
    }
  } catch (error) {
    tf.dispose([...features.values(), ...blended.values()]);
    throw error;
  }
  return {
    content: contentLayers.map((t) => ({ ...t, target: features.get(t.index)! })),
    style: blended.size > 0 ? styleLayers.map((t) => ({ ...t, target: blended.get(t.index)! })) : [],
    tvWeight: loss.tvWeight,
    pooling: loss.pooling,
    normalization: loss.normalization,
  };
}

/**
 * `balanced` as the `mse` formulas with rescaled weights (balanceWeights in compute.ts), from the targets and the
 * photo's own Gram matrices at the style layers.
 */
async function balance(net: VggNetwork, targets: Targets, content: CaffeImage): Promise<Targets> {
  const image = upload(content);
  let grams: Map<number, tf.Tensor2D> | undefined;
  try {
    grams =
      targets.style.length > 0
        ? collectFeatures(net, image, new Set(targets.style.map((t) => t.index)), targets.pooling, gram)
        : new Map<number, tf.Tensor2D>();
    const measured = tf.tidy(() =>
      tf.stack([
        ...targets.content.map((t) => sumOfSquares(t.target)),
        ...targets.style.map((t) => sumOfSquares(tf.sub(grams!.get(t.index)!, t.target))),
        ...targets.style.map((t) => sumOfSquares(t.target)),
        tf.scalar(0),
      ]),
    );
    const values = Array.from(await measured.data());
    measured.dispose();
    const [nc, ns] = [targets.content.length, targets.style.length];
    const weights = balanceWeights(targets, {
      contentEnergy: values.slice(0, nc),
      contentSize: targets.content.map((t) => t.target.size),
      styleDistance: values.slice(nc, nc + ns),
      styleEnergy: values.slice(nc + ns, nc + 2 * ns),
      styleChannels: targets.style.map((t) => t.target.shape[0]),
    }, content);
    return {
      ...targets,
      content: targets.content.map((t, i) => ({ ...t, weight: weights.content[i]! })),
      style: targets.style.map((t, i) => ({ ...t, weight: weights.style[i]! })),
      tvWeight: weights.tv,
      normalization: 'mse',
    };
  } finally {
    image.dispose();
    tf.dispose([...(grams?.values() ?? [])]);
  }
}

function disposeTargets(targets: Targets): void {
  tf.dispose([...targets.content, ...targets.style].map((t) => t.target));
}

/** The network depth (number of convolution layers) the targets need. */
function depthOf(targets: Targets): number {
  const indices = [...targets.content, ...targets.style].map((term) => term.index);
  return Math.max(-1, ...indices) + 1;
}

/**
 * Loss terms ([total, content, style, tv], each weighted) and gradient at `x` ([1, H, W, 3], caffe). Returns
 * fresh tensors; frees the rest.
 */
function evaluate(net: VggNetwork, targets: Targets, x: tf.Tensor4D): { terms: tf.Tensor1D; grad: tf.Tensor4D } {
  return tf.tidy(() => {
    const pass = forward(net, x, depthOf(targets), targets.pooling);
    const injected = new Map<number, tf.Tensor4D>();
    const inject = (index: number, g: tf.Tensor4D) => {
      const previous = injected.get(index);
      injected.set(index, previous ? previous.add(g) : g);
    };
    const zero = tf.scalar(0);

    let content: tf.Scalar = zero;
    for (const term of targets.content) {
      const f = pass.outputs[term.index]!;
      const scale = (term.weight * (targets.normalization === 'paper' ? 0.25 : 1)) / f.size;
      const diff = tf.sub(f, term.target);
      content = content.add(sumOfSquares(diff).mul(scale));
      inject(term.index, diff.mul(2 * scale));
    }

    let style: tf.Scalar = zero;
    for (const term of targets.style) {
      const f = pass.outputs[term.index]!;
      const channels = f.shape[3];
      const scale = term.weight * (targets.normalization === 'paper' ? 0.25 : 1 / (channels * channels));
      const diff: tf.Tensor2D = tf.sub(gram(f), term.target);
      style = style.add(sumOfSquares(diff).mul(scale));
      inject(term.index, gramLossGradient(f, diff, scale));
    }

    let grad = injected.size > 0 ? backward(net, pass, injected, targets.pooling) : tf.zerosLike(x);
    let tv: tf.Scalar = zero;
    if (targets.tvWeight > 0) {
      const smooth = totalVariation(x);
      tv = smooth.value.mul(targets.tvWeight);
      grad = grad.add(smooth.grad.mul(targets.tvWeight));
    }
    const total = content.add(style).add(tv);
    return { terms: tf.stack([total, content, style, tv]) as tf.Tensor1D, grad };
  });
}

/** Σ squared differences of vertical and horizontal neighbours, and its gradient. */
function totalVariation(x: tf.Tensor4D): { value: tf.Scalar; grad: tf.Tensor4D } {
  return tf.tidy(() => {
    const [, height, width] = x.shape;
    const dh = tf.sub(x.slice([0, 1, 0, 0], [-1, -1, -1, -1]), x.slice([0, 0, 0, 0], [-1, height - 1, -1, -1]));
    const dw = tf.sub(x.slice([0, 0, 1, 0], [-1, -1, -1, -1]), x.slice([0, 0, 0, 0], [-1, -1, width - 1, -1]));
    const value: tf.Scalar = sumOfSquares(dh).add(sumOfSquares(dw));
    // d/dx[i] Σ(x[k+1]−x[k])² = 2·(d[i−1] − d[i]), with d taken as 0 outside the image.
    const gradH = tf.sub(
      tf.pad(dh, [[0, 0], [1, 0], [0, 0], [0, 0]]),
      tf.pad(dh, [[0, 0], [0, 1], [0, 0], [0, 0]]),
    );
    const gradW = tf.sub(
      tf.pad(dw, [[0, 0], [0, 0], [1, 0], [0, 0]]),
      tf.pad(dw, [[0, 0], [0, 0], [0, 1], [0, 0]]),
    );
    return { value, grad: gradH.add(gradW).mul<tf.Tensor4D>(2) };
  });
}

// ---- Gram matrices --------------------------------------------------------------------------------------------

/**
 * Gram matrix of a [1, H, W, C] feature map normalized by layer size: G = FᵀF / (C·H·W), with F the [H·W, C]
 * matrix of the map. The transpose is explicit: on wasm, matMul(F, F, transposeA) is about ten times slower than
 * transposing first and multiplying plain matrices.
 */
function gram(features: tf.Tensor4D): tf.Tensor2D {
  const [, height, width, channels] = features.shape;
  return tf.tidy(() => {
    const f = features.reshape([height * width, channels]);
    return tf.matMul(f.transpose(), f).mul(1 / (channels * height * width));
  });
}

/**
 * Gradient of Σ scale·(G − A)² with respect to the feature map, where G = gram(features):
 * dF = F · (4·scale / (C·H·W)) · (G − A), using that G − A is symmetric.
 */
function gramLossGradient(features: tf.Tensor4D, gramMinusTarget: tf.Tensor2D, scale: number): tf.Tensor4D {
  const [, height, width, channels] = features.shape;
  return tf.tidy(() => {
    const f = features.reshape([height * width, channels]);
    const d = gramMinusTarget.mul((4 * scale) / (channels * height * width));
    return tf.matMul(f, d).reshape(features.shape);
  });
}

/** Σx² with a two-level reduction, so that float32 rounding stays small on maps of millions of values. */
function sumOfSquares(x: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const rows = x.rank > 2 ? x.shape[0] * x.shape[1]! : (x.shape[0] ?? 1);
    return tf.square(x).reshape([rows, -1]).sum(1).sum();
  });
}

// ---- The passes through the network ---------------------------------------------------------------------------

interface ForwardPass {
  /** ReLU outputs of layers 0..depth-1, in network order. */
  readonly outputs: tf.Tensor4D[];
  /** Pooling outputs by the index of the layer they feed; only kept for max pooling, whose gradient needs them. */
  readonly pooled: Map<number, tf.Tensor4D>;
}

function pool(x: tf.Tensor4D, pooling: Pooling): tf.Tensor4D {
  return pooling === 'avg' ? tf.avgPool(x, 2, 2, 'valid') : tf.maxPool(x, 2, 2, 'valid');
}

/** Runs layers[0..depth) on `x` and keeps what the backward pass needs. Call inside tf.tidy. */
function forward(net: VggNetwork, x: tf.Tensor4D, depth: number, pooling: Pooling): ForwardPass {
  const outputs: tf.Tensor4D[] = [];
  const pooled = new Map<number, tf.Tensor4D>();
  let h = x;
  for (const layer of net.layers.slice(0, depth)) {
    let input = h;
    if (layer.poolBefore) {
      input = pool(h, pooling);
      if (pooling === 'max') pooled.set(layer.index, input);
    }
    h = net.convolve(layer, input);
    // Average pooling's gradient needs only shapes: free its output now rather than at the end of the tidy.
    if (input !== x && pooling === 'avg' && layer.poolBefore) input.dispose();
    outputs.push(h);
  }
  return { outputs, pooled };
}

/**
 * Forward pass for targets (content features, style Gram matrices): hands each wanted layer's output to `take`
 * as soon as it exists and frees every activation it no longer needs, so even a large style image never holds
 * the whole network in memory. Whatever `take` returns is kept; `take` must not keep its argument unless it
 * returns it. Never frees `x`.
 */
function collectFeatures<T extends tf.Tensor>(
  net: VggNetwork,
  x: tf.Tensor4D,
  wanted: ReadonlySet<number>,
  pooling: Pooling,
  take: (features: tf.Tensor4D, index: number) => T,
): Map<number, T> {
  const depth = Math.max(...wanted) + 1;
  const kept = new Map<number, T>();
  let h = x;
  let handedOver = false;
  const release = () => {
    if (h !== x && !handedOver) h.dispose();
  };
  try {
    for (const layer of net.layers.slice(0, depth)) {
      if (layer.poolBefore) {
        const pooled = pool(h, pooling);
        release();
        [h, handedOver] = [pooled, false];
      }
      const output = net.convolve(layer, h);
      release();
      [h, handedOver] = [output, false];
      if (wanted.has(layer.index)) {
        const taken = take(h, layer.index);
        kept.set(layer.index, taken);
        handedOver = (taken as tf.Tensor) === h;
      }
    }
    release();
    return kept;
  } catch (error) {
    release();
    tf.dispose([...kept.values()]);
    throw error;
  }
}

/**
 * Back-propagates to the input image. `injected` maps a layer index to the loss gradient with respect to that
 * layer's ReLU output. Consumes `pass`: each layer's output is freed as soon as the pass is below it, so memory
 * falls as it proceeds. Call inside tf.tidy.
 */
function backward(
  net: VggNetwork,
  pass: ForwardPass,
  injected: ReadonlyMap<number, tf.Tensor4D>,
  pooling: Pooling,
): tf.Tensor4D {
  let grad: tf.Tensor4D | undefined;
  for (let i = pass.outputs.length - 1; i >= 0; i--) {
    const layer = net.layers[i]!;
    const output = pass.outputs[i]!;
    const extra = injected.get(i);
    if (grad === undefined && extra === undefined) continue; // no loss term at or above this layer
    const dy = grad === undefined ? extra! : extra === undefined ? grad : tf.add(grad, extra);
    // ReLU: the gradient passes where the output is positive; step(y) is exactly that mask since y >= 0.
    const dz = tf.tidy(() => tf.mul<tf.Tensor4D>(dy, tf.step(output)));
    if (dy !== extra) dy.dispose();
    if (grad !== undefined && grad !== dy) grad.dispose();
    output.dispose();
    const dx = net.inputGradient(layer, dz);
    dz.dispose();
    if (layer.poolBefore) {
      grad = poolBackward(dx, pass.outputs[i - 1]!, pass.pooled.get(i), pooling);
      dx.dispose();
    } else {
      grad = dx;
    }
  }
  if (grad === undefined) throw new Error('no loss term reaches the image');
  return grad;
}

function poolBackward(
  dy: tf.Tensor4D,
  input: tf.Tensor4D,
  output: tf.Tensor4D | undefined,
  pooling: Pooling,
): tf.Tensor4D {
  if (pooling === 'avg') {
    // Each input pixel of a 2x2 window gets a quarter of its gradient: a nearest-neighbour upscale, 3-5x faster
    // than AvgPoolGrad on wasm. Odd sizes drop their last row/column in pooling, so they get no gradient.
    return tf.tidy(() => {
      const [, height, width] = input.shape;
      const [, h, w] = dy.shape;
      const up = tf.image.resizeNearestNeighbor(tf.mul<tf.Tensor4D>(dy, 0.25), [2 * h, 2 * w]);
      if (height === 2 * h && width === 2 * w) return up;
      return tf.pad(up, [
        [0, 0],
        [0, height - 2 * h],
        [0, width - 2 * w],
        [0, 0],
      ]);
    });
  }
  if (!output) throw new Error('max pooling backward needs the pooled output');
  const attrs = { filterSize: 2, strides: 2, pad: 'valid' };
  return tf.engine().runKernel<tf.Tensor4D>(tf.MaxPoolGrad, { dy, input, output }, attrs);
}
