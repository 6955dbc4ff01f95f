/**
 * Coarse-to-fine schedule: the image is optimized at halved sizes first, then upscaled and refined. A coarse
 * iteration costs about a quarter of the next finer one and settles the large structures that fine iterations
 * are slow to move, so most of the budget goes to the cheap scales.
 */

export interface ScaleStep {
  readonly width: number;
  readonly height: number;
  /** Evaluations planned at this scale (unused ones carry over to the next). */
  readonly iterations: number;
}

/** Coarser scales than this long side teach the image little that survives upscaling. */
export const MIN_COARSE_LONG_SIDE = 128;

/** Share of the budget for each scale, coarsest first, by number of scales. */
const SHARES: Readonly<Record<number, readonly number[]>> = {
  1: [1],
  2: [0.5, 0.5],
  3: [0.4, 0.3, 0.3],
  4: [0.3, 0.25, 0.25, 0.2],
};

function sharesFor(count: number): readonly number[] {
  return SHARES[count] ?? Array.from({ length: count }, () => 1 / count);
}

/**
 * The sizes and iteration budgets of a run with `scales` scales at most. Scales whose long side would fall
 * below MIN_COARSE_LONG_SIDE, or whose short side below `minSide`, are dropped, as are scales that would get no
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
    if (coarse && (Math.max(w, h) < MIN_COARSE_LONG_SIDE || Math.min(w, h) < minSide)) continue;
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
