import type { Evaluation } from './compute.ts';
import type { LossTerms } from './types.ts';

/**
 * The optimizers, on plain Float32Arrays: L-BFGS (the default) and Adam. They see the loss only through
 * `evaluate`, so they run the same whatever computes it; their own vector work is a few passes over the image
 * per evaluation, in plain loops with float64 accumulators for dot products.
 */

/** What an optimizer needs from the run: the loss, a budget, and someone to tell after each evaluation. */
export interface OptimizationProblem {
  /** Loss terms and gradient at x. Must not keep x: the optimizer reuses the array. */
  evaluate(x: Float32Array): Promise<Evaluation>;
  /** Most evaluations (forward + backward passes) this optimization may use. */
  readonly budget: number;
  /**
   * Called after every evaluation with the evaluated image and its loss; `x` holds that image only until the
   * returned promise settles. Resolves false to stop early (time limit): the optimizer then returns its best
   * point. Rejects to abort: the optimizer rethrows.
   */
  report(x: Float32Array, loss: LossTerms): Promise<boolean>;
  /**
   * Stop early once the best loss has improved by less than `tolerance` (relative) over the last `window`
   * evaluations; undefined: run the whole budget.
   */
  readonly convergence?: Convergence;
}

export interface Convergence {
  readonly window: number;
  readonly tolerance: number;
}

export interface OptimizationResult {
  /** The best point found; the caller owns it. */
  readonly x: Float32Array;
  readonly loss: LossTerms;
  readonly evaluations: number;
  /** report() asked to stop before the budget was used. */
  readonly stopped: boolean;
  /** The loss had stopped improving (see OptimizationProblem.convergence) before the budget was used. */
  readonly converged: boolean;
  /** Wall time in ms: in evaluate(), in report(), and in all; the rest is the optimizer's own work. */
  readonly timing: { readonly evaluateMs: number; readonly reportMs: number; readonly totalMs: number };
}

/** Counts evaluations against the budget, reports each one, and times both. */
class Evaluator {
  readonly #problem: OptimizationProblem;
  readonly #startedAt = performance.now();
  #used = 0;
  #stopped = false;
  #converged = false;
  /** The best total loss after each evaluation, as long as the convergence window needs. */
  readonly #best: number[] = [];
  #evaluateMs = 0;
  #reportMs = 0;

  constructor(problem: OptimizationProblem) {
    this.#problem = problem;
  }

  /** Whether another evaluation may run. */
  get canContinue(): boolean {
    return !this.#stopped && !this.#converged && this.#used < this.#problem.budget;
  }

  #track(total: number) {
    const rule = this.#problem.convergence;
    if (!rule || !Number.isFinite(total)) return;
    const best = this.#best.length > 0 ? Math.min(this.#best[this.#best.length - 1]!, total) : total;
    this.#best.push(best);
    if (this.#best.length <= rule.window) return;
    const before = this.#best.shift()!;
    if (before - best <= rule.tolerance * Math.abs(best)) this.#converged = true;
  }

