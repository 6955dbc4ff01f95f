import * as tf from '@tensorflow/tfjs';
import {
  Evaluator,
  readScalar,
  readValues,
  type OptimizationProblem,
  type OptimizationResult,
  type Probe,
} from './probe.ts';
import type { LossTerms } from './types.ts';

/**
 * L-BFGS with a strong-Wolfe line search, on tensors: the history, the two-loop recursion and every update stay
 * on the backend; only a few scalars per evaluation come back (loss terms, slopes, curvature).
 *
 * Raw Gatys losses reach 1e12 and more, so nothing here depends on the loss scale: a step without history is
 * sized in pixel units (its largest pixel change is FIRST_STEP_PIXELS), later ones use the quasi-Newton
 * direction scaled by sᵀy/yᵀy; the line search starts at t = 1 and brackets and zooms by cubic interpolation
 * with safeguards (it also backs off from non-finite losses), so it neither stalls on tiny steps nor diverges.
 */

const C1 = 1e-4;
const C2 = 0.9;
const MAX_LINE_SEARCH = 20;
const FIRST_STEP_PIXELS = 8;
/** History pairs are two image-sized vectors each: cap their memory and their count. */
const HISTORY_BYTES = 128 * 1024 * 1024;
const MAX_HISTORY = 50;
const MIN_HISTORY = 3;

interface Pair {
  s: tf.Tensor4D;
  y: tf.Tensor4D;
  rho: number;
}

interface Point {
  t: number;
  f: number;
  slope: number;
  loss: LossTerms | undefined;
  /** Undefined for the start point, whose gradient the caller owns. */
  grad: tf.Tensor4D | undefined;
}

export function historySize(pixels: number): number {
  const pairBytes = 2 * pixels * 3 * 4;
  return Math.max(MIN_HISTORY, Math.min(MAX_HISTORY, Math.floor(HISTORY_BYTES / pairBytes)));
}

export async function lbfgs(problem: OptimizationProblem, start: tf.Tensor4D): Promise<OptimizationResult> {
  const evaluator = new Evaluator(problem);
  const history: Pair[] = [];
  const maxHistory = historySize(start.shape[1] * start.shape[2]);
  let x = start.clone();
  let handedOver = false;
  let grad: tf.Tensor4D | undefined;
  let direction: tf.Tensor4D | undefined;
  try {
    const first = await evaluator.probe(x);
    grad = first.grad;
    let loss = first.loss;
    let hDiag = 1;
    while (evaluator.canContinue) {
      direction?.dispose();
      direction = twoLoop(grad, history, hDiag);
      let slope = await readScalar(dot(grad, direction));
      if (!(slope < 0)) {
        // Not a descent direction (rounding in a long history): restart from steepest descent.
        clearHistory(history);
        direction.dispose();
        direction = tf.neg(grad);
        slope = -(await readScalar(dot(grad, grad)));
        if (!(slope < 0)) break; // zero gradient: a stationary point
      }
      if (history.length === 0) {
        // Without history the direction has the loss's scale, which says nothing about a good step length:
        // rescale it so that a unit step changes no pixel by more than FIRST_STEP_PIXELS.
        const factor = FIRST_STEP_PIXELS / (await readScalar(tf.tidy(() => tf.max(tf.abs(direction!)))));
        const scaled: tf.Tensor4D = tf.mul(direction, factor);
        direction.dispose();
        direction = scaled;
        slope *= factor;
      }
      const fresh = history.length === 0;
      const accepted = await lineSearch(evaluator, x, direction, loss.total, slope);
      if (!accepted) {
        if (fresh) break; // even steepest descent found no decrease: a (numerical) minimum
        clearHistory(history);
        continue;
      }
      const s: tf.Tensor4D = tf.mul(direction, accepted.t);
      const next: tf.Tensor4D = tf.add(x, s);
      const y = tf.sub<tf.Tensor4D>(accepted.grad!, grad);
      x.dispose();
      grad.dispose();
      [x, grad, loss] = [next, accepted.grad!, accepted.loss!];
      const pair = { s, y, rho: 0 };
      try {
        const [ys, yy, ss] = await readValues(tf.tidy(() => tf.stack([dot(y, s), dot(y, y), dot(s, s)])));
        // Keep the pair only with clearly positive curvature (angle test, independent of the loss scale).
        if (ys! > 1e-8 * Math.sqrt(yy! * ss!)) {
          if (history.length === maxHistory) disposePair(history.shift()!);
          history.push({ ...pair, rho: 1 / ys! });
          hDiag = ys! / yy!;
        } else {
          disposePair(pair);
        }
      } catch (error) {
        disposePair(pair);
        throw error;
      }
    }
    const result = { x, loss, evaluations: evaluator.evaluations, stopped: evaluator.stopped };
    handedOver = true;
    return result;
  } finally {
    if (!handedOver) x.dispose();
    grad?.dispose();
    direction?.dispose();
    clearHistory(history);
  }
}

function dot(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.sum(tf.mul(a, b)));
}

