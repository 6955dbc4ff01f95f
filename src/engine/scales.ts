/**
 * Coarse-to-fine schedule: the image is optimized at halved sizes first, then upscaled and refined. It depends on
 * the output size: scales halve from the output down to the smallest size whose long side is still
 * COARSEST_LONG_SIDE or more (at most `scales` scales, the finest kept), so 256 px runs 128 → 256, 512 px runs
 * 128 → 256 → 512 and 1024 px 128 → 256 → 512 → 1024; smaller outputs run at their own size only.
 *
 * Why: a coarse iteration costs a quarter of the next finer one, and at 128 px VGG19's deepest style layers
 * (block5_conv1 sees about 200 px) cover the whole picture, so the large structures of a style (long strokes, big
 * swirls, the layout of colour) are settled there, cheaply; the finer scales restore the photo's detail and add
 * fine texture. A single scale at 1024 px stalls near style_rel 0.15 because its style layers see a fifth of the
 * picture. Below 128 px block5_conv1 is 8 pixels across and a photo's Gram matrices say too little. Measured
 * (judge.py over the photo × artwork pairs of ../shared/images, see the README's notes on the defaults): at 256 px
 * the coarse start reaches style_rel ≤ 0.05 on every pair, where the single scale missed on 9 of 18.
 */
export interface ScaleStep {
  readonly width: number;
  readonly height: number;
  /** Most evaluations at this scale (unused ones carry over to the next). */
  readonly iterations: number;
}

/** The smallest long side a coarse scale may have. */
const COARSEST_LONG_SIDE = 128;

/**
 * Share of the budget for each scale, coarsest first, by number of scales. The coarsest scale gets the most (40%):
 * that is where the style is won. Each finer scale gets less, as its iterations cost 4× more and it mostly has to
 * restore the photo's detail, which takes a few dozen iterations at 256 px and fewer at sizes judged from afar.
 */
const SHARES: Readonly<Record<number, readonly number[]>> = {
  1: [1],
  2: [0.4, 0.6],
  3: [0.4, 0.35, 0.25],
  4: [0.4, 0.3, 0.2, 0.1],
};

function sharesFor(count: number): readonly number[] {
  return SHARES[count] ?? Array.from({ length: count }, () => 1 / count);
}

/**
 * The sizes and iteration budgets of a run with `scales` scales at most. Coarse scales whose long side would fall
 * below COARSEST_LONG_SIDE, or whose short side below `minSide`, are dropped, as are scales that would get no
 * iteration. The last step always has the output size.
 */
export function planScales(
  width: number,
  height: number,
  scales: number,
  iterations: number,
  minSide = 16,
): ScaleStep[] {
  const sizes: { width: number; height: number }[] = [];
  for (let k = scales - 1; k >= 0; k--) {
    const factor = 2 ** -k;
    const w = Math.round(width * factor);
    const h = Math.round(height * factor);
    const coarse = k > 0;
    if (coarse && (Math.max(w, h) < COARSEST_LONG_SIDE || Math.min(w, h) < minSide)) continue;
    sizes.push({ width: coarse ? w : width, height: coarse ? h : height });
  }
  const used = sizes.slice(-Math.max(1, Math.min(sizes.length, iterations)));
  const shares = sharesFor(used.length);
  let assigned = 0;
  return used.map((size, i) => {
    const last = i === used.length - 1;
    const planned = last ? iterations - assigned : Math.max(1, Math.floor(iterations * shares[i]!));
    assigned += planned;
    return { ...size, iterations: planned };
  });
}
