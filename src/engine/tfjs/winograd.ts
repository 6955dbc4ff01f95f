import * as tf from '@tensorflow/tfjs';

/**
 * 3x3 'same' convolution by Winograd's minimal filtering F(4x4, 3x3) (Lavin & Gray, 2016): each 4x4 output tile
 * comes from a 6x6 input tile through 36 matrix products instead of 144 multiply-adds per channel pair, 4x fewer
 * multiplications. Built only from backend-agnostic tfjs ops (slices, adds, matMul). On wasm the matrix
 * products run on XNNPACK at full speed while the tile transforms cost memory passes, so it pays off on layers
 * with many channels: 1.5-2.9x over conv2d on VGG19's 512-channel layers (see chooseConvolution).
 *
 * Transforms (B: input, G: filter, A: output):
 *   Bᵀ = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
 *   G  = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
 *   Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 */

const G = [
  [1 / 4, 0, 0],
  [-1 / 6, -1 / 6, -1 / 6],
  [-1 / 6, 1 / 6, -1 / 6],
  [1 / 24, 1 / 12, 1 / 6],
  [1 / 24, -1 / 12, 1 / 6],
  [0, 0, 1],
];

/** The 36 transformed filters U_ij = (G g Gᵀ)_ij, each [inChannels, outChannels]. */
export type WinogradFilter = readonly tf.Tensor2D[];

/** Transforms an HWIO [3, 3, C, K] kernel; `flip` first rotates it 180° and swaps C and K (input gradients). */
export function winogradFilter(
  kernel: Float32Array,
  inChannels: number,
  outChannels: number,
  flip = false,
): WinogradFilter {
  const [c, k] = flip ? [outChannels, inChannels] : [inChannels, outChannels];
  const size = c * k;
  // tap(a, b) is the [c, k] matrix of kernel position (a, b) in the orientation wanted.
  const tap = (a: number, b: number): Float32Array => {
    if (!flip) return kernel.subarray((a * 3 + b) * size, (a * 3 + b + 1) * size);
    const source = kernel.subarray(((2 - a) * 3 + (2 - b)) * size, ((2 - a) * 3 + (2 - b) + 1) * size);
    const out = new Float32Array(size);
    for (let i = 0; i < outChannels; i++) {
      for (let o = 0; o < inChannels; o++) out[i * inChannels + o] = source[o * outChannels + i]!;
    }
    return out;
  };
  const taps = [0, 1, 2].map((a) => [0, 1, 2].map((b) => tap(a, b)));
  const filters: tf.Tensor2D[] = [];
  for (let i = 0; i < 6; i++) {
    for (let j = 0; j < 6; j++) {
      const u = new Float32Array(size);
      for (let a = 0; a < 3; a++) {
        for (let b = 0; b < 3; b++) {
          const coefficient = G[i]![a]! * G[j]![b]!;
          if (coefficient === 0) continue;
          const t = taps[a]![b]!;
          for (let n = 0; n < size; n++) u[n]! += coefficient * t[n]!;
        }
      }
      filters.push(tf.tensor2d(u, [c, k]));
    }
  }
  return filters;
}

/** Bᵀ applied along one axis: six input slices → six transformed ones. */
function inputTransform(d: readonly tf.Tensor[]): tf.Tensor[] {
  const [d0, d1, d2, d3, d4, d5] = d as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
  const a = tf.sub(d4, tf.mul(d2, 4));
  const b = tf.sub(d3, tf.mul(d1, 4));
  const c = tf.sub(d4, d2);
  const e = tf.mul(tf.sub(d3, d1), 2);
  return [
    tf.addN([tf.mul(d0, 4), tf.mul(d2, -5), d4]),
    tf.add(a, b),
    tf.sub(a, b),
    tf.add(c, e),
    tf.sub(c, e),
    tf.addN([tf.mul(d1, 4), tf.mul(d3, -5), d5]),
  ];
}

