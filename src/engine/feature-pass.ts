import * as tf from '@tensorflow/tfjs';
import type { Pooling } from './types.ts';
import type { VggNetwork } from './vgg-network.ts';

/**
 * The forward pass through VGG19 up to a given depth, and its hand-written backward pass to the input image.
 * Autodiff would use Conv2DBackpropInput (a naive kernel on wasm) and keep more tensors alive; here every
 * convolution in both directions is a forward (fused) conv2d. Call both inside tf.tidy.
 */

export interface ForwardPass {
  /** ReLU outputs of layers 0..depth-1, in network order. */
  readonly outputs: tf.Tensor4D[];
  /** Pooling outputs by the index of the layer they feed; only kept for max pooling, whose gradient needs them. */
  readonly pooled: Map<number, tf.Tensor4D>;
}

function pool(x: tf.Tensor4D, pooling: Pooling): tf.Tensor4D {
  return pooling === 'avg' ? tf.avgPool(x, 2, 2, 'valid') : tf.maxPool(x, 2, 2, 'valid');
}


/** Runs layers[0..depth) on `x` (caffe-preprocessed, [1, H, W, 3]) and keeps what the backward pass needs. */
export function forward(net: VggNetwork, x: tf.Tensor4D, depth: number, pooling: Pooling): ForwardPass {
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
 * returns it.
 */
export function collectFeatures<T extends tf.Tensor>(
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
}

/**
 * Back-propagates to the input image. `injected` maps a layer index to the loss gradient with respect to that
 * layer's ReLU output. Consumes `pass`: each layer's output is freed as soon as the pass is below it, so memory
 * falls as it proceeds.
 */
export function backward(
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