  async probe(x: Float32Array): Promise<Evaluation> {
    const start = performance.now();
    const evaluation = await this.#problem.evaluate(x);
    const evaluated = performance.now();
    this.#evaluateMs += evaluated - start;
    this.#used++;
    this.#track(evaluation.loss.total);
    if (evaluation.grad.length !== x.length) {
      throw new Error(`the objective returned a gradient of ${evaluation.grad.length} values for ${x.length}`);
    }
    try {
      if (!(await this.#problem.report(x, evaluation.loss))) this.#stopped = true;
    } finally {
      this.#reportMs += performance.now() - evaluated;
    }
    return evaluation;
  }

  result(x: Float32Array, loss: LossTerms): OptimizationResult {
    const timing = { evaluateMs: this.#evaluateMs, reportMs: this.#reportMs, totalMs: performance.now() - this.#startedAt };
    return { x, loss, evaluations: this.#used, stopped: this.#stopped, converged: this.#converged, timing };
  }
}

// ---- L-BFGS ---------------------------------------------------------------------------------------------------

/*
 * L-BFGS with a strong-Wolfe line search. Raw Gatys losses reach 1e12 and more, so nothing here depends on the
 * loss scale: a step without history is sized in pixel units (its largest pixel change is FIRST_STEP_PIXELS),
 * later ones use the quasi-Newton direction scaled by sᵀy/yᵀy; the line search starts at t = 1 and brackets and
 * zooms by cubic interpolation with safeguards (it also backs off from non-finite losses), so it neither stalls
 * on tiny steps nor diverges.
 */

const C1 = 1e-4;
const C2 = 0.9;
const MAX_LINE_SEARCH = 20;
const FIRST_STEP_PIXELS = 8;
/** History pairs are two image-sized vectors each: cap their memory and their count. */
const HISTORY_BYTES = 128 * 1024 * 1024;
const MAX_HISTORY = 50;
const MIN_HISTORY = 3;

/** A curvature pair: step s, change of gradient y, ρ = 1/(yᵀs). */
export interface Pair {
  s: Float32Array;
  y: Float32Array;
  rho: number;
}

interface Point {
  t: number;
  f: number;
  slope: number;
  loss: LossTerms | undefined;
  grad: Float32Array | undefined;
}

/** History pairs kept for an image of `pixels` pixels (3 values each). */
export function historySize(pixels: number): number {
  const pairBytes = 2 * pixels * 3 * 4;
  return Math.max(MIN_HISTORY, Math.min(MAX_HISTORY, Math.floor(HISTORY_BYTES / pairBytes)));
}

export async function lbfgs(problem: OptimizationProblem, start: Float32Array): Promise<OptimizationResult> {
  const evaluator = new Evaluator(problem);
  const n = start.length;
  const maxHistory = historySize(n / 3);
  const history: Pair[] = [];
  const x = Float32Array.from(start);
  const direction = new Float32Array(n);
  const trial = new Float32Array(n);
  const alphas: number[] = [];
  /** An s vector of a pair that left the history, for the next pair. */
  let spare: Float32Array | undefined;

  const first = await evaluator.probe(x);
  let grad = first.grad;
  let loss = first.loss;
  let hDiag = 1;
  while (evaluator.canContinue) {
    let slope = twoLoop(grad, history, hDiag, direction, alphas);
    if (!(slope < 0)) {
      // Not a descent direction (rounding in a long history): restart from steepest descent.
      history.length = 0;
      for (let i = 0; i < n; i++) direction[i] = -grad[i]!;
      slope = -dot(grad, grad);
      if (!(slope < 0)) break; // zero gradient: a stationary point
    }
    if (history.length === 0) {
      // Without history the direction has the loss's scale, which says nothing about a good step length:
      // rescale it so that a unit step changes no pixel by more than FIRST_STEP_PIXELS.
      const factor = FIRST_STEP_PIXELS / maxAbs(direction);
      scale(direction, factor);
      slope *= factor;
    }
    const fresh = history.length === 0;
    const accepted = await lineSearch(evaluator, x, direction, loss.total, slope, trial);
    if (!accepted) {
      if (fresh) break; // even steepest descent found no decrease: a (numerical) minimum
      history.length = 0;
      continue;
    }
    // Move to the accepted point exactly as it was evaluated; s is the step as stored, y the change of gradient
    // (written over the old gradient, which is not needed any more). One pass, with the pair's dot products.
    const s = spare ?? new Float32Array(n);
    spare = undefined;
    const t = accepted.t;
    const y = grad;
    const nextGrad = accepted.grad!;
    let [ys, yy, ss] = [0, 0, 0];
    for (let i = 0; i < n; i++) {
      const next = Math.fround(x[i]! + t * direction[i]!);
      const si = Math.fround(next - x[i]!);
      const yi = Math.fround(nextGrad[i]! - y[i]!);
      x[i] = next;
      s[i] = si;
      y[i] = yi;
      ys += yi * si;
      yy += yi * yi;
      ss += si * si;
    }
    [grad, loss] = [nextGrad, accepted.loss!];
    // Keep the pair only with clearly positive curvature (angle test, independent of the loss scale).
    if (ys > 1e-8 * Math.sqrt(yy * ss)) {
      if (history.length === maxHistory) spare = history.shift()!.s;
      history.push({ s, y, rho: 1 / ys });
      hDiag = ys / yy;
    } else {
      spare = s;
    }
  }
  return evaluator.result(x, loss);
}

/**
 * out = −H·g by the two-loop recursion, with H₀ = hDiag·I; returns the slope g·out. Each pass over the image
 * also takes the dot product the next step needs, so that m pairs cost 2m + 1 passes instead of 4m + 2.
 */
export function twoLoop(
  grad: Float32Array,
  history: readonly Pair[],
  hDiag: number,
  out: Float32Array,
  alphas: number[] = [],
): number {
  const m = history.length;
  if (m === 0) return update(0, out, -hDiag, grad, grad);
  // q = −g, then q −= αₖ·yₖ from the newest pair down, αₖ = ρₖ·sₖ·q.
  alphas[m - 1] = history[m - 1]!.rho * update(0, out, -1, grad, history[m - 1]!.s);
  let yq = 0;
  for (let k = m - 1; k >= 0; k--) {
    const next = k > 0 ? history[k - 1]!.s : history[0]!.y;
    const d = update(1, out, -alphas[k]!, history[k]!.y, next);
    if (k > 0) alphas[k - 1] = history[k - 1]!.rho * d;
    else yq = d;
  }
  // r = hDiag·q, then r += (αₖ − βₖ)·sₖ from the oldest pair up, βₖ = ρₖ·yₖ·r; the last pass takes g·r.
  let beta = history[0]!.rho * hDiag * yq;
  for (let k = 0; k < m; k++) {
    const next = k + 1 < m ? history[k + 1]!.y : grad;
    const d = update(k === 0 ? hDiag : 1, out, alphas[k]! - beta, history[k]!.s, next);
    if (k + 1 < m) beta = history[k + 1]!.rho * d;
    else return d;
  }
  throw new Error('unreachable');
}

/**
 * Starting at t = 1, finds t with f(x + t·d) ≤ f0 + c1·t·slope0 and |slope(t)| ≤ c2·|slope0| (strong Wolfe),
 * or the best sufficient-decrease point seen when the budget or the run ends first. Undefined when no point
 * decreased f. Evaluates its trial points in `trial`.
 */
async function lineSearch(
  evaluator: Evaluator,
  x: Float32Array,
  direction: Float32Array,
  f0: number,
  slope0: number,
  trial: Float32Array,
): Promise<Point | undefined> {
  const probeAt = async (t: number): Promise<Point> => {
    for (let i = 0; i < x.length; i++) trial[i] = x[i]! + t * direction[i]!;
    const { loss, grad } = await evaluator.probe(trial);
    const f = finiteOr(loss.total, Infinity);
    return { t, f, slope: finiteOr(dot(grad, direction), 0), loss, grad };
  };
  const armijo = (p: Point) => p.f <= f0 + C1 * p.t * slope0;
  const curvatureOk = (p: Point) => Math.abs(p.slope) <= -C2 * slope0;

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
    if (curvatureOk(current)) return current;
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
      if (curvatureOk(current)) return current;
      if (current.slope * (high.t - low.t) >= 0) high = low;
      low = current;
    }
  }
  return bestDecrease;
}

function finiteOr(value: number, fallback: number): number {
  return Number.isFinite(value) ? value : fallback;
}

/**
 * Minimizer of the cubic through (a.t, a.f) and (b.t, b.f) with slopes a.slope and b.slope, clamped to
 * [lo, hi]; the middle of the interval when the cubic has no minimum there.
 */
function cubicMinimum(
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

// ---- Adam -----------------------------------------------------------------------------------------------------

/** TensorFlow's AdamOptimizer defaults, as the seed article used them. */
const BETA1 = 0.9;
const BETA2 = 0.999;
const EPSILON = 1e-8;

/**
 * Adam on the image, one evaluation per step. Its loss does not fall monotonically, so it keeps a copy of the
 * best image evaluated and returns that.
 */
export async function adam(
  problem: OptimizationProblem,
  start: Float32Array,
  learningRate: number,
): Promise<OptimizationResult> {
  const evaluator = new Evaluator(problem);
  const n = start.length;
  const x = Float32Array.from(start);
  const m = new Float32Array(n);
  const v = new Float32Array(n);
  const best = new Float32Array(n);
  let bestLoss: LossTerms | undefined;
  for (let step = 1; evaluator.canContinue; step++) {
    const { loss, grad } = await evaluator.probe(x);
    if (!bestLoss || loss.total < bestLoss.total || !Number.isFinite(bestLoss.total)) {
      best.set(x);
      bestLoss = loss;
    }
    const rate = (learningRate * Math.sqrt(1 - BETA2 ** step)) / (1 - BETA1 ** step);
    for (let i = 0; i < n; i++) {
      const g = grad[i]!;
      const mi = BETA1 * m[i]! + (1 - BETA1) * g;
      const vi = BETA2 * v[i]! + (1 - BETA2) * g * g;
      m[i] = mi;
      v[i] = vi;
      x[i]! -= (rate * mi) / (Math.sqrt(vi) + EPSILON);
    }
  }
  if (!bestLoss) throw new Error('Adam ran no evaluation');
  return evaluator.result(best, bestLoss);
}

// ---- Vector helpers -------------------------------------------------------------------------------------------

/** Σ aᵢbᵢ, accumulated in float64 (four partial sums, which also lets the loop pipeline). */
export function dot(a: Float32Array, b: Float32Array): number {
  const n = a.length;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    s0 += a[i]! * b[i]!;
    s1 += a[i + 1]! * b[i + 1]!;
    s2 += a[i + 2]! * b[i + 2]!;
    s3 += a[i + 3]! * b[i + 3]!;
  }
  for (; i < n; i++) s0 += a[i]! * b[i]!;
  return s0 + s1 + s2 + s3;
}

/** y = c·y + alpha·x (c = 0: y is overwritten, whatever it held); returns z·y, the new y, in float64. */
function update(c: number, y: Float32Array, alpha: number, x: Float32Array, z: Float32Array): number {
  let sum = 0;
  if (c === 0) {
    for (let i = 0; i < y.length; i++) {
      const v = Math.fround(alpha * x[i]!);
      y[i] = v;
      sum += z[i]! * v;
    }
  } else {
    for (let i = 0; i < y.length; i++) {
      const v = Math.fround(c * y[i]! + alpha * x[i]!);
      y[i] = v;
      sum += z[i]! * v;
    }
  }
  return sum;
}

function scale(x: Float32Array, factor: number): void {
  for (let i = 0; i < x.length; i++) x[i]! *= factor;
}

function maxAbs(x: Float32Array): number {
  let max = 0;
  for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i]!));
  return max;
}
