import { describe, expect, it } from 'vitest';
import type { Evaluation } from '../../src/engine/compute.ts';
import { adam, historySize, lbfgs, twoLoop, type OptimizationProblem, type Pair } from '../../src/engine/optimize.ts';
import { StylizeAbortedError, type LossTerms } from '../../src/engine/types.ts';

/**
 * The optimizers on analytic problems: an ill-conditioned quadratic whose loss is scaled to Gatys-like
 * magnitudes (1e12), and the Rosenbrock function, whose curved valley needs a good line search.
 */

const N = 48;
const terms = (f: number): LossTerms => ({ total: f, content: f, style: 0, tv: 0 });

/** f(x) = scale · Σ cᵢ (xᵢ − bᵢ)², with curvatures cᵢ from 1 to 100. */
function quadratic(scale: number, budget: number) {
  const b = Float32Array.from({ length: N }, (_, i) => 50 * Math.sin(i));
  const c = Float32Array.from({ length: N }, (_, i) => 1 + (99 * i) / (N - 1));
  const losses: number[] = [];
  const problem: OptimizationProblem = {
    budget,
    evaluate: (x) => {
      let f = 0;
      const grad = new Float32Array(N);
      for (let i = 0; i < N; i++) {
        const d = x[i]! - b[i]!;
        f += c[i]! * d * d;
        grad[i] = 2 * scale * c[i]! * d;
      }
      return Promise.resolve({ loss: terms(f * scale), grad });
    },
    report: (_x, loss) => {
      losses.push(loss.total);
      return Promise.resolve(true);
    },
  };
  return { problem, b, losses };
}

/** Σ over pairs of 100 (v − u²)² + (1 − u)², minimum 0 at all ones. */
function rosenbrock(budget: number): OptimizationProblem {
  return {
    budget,
    evaluate: (x): Promise<Evaluation> => {
      let f = 0;
      const grad = new Float32Array(x.length);
      for (let i = 0; i < x.length; i += 2) {
        const u = x[i]!;
        const r = x[i + 1]! - u * u;
        f += 100 * r * r + (1 - u) ** 2;
        grad[i] = -400 * u * r - 2 * (1 - u);
        grad[i + 1] = 200 * r;
      }
      return Promise.resolve({ loss: terms(f), grad });
    },
    report: () => Promise.resolve(true),
  };
}

function maxAbsDiff(a: Float32Array, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

describe('L-BFGS', () => {
  it.each([1, 1e12])('solves an ill-conditioned quadratic whatever the loss scale (×%s)', async (scale) => {
    const { problem, b, losses } = quadratic(scale, 60);
    const start = new Float32Array(N);
    const result = await lbfgs(problem, start);
    expect(maxAbsDiff(result.x, b)).toBeLessThan(1e-2);
    expect(result.evaluations).toBeLessThanOrEqual(60);
    expect(result.evaluations).toBe(losses.length);
    // Accepted points never go up: each is the best so far.
    expect(result.loss.total).toBe(Math.min(...losses));
    expect(start.every((v) => v === 0)).toBe(true);
  });

  it('follows the curved Rosenbrock valley to its minimum', async () => {
    const start = Float32Array.from({ length: N }, (_, i) => (i % 2 === 0 ? -1.2 : 1));
    const result = await lbfgs(rosenbrock(400), start);
    expect(result.loss.total).toBeLessThan(1e-6);
    expect(maxAbsDiff(result.x, new Float32Array(N).fill(1))).toBeLessThan(1e-3);
  });

  it('stops early when told, with the best point so far', async () => {
    const { problem, losses } = quadratic(1, 100);
    let calls = 0;
    const result = await lbfgs({ ...problem, report: (x, loss) => problem.report(x, loss).then(() => ++calls < 5) }, new Float32Array(N));
    expect(result).toMatchObject({ evaluations: 5, stopped: true });
    expect(result.loss.total).toBe(Math.min(...losses));
  });

  it('rethrows an abort in the middle of a line search, and an evaluation that fails', async () => {
    const { problem } = quadratic(1e6, 100);
    let calls = 0;
    const aborting = {
      ...problem,
      report: () => (++calls === 7 ? Promise.reject(new StylizeAbortedError()) : Promise.resolve(true)),
    };
    await expect(lbfgs(aborting, new Float32Array(N))).rejects.toBeInstanceOf(StylizeAbortedError);
    expect(calls).toBe(7);
    const failing = { ...problem, evaluate: () => Promise.reject(new Error('backend lost')) };
    await expect(lbfgs(failing, new Float32Array(N))).rejects.toThrow('backend lost');
    const wrongSize = { ...problem, evaluate: () => Promise.resolve({ loss: terms(1), grad: new Float32Array(3) }) };
    await expect(lbfgs(wrongSize, new Float32Array(N))).rejects.toThrow(/gradient of 3 values for 48/);
  });

  it('times the evaluations and its own work', async () => {
    const { problem } = quadratic(1, 30);
    const slow = { ...problem, evaluate: (x: Float32Array) => new Promise<Evaluation>((r) => setTimeout(() => void problem.evaluate(x).then(r), 5)) };
    const { timing, evaluations } = await lbfgs(slow, new Float32Array(N));
    expect(timing.evaluateMs).toBeGreaterThanOrEqual(4 * evaluations);
    expect(timing.totalMs).toBeGreaterThanOrEqual(timing.evaluateMs + timing.reportMs);
  });

  it('computes −H·g by the two-loop recursion exactly as the dense BFGS update would', () => {
    const n = 6;
    let state = 9;
    const random = () => ((state = (state * 16807) % 2147483647) / 2147483647) * 2 - 1;
    const vector = () => Float32Array.from({ length: n }, random);
    const pairs: Pair[] = [];
    for (let k = 0; k < 4; k++) {
      const s = vector();
      // y = A·s with A positive definite (diagonal 2..7 plus a small coupling), so that yᵀs > 0.
      const y = s.map((v, i) => (2 + i) * v + 0.3 * s[(i + 1) % n]! + 0.3 * s[(i + n - 1) % n]!);
      pairs.push({ s, y, rho: 1 / y.reduce((sum, v, i) => sum + v * s[i]!, 0) });
    }
    const grad = vector();
    const hDiag = 0.37;
    const mul = (a: number[][], b: number[][]) => a.map((row) => b[0]!.map((_, j) => row.reduce((sum, v, k) => sum + v * b[k]![j]!, 0)));
    /** −H·g with H₀ = hDiag·I and Hₖ₊₁ = (I − ρ s yᵀ) Hₖ (I − ρ y sᵀ) + ρ s sᵀ, as dense matrices. */
    const dense = (used: Pair[]) => {
      let h: number[][] = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (__, j) => (i === j ? hDiag : 0)));
      for (const { s, y, rho } of used) {
        const left = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (__, j) => (i === j ? 1 : 0) - rho * s[i]! * y[j]!));
        const right = left[0]!.map((_, i) => left.map((row) => row[i]!));
        h = mul(mul(left, h), right).map((row, i) => row.map((v, j) => v + rho * s[i]! * s[j]!));
      }
      return h.map((row) => -row.reduce((sum, v, j) => sum + v * grad[j]!, 0));
    };
    for (const m of [0, 1, 2, 4]) {
      const used = pairs.slice(pairs.length - m);
      const out = new Float32Array(n).fill(Number.NaN);
      const slope = twoLoop(grad, used, hDiag, out);
      dense(used).forEach((v, i) => expect(out[i]).toBeCloseTo(v, 5));
      expect(slope).toBeCloseTo(out.reduce((sum, v, i) => sum + v * grad[i]!, 0), 5);
    }
  });

  it('keeps a history of 3 to 50 pairs within 128 MiB', () => {
    expect(historySize(64 * 64)).toBe(50);
    expect(historySize(512 * 512)).toBe(21);
    expect(historySize(2048 * 2048)).toBe(3);
  });
});