/** Aᵀ applied along one axis: six products → four outputs. */
function outputTransform(m: readonly tf.Tensor[]): tf.Tensor[] {
  const [m0, m1, m2, m3, m4, m5] = m as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
  const p = tf.add(m1, m2);
  const q = tf.sub(m1, m2);
  const u = tf.add(m3, m4);
  const v = tf.sub(m3, m4);
  return [tf.addN([m0, p, u]), tf.add(q, tf.mul(v, 2)), tf.add(p, tf.mul(u, 4)), tf.addN([q, tf.mul(v, 8), m5])];
}

/**
 * conv2d(x, kernel, 1, 'same') (+ bias, + ReLU) with a filter from winogradFilter. Returns a new tensor and
 * frees every intermediate as soon as its stage is done: the transforms make many image-sized temporaries, and
 * holding them until the end would more than double the layer's memory.
 * The bias is added to the (1,1) product: Aᵀ's column 1 is all ones, so it reaches every output once.
 */
export function winogradConv2d(
  x: tf.Tensor4D,
  filter: WinogradFilter,
  bias?: tf.Tensor1D,
  relu = false,
): tf.Tensor4D {
  const [, height, width, channels] = x.shape;
  const outChannels = filter[0]!.shape[1];
  const th = Math.ceil(height / 4);
  const tw = Math.ceil(width / 4);
  const paddedWidth = 4 * (tw + 1);

  // Bᵀ over rows. Rows 0..4·th+3 in groups of four: tile row r reads input rows 4r..4r+5 (groups r and r+1).
  const rows = tf.tidy(() => {
    const padded = tf
      .pad(x, [
        [0, 0],
        [1, 4 * (th + 1) - height - 1],
        [1, paddedWidth - width - 1],
        [0, 0],
      ])
      .reshape([th + 1, 4, paddedWidth * channels]);
    const slices = Array.from({ length: 6 }, (_, k) => padded.slice([k < 4 ? 0 : 1, k % 4, 0], [th, 1, -1]));
    return inputTransform(slices).map((row) => row.reshape<tf.Tensor4D>([th, tw + 1, 4, channels]));
  });

  // Bᵀ over columns, then the 36 products V_ij · U_ij, one row of tiles at a time.
  const products: tf.Tensor2D[] = [];
  for (const [i, row] of rows.entries()) {
    const transformed = tf.tidy(() => {
      const slices = Array.from({ length: 6 }, (_, k) =>
        row.slice([0, k < 4 ? 0 : 1, k % 4, 0], [th, tw, 1, channels]),
      );
      return inputTransform(slices);
    });
    row.dispose();
    for (const [j, v] of transformed.entries()) {
      products[i * 6 + j] = tf.tidy((): tf.Tensor2D => {
        const a = v.reshape<tf.Tensor2D>([th * tw, channels]);
        const b = filter[i * 6 + j]!;
        return bias && i === 1 && j === 1 ? (tf.fused.matMul({ a, b, bias }) as tf.Tensor2D) : tf.matMul(a, b);
      });
      v.dispose();
    }
  }

  // Aᵀ over i for each j, then over j: tiles[a][b] holds output pixels (4·tr + a, 4·tc + b).
  const byColumn = Array.from({ length: 6 }, (_, j) => {
    const column = [0, 1, 2, 3, 4, 5].map((i) => products[i * 6 + j]!);
    const out = tf.tidy(() => outputTransform(column));
    tf.dispose(column);
    return out;
  });
  const tileRows = [0, 1, 2, 3].map((a) => {
    const parts = byColumn.map((column) => column[a]!);
    const row = tf.tidy(() => tf.stack(outputTransform(parts), 1).reshape([th, tw * 4 * outChannels]));
    tf.dispose(parts);
    return row;
  });
  return tf.tidy(() => {
    let y = tf.stack(tileRows, 1).reshape<tf.Tensor4D>([1, 4 * th, 4 * tw, outChannels]);
    tf.dispose(tileRows);
    if (4 * th !== height || 4 * tw !== width) y = y.slice([0, 0, 0, 0], [1, height, width, outChannels]);
    return relu ? tf.relu(y) : y;
  });
}