/** −H·g by the two-loop recursion, with H₀ = hDiag·I. */
function twoLoop(grad: tf.Tensor4D, history: readonly Pair[], hDiag: number): tf.Tensor4D {
  return tf.tidy(() => {
    let q: tf.Tensor4D = tf.neg(grad);
    const alphas: tf.Scalar[] = [];
    for (let i = history.length - 1; i >= 0; i--) {
      const { s, y, rho } = history[i]!;
      const alpha = tf.sum(tf.mul(s, q)).mul<tf.Scalar>(rho);
      alphas[i] = alpha;
      q = tf.sub(q, tf.mul(y, alpha));
    }
    let r: tf.Tensor4D = tf.mul(q, hDiag);
    for (let i = 0; i < history.length; i++) {
      const { s, y, rho } = history[i]!;
      const beta = tf.sum(tf.mul(y, r)).mul(rho);
      r = tf.add(r, tf.mul(s, tf.sub(alphas[i]!, beta)));
    }
    return r;
  });
}

/**
 * Starting at t = 1, finds t with f(x + t·d) ≤ f0 + c1·t·slope0 and |slope(t)| ≤ c2·|slope0| (strong Wolfe),
 * or the best sufficient-decrease point seen when the budget or the run ends first. Undefined when no point
 * decreased f.
 */
async function lineSearch(
  evaluator: Evaluator,
  x: tf.Tensor4D,
  direction: tf.Tensor4D,
  f0: number,
  slope0: number,
): Promise<Point | undefined> {
  const owned = new Set<tf.Tensor4D>();
  const probeAt = async (t: number): Promise<Point> => {
    const trial = tf.tidy(() => tf.add<tf.Tensor4D>(x, tf.mul(direction, t)));
    let probe: Probe;
    try {
      probe = await evaluator.probe(trial, direction);
    } finally {
      trial.dispose();
    }
    owned.add(probe.grad);
    const f = finiteOr(probe.loss.total, Infinity);
    return { t, f, slope: finiteOr(probe.slope, 0), loss: probe.loss, grad: probe.grad };
  };
  const armijo = (p: Point) => p.f <= f0 + C1 * p.t * slope0;
  const curvatureOk = (p: Point) => Math.abs(p.slope) <= -C2 * slope0;

  let accepted: Point | undefined;
  try {
    let previous: Point = { t: 0, f: f0, slope: slope0, loss: undefined, grad: undefined };
    let bestDecrease: Point | undefined;
    let low: Point | undefined;
    let high: Point | undefined;
    let t = 1;
    for (let i = 0; i < MAX_LINE_SEARCH && evaluator.canContinue; i++) {
      const current = await probeAt(t);
      if (armijo(current) && (!bestDecrease || current.f < bestDecrease.f)) bestDecrease = current;
      if (!armijo(current) || (i > 0 && current.f >= previous.f)) {
        [low, high] = [previous, current];
        break;
      }
      if (curvatureOk(current)) return (accepted = current);
      if (current.slope >= 0) {
        [low, high] = [current, previous];
        break;
      }
      // Still going down steeply: extrapolate, at least a little and at most tenfold.
      const next = cubicMinimum(previous, current, t + 0.01 * (t - previous.t), 10 * t);
      previous = current;
      t = next;
    }

    for (let i = 0; low && high && i < MAX_LINE_SEARCH && evaluator.canContinue; i++) {
      const width = Math.abs(high.t - low.t);
      if (width <= 1e-9 * Math.max(low.t, high.t)) break;
      const lo = Math.min(low.t, high.t);
      const hi = Math.max(low.t, high.t);
      // Stay at least a tenth of the interval away from its ends so that each step makes progress.
      const guess = Number.isFinite(high.f) ? cubicMinimum(low, high, lo, hi) : (lo + hi) / 2;
      const current = await probeAt(Math.min(Math.max(guess, lo + 0.1 * width), hi - 0.1 * width));
      if (armijo(current) && (!bestDecrease || current.f < bestDecrease.f)) bestDecrease = current;
      if (!armijo(current) || current.f >= low.f) {
        high = current;
      } else {
        if (curvatureOk(current)) return (accepted = current);
        if (current.slope * (high.t - low.t) >= 0) high = low;
        low = current;
      }
    }
    accepted = bestDecrease;
    return accepted;
  } finally {
    for (const g of owned) if (g !== accepted?.grad) g.dispose();
  }
}

function finiteOr(value: number, fallback: number): number {
  return Number.isFinite(value) ? value : fallback;
}

/**
 * Minimizer of the cubic through (a.t, a.f) and (b.t, b.f) with slopes a.slope and b.slope, clamped to
 * [lo, hi]; the middle of the interval when the cubic has no minimum there.
 */
export function cubicMinimum(
  a: Pick<Point, 't' | 'f' | 'slope'>,
  b: Pick<Point, 't' | 'f' | 'slope'>,
  lo: number,
  hi: number,
): number {
  const d1 = a.slope + b.slope - (3 * (a.f - b.f)) / (a.t - b.t);
  const d2Squared = d1 * d1 - a.slope * b.slope;
  if (d2Squared >= 0) {
    const d2 = Math.sqrt(d2Squared);
    const position =
      a.t <= b.t
        ? b.t - (b.t - a.t) * ((b.slope + d2 - d1) / (b.slope - a.slope + 2 * d2))
        : a.t - (a.t - b.t) * ((a.slope + d2 - d1) / (a.slope - b.slope + 2 * d2));
    if (Number.isFinite(position)) return Math.min(Math.max(position, lo), hi);
  }
  return (lo + hi) / 2;
}

function disposePair(pair: Pair): void {
  pair.s.dispose();
  pair.y.dispose();
}

function clearHistory(history: Pair[]): void {
  for (const pair of history) disposePair(pair);
  history.length = 0;
}