describe('Adam', () => {
  it('descends and returns the best image it evaluated', async () => {
    const { problem, losses } = quadratic(1e12, 200);
    const result = await adam(problem, new Float32Array(N), 2);
    expect(result.evaluations).toBe(200);
    expect(result.loss.total).toBe(Math.min(...losses));
    expect(result.loss.total).toBeLessThan(losses[0]! * 1e-3);
    // The returned image is the one that had that loss.
    const again = await problem.evaluate(result.x);
    expect(again.loss.total).toBe(result.loss.total);
  });

  it('stops when told and rethrows an abort', async () => {
    const { problem } = quadratic(1, 100);
    let calls = 0;
    const stopped = await adam({ ...problem, report: () => Promise.resolve(++calls < 3) }, new Float32Array(N), 1);
    expect(stopped).toMatchObject({ evaluations: 3, stopped: true });
    const aborting = { ...problem, report: () => Promise.reject(new StylizeAbortedError()) };
    await expect(adam(aborting, new Float32Array(N), 1)).rejects.toBeInstanceOf(StylizeAbortedError);
  });
});

describe('stopping when done', () => {
  /** A loss that falls 10% per evaluation until `flatAfter`, then by 0.05% (a plateau), with no gradient to follow. */
  function plateau(budget: number, flatAfter: number): OptimizationProblem {
    let evaluations = 0;
    return {
      budget,
      convergence: { window: 10, tolerance: 0.01 },
      evaluate: () => {
        evaluations++;
        const f = evaluations <= flatAfter ? 0.9 ** evaluations : 0.9 ** flatAfter * 0.9995 ** (evaluations - flatAfter);
        return Promise.resolve({ loss: terms(1e6 * f), grad: new Float32Array(N).fill(1e-3) });
      },
      report: () => Promise.resolve(true),
    };
  }

  it.each([
    ['adam', (p: OptimizationProblem) => adam(p, new Float32Array(N), 1)],
    ['lbfgs', (p: OptimizationProblem) => lbfgs(p, new Float32Array(N))],
  ] as const)('%s stops once the best loss improved by less than the tolerance over the window', async (_, run) => {
    const stopped = await run(plateau(200, 30));
    expect(stopped.converged).toBe(true);
    // 30 improving evaluations, then 10 flat ones fill the window; a few more at most to finish a step.
    expect(stopped.evaluations).toBeGreaterThanOrEqual(40);
    expect(stopped.evaluations).toBeLessThan(50);
  });

  it('runs the whole budget while the loss still falls, and without a rule', async () => {
    const falling = await adam(plateau(60, 1000), new Float32Array(N), 1);
    expect([falling.converged, falling.evaluations]).toEqual([false, 60]);
    const { convergence: _, ...noRule } = plateau(60, 5);
    const unruled = await adam(noRule, new Float32Array(N), 1);
    expect([unruled.converged, unruled.evaluations]).toEqual([false, 60]);
  });
});
