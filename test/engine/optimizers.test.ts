import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { adam } from '../../src/engine/adam.ts';
import { selectBackend } from '../../src/engine/backend.ts';
import { lbfgs } from '../../src/engine/lbfgs.ts';
import type { Evaluation } from '../../src/engine/objective.ts';
import type { OptimizationProblem } from '../../src/engine/probe.ts';
import { StylizeAbortedError, type LossTerms } from '../../src/engine/types.ts';

/**
 * The optimizers on analytic problems with real tensors: an ill-conditioned quadratic whose loss is scaled to
 * Gatys-like magnitudes (1e12), and the Rosenbrock function, whose curved valley needs a good line search.
 */

const SHAPE: [number, number, number, number] = [1, 4, 4, 3];

/** f(x) = scale · Σ cᵢ (xᵢ − bᵢ)², with curvatures cᵢ from 1 to 100. */
function quadratic(scale: number): {
  problem: (budget: number) => OptimizationProblem & { losses: number[] };
  b: tf.Tensor4D;
  c: tf.Tensor4D;
} {
  const n = 48;
  const b = tf.tensor4d(Array.from({ length: n }, (_, i) => 50 * Math.sin(i)), SHAPE);
  const c = tf.tensor4d(Array.from({ length: n }, (_, i) => 1 + (99 * i) / (n - 1)), SHAPE);
  const problem = (budget: number) => {
    const losses: number[] = [];
    return {
      budget,
      losses,
      evaluate: (x: tf.Tensor4D): Evaluation =>
        tf.tidy(() => {
          const d = tf.sub(x, b);
          const f = tf.sum(tf.mul(c, tf.square(d))).mul(scale);
          return { terms: tf.stack([f, f, tf.scalar(0), tf.scalar(0)]) as tf.Tensor1D, grad: tf.mul(c, d).mul<tf.Tensor4D>(2 * scale) };
        }),
      report: (_x: tf.Tensor4D, loss: LossTerms) => {
        losses.push(loss.total);
        return Promise.resolve(true);
      },
    };
  };
  return { problem, b, c };
}

/** Σ over pairs of 100 (v − u²)² + (1 − u)², minimum 0 at all ones. */
function rosenbrock(budget: number): OptimizationProblem {
  return {
    budget,
    evaluate: (x) =>
      tf.tidy(() => {
        const flat = x.reshape([-1, 2]);
        const u = flat.slice([0, 0], [-1, 1]);
        const v = flat.slice([0, 1], [-1, 1]);
        const r = tf.sub(v, tf.square(u));
        const f = tf.sum(tf.add(tf.mul(100, tf.square(r)), tf.square(tf.sub(1, u))));
        const du = tf.sub(tf.mul(-400, tf.mul(u, r)), tf.mul(2, tf.sub(1, u)));
        const dv = tf.mul(200, r);
        return { terms: tf.stack([f, f, tf.scalar(0), tf.scalar(0)]) as tf.Tensor1D, grad: tf.concat([du, dv], 1).reshape<tf.Tensor4D>(x.shape) };
      }),
    report: () => Promise.resolve(true),
  };
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

describe('L-BFGS on tensors', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it.each([1, 1e12])('solves an ill-conditioned quadratic whatever the loss scale (×%s)', async (scale) => {
    const before = tf.memory().numTensors;
    const { problem, b, c } = quadratic(scale);
    const start = tf.zeros<tf.Rank.R4>(SHAPE);
    const p = problem(60);
    const result = await lbfgs(p, start);
    expect(maxAbsDiff(result.x, b)).toBeLessThan(1e-2);
    expect(result.evaluations).toBeLessThanOrEqual(60);
    // Accepted points never go up: each is the best so far.
    expect(result.loss.total).toBe(Math.min(...p.losses));
    tf.dispose([result.x, start, b, c]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('follows the curved Rosenbrock valley to its minimum', async () => {
    const start = tf.tensor4d(Array.from({ length: 48 }, (_, i) => (i % 2 === 0 ? -1.2 : 1)), SHAPE);
    const result = await lbfgs(rosenbrock(400), start);
    expect(result.loss.total).toBeLessThan(1e-6);
    expect(maxAbsDiff(result.x, tf.onesLike(result.x))).toBeLessThan(1e-3);
    tf.dispose([result.x, start]);
  });

  it('stops early when told, with the best point so far', async () => {
    const { problem, b, c } = quadratic(1);
    let calls = 0;
    const p = { ...problem(100), report: () => Promise.resolve(++calls < 5) };
    const start = tf.zeros<tf.Rank.R4>(SHAPE);
    const result = await lbfgs(p, start);
    expect(result).toMatchObject({ evaluations: 5, stopped: true });
    tf.dispose([result.x, start, b, c]);
  });

  it('frees its tensors when the run aborts mid line search', async () => {
    const before = tf.memory().numTensors;
    const { problem, b, c } = quadratic(1e6);
    let calls = 0;
    const p = {
      ...problem(100),
      report: () => (++calls === 7 ? Promise.reject(new StylizeAbortedError()) : Promise.resolve(true)),
    };
    const start = tf.zeros<tf.Rank.R4>(SHAPE);
    await expect(lbfgs(p, start)).rejects.toBeInstanceOf(StylizeAbortedError);
    tf.dispose([start, b, c]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('Adam', () => {
  it('descends and returns the best image it evaluated', async () => {
    const before = tf.memory().numTensors;
    const { problem, b, c } = quadratic(1e12);
    const p = problem(200);
    const start = tf.zeros<tf.Rank.R4>(SHAPE);
    const result = await adam(p, start, 2);
    expect(result.evaluations).toBe(200);
    expect(result.loss.total).toBe(Math.min(...p.losses));
    expect(result.loss.total).toBeLessThan(p.losses[0]! * 1e-3);
    tf.dispose([result.x, start, b, c]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
