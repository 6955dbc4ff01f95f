import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComputeBackend } from '../../src/engine/compute.ts';
import {
  createEngine,
  EngineOutOfMemoryError,
  StylizeAbortedError,
  StylizeRequestError,
  type Engine,
  type Progress,
  type StylizeRequest,
} from '../../src/engine/index.ts';
import { PRESETS, resolveSettings, strengthFactor } from '../../src/engine/presets.ts';
import { lossSpec, runStylize } from '../../src/engine/run.ts';
import { networkLayers } from '../../src/engine/validate.ts';
import type { RgbImage } from '../../src/images/rgb-image.ts';
import { judgeScores } from '../helpers/judge-scores.ts';
import { makeTinyVggWeights } from '../helpers/tiny-vgg.ts';
import { backendsUnderTest, createBackend } from './backends-under-test.ts';
import { meanAbsDiff, photo, stripes } from './fixtures.ts';

const content = photo(40, 32, 1);
const style = stripes(36, 36);
const request = (settings: StylizeRequest['settings'] = {}): StylizeRequest => ({
  content,
  styles: [{ image: style, weight: 1 }],
  settings: { iterations: 8, ...settings },
});

describe.each(backendsUnderTest)('stylize on a tiny VGG19 ($name)', (backendUnderTest) => {
  let engine: Engine;
  let baseline: number | undefined;
  /** Backend allocations alive now (undefined where the backend cannot tell). */
  const live = async () => backendUnderTest.liveAllocations?.();

  beforeAll(async () => {
    engine = await createEngine(makeTinyVggWeights(), { backend: backendUnderTest.choice });
    baseline = await live();
  });
  afterAll(() => engine?.dispose());

  it.each(['lbfgs', 'adam'] as const)('%s completes: output size, progress on every iteration, lower loss', async (optimizer) => {
    const seen: Progress[] = [];
    const result = await engine.stylize(request({ optimizer, learningRate: 4 }), { onProgress: (p) => seen.push(p) });
    expect(result.image).toMatchObject({ width: 40, height: 32 });
    expect(result.image.data).toHaveLength(40 * 32 * 3);
    expect(result).toMatchObject({ iterations: 8, stopReason: 'completed', backend: engine.backend.name });
    expect(seen.map((p) => p.iteration)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(seen.every((p) => p.total === 8)).toBe(true);
    expect(seen[0]!.loss).toEqual(result.initialLoss);
    expect(result.loss.total).toBeLessThan(result.initialLoss.total * 0.9);
    expect(result.loss.total).toBeCloseTo(result.loss.content + result.loss.style + result.loss.tv, -1);
    expect(seen.at(-1)!.etaMs).toBe(0);
    expect(seen.at(-1)!.elapsedMs).toBeGreaterThanOrEqual(seen[0]!.elapsedMs);
    expect(result.settings.seed).toEqual(expect.any(Number));
    expect(meanAbsDiff(result.image, content)).toBeGreaterThan(1);
    expect(await live()).toBe(baseline);
  });

  it('renders a preview only when asked, and only during the callback', async () => {
    let preview: RgbImage | undefined;
    let late: (() => RgbImage) | undefined;
    const result = await engine.stylize(request({ iterations: 4, seed: 3 }), {
      onProgress: (p) => {
        if (p.iteration === 2) preview = p.preview();
        if (p.iteration === 3) late = () => p.preview();
      },
    });
    expect(preview).toMatchObject({ width: 40, height: 32 });
    expect(preview!.data).toHaveLength(40 * 32 * 3);
    expect(meanAbsDiff(preview!, content)).toBeGreaterThan(0.1);
    expect(meanAbsDiff(preview!, result.image)).toBeGreaterThan(0.1);
    expect(() => late!()).toThrow(/synchronously inside onProgress/);
    expect(await live()).toBe(baseline);
  });

  it.skipIf(!backendUnderTest.fast)('goes coarse to fine: scales, their sizes, a sensible ETA, and the output at full size', async () => {
    const big = photo(1024, 640, 2);
    const seen: Progress[] = [];
    const result = await engine.stylize(
      { content: big, styles: [{ image: stripes(300, 300), weight: 1 }], settings: { iterations: 12, scales: 3 } },
      { onProgress: (p) => seen.push(p) },
    );
    expect(result.image).toMatchObject({ width: 1024, height: 640 });
    // Three scales at most: from 256 px, each with its share of the iterations (4, 4, 4).
    const scales = seen.map((p) => `${p.scale!.index}/${p.scale!.count} ${p.scale!.width}x${p.scale!.height}`);
    expect(new Set(scales)).toEqual(new Set(['0/3 256x160', '1/3 512x320', '2/3 1024x640']));
    expect(seen.filter((p) => p.scale!.index === 0)).toHaveLength(4);
    const eta = seen.map((p) => p.etaMs);
    expect(eta[0]).toBeUndefined();
    expect(eta.slice(3).every((ms) => ms !== undefined && ms >= 0)).toBe(true);
    expect(await live()).toBe(baseline);
  });

  it.each(['lbfgs', 'adam'] as const)('%s: an abort stops the run within one iteration and frees everything', async (optimizer) => {
    const controller = new AbortController();
    const seen: number[] = [];
    const run = engine.stylize(request({ optimizer, iterations: 50 }), {
      signal: controller.signal,
      onProgress: (p) => {
        seen.push(p.iteration);
        if (p.iteration === 3) controller.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(StylizeAbortedError);
    expect(seen).toEqual([1, 2, 3]);
    expect(await live()).toBe(baseline);
  });

  it('notices an abort fired from a timer between iterations (the run yields to the event loop)', async () => {
    const controller = new AbortController();
    let atAbort = 0;
    let last = 0;
    const run = engine.stylize(request({ iterations: 100_000 }), {
      signal: controller.signal,
      onProgress: (p) => {
        last = p.iteration;
      },
    });
    setTimeout(() => {
      atAbort = last;
      controller.abort();
    }, 150);
    await expect(run).rejects.toBeInstanceOf(StylizeAbortedError);
    expect(atAbort).toBeGreaterThan(0);
    expect(last - atAbort).toBeLessThanOrEqual(1);
    expect(await live()).toBe(baseline);
  });

  it('rejects at once when already aborted', async () => {
    let calls = 0;
    const run = engine.stylize(request(), { signal: AbortSignal.abort(), onProgress: () => calls++ });
    await expect(run).rejects.toBeInstanceOf(StylizeAbortedError);
    expect(calls).toBe(0);
  });

  it('a failure inside the run (a throwing callback) rejects with it and frees everything', async () => {
    const run = engine.stylize(request({ iterations: 20 }), {
      onProgress: (p) => {
        if (p.iteration === 4) throw new Error('listener broke');
      },
    });
    await expect(run).rejects.toThrow('listener broke');
    expect(await live()).toBe(baseline);
  });

  it('the time limit ends the run gracefully with the best image so far, at full size', async () => {
    const big = photo(1024, 640, 3);
    const result = await engine.stylize(
      { content: big, styles: [{ image: style, weight: 1 }], settings: { iterations: 1000 } },
      { timeLimitMs: 1 },
    );
    expect(result.stopReason).toBe('time-limit');
    expect(result.iterations).toBe(1);
    // Stopped at the coarse scale: upscaled to the output size.
    expect(result.image).toMatchObject({ width: 1024, height: 640 });
    expect(await live()).toBe(baseline);
  });

  it('the same seed gives the same image; another seed another', async () => {
    const noisy = { init: 'noise', noiseRatio: 0.7, iterations: 5 } as const;
    const a = await engine.stylize(request({ ...noisy, seed: 42 }));
    const b = await engine.stylize(request({ ...noisy, seed: 42 }));
    const c = await engine.stylize(request({ ...noisy, seed: 43 }));
    expect(a.settings.seed).toBe(42);
    expect(Buffer.from(a.image.data).equals(Buffer.from(b.image.data))).toBe(true);
    expect(meanAbsDiff(a.image, c.image)).toBeGreaterThan(1);
  });

  it('blends styles by weight: a zero-weight style changes nothing, a weighted one does', async () => {
    const other = photo(30, 30, 9);
    const alone = await engine.stylize({ ...request({ seed: 1 }), styles: [{ image: style, weight: 2 }] });
    const withZero = await engine.stylize({
      ...request({ seed: 1 }),
      styles: [
        { image: style, weight: 2 },
        { image: other, weight: 0 },
      ],
    });
    const blended = await engine.stylize({
      ...request({ seed: 1 }),
      styles: [
        { image: style, weight: 1 },
        { image: other, weight: 1 },
      ],
    });
    expect(Buffer.from(withZero.image.data).equals(Buffer.from(alone.image.data))).toBe(true);
    expect(meanAbsDiff(blended.image, alone.image)).toBeGreaterThan(0.5);
  });

  it('luminance-only transfer keeps the content colours (chroma)', async () => {
    const result = await engine.stylize(request({ colors: 'luminance', iterations: 10 }));
    // Compare the I and Q chroma channels of YIQ; clipping to 0-255 and rounding allow a small difference.
    const chroma = (d: Uint8Array, i: number) => [
      0.596 * d[i]! - 0.274 * d[i + 1]! - 0.322 * d[i + 2]!,
      0.211 * d[i]! - 0.523 * d[i + 1]! + 0.312 * d[i + 2]!,
    ];
    let diff = 0;
    let luma = 0;
    for (let i = 0; i < content.data.length; i += 3) {
      const [ci, cq] = chroma(content.data, i);
      const [oi, oq] = chroma(result.image.data, i);
      diff += Math.abs(ci! - oi!) + Math.abs(cq! - oq!);
      luma += Math.abs(
        0.299 * (result.image.data[i]! - content.data[i]!) +
          0.587 * (result.image.data[i + 1]! - content.data[i + 1]!) +
          0.114 * (result.image.data[i + 2]! - content.data[i + 2]!),
      );
    }
    const pixels = content.data.length / 3;
    expect(diff / pixels).toBeLessThan(6);
    expect(luma / pixels).toBeGreaterThan(2);
  });

  it('colour matching and the seed and keras presets run', async () => {
    const matched = await engine.stylize(request({ colors: 'match', iterations: 3 }));
    const seed = await engine.stylize({ ...request({ iterations: 3 }), preset: 'seed' });
    const keras = await engine.stylize({ ...request({ iterations: 3 }), preset: 'keras' });
    expect(seed.settings).toMatchObject({ optimizer: 'adam', init: 'noise', lossNormalization: 'paper' });
    expect(keras.settings).toMatchObject({ pooling: 'max', contentLayers: [{ layer: 'block5_conv2', weight: 1 }] });
    for (const r of [matched, seed, keras]) expect(r.image).toMatchObject({ width: 40, height: 32 });
    expect(await live()).toBe(baseline);
  });

  it.each([
    [{ ...request(), styles: [] }, 'Add at least one style image.'],
    [{ ...request(), styles: [{ image: style, weight: -1 }] }, 'The style image needs a blend weight that is a finite number of at least 0.'],
    [{ ...request(), styles: [{ image: style, weight: 0 }] }, 'At least one style image needs a blend weight above 0.'],
    [{ ...request(), content: photo(12, 40) }, 'The photo is too small: it needs at least 16×16 pixels.'],
    [{ ...request(), content: { width: 4, height: 4, data: new Uint8Array(5) } }, 'The photo is damaged: its pixel data does not match its size.'],
    [request({ styleWeight: Number.NaN }), 'The setting styleWeight must be a finite number.'],
    [request({ tvWeight: Number.POSITIVE_INFINITY }), 'The setting tvWeight must be a finite number.'],
    [request({ contentWeight: -1 }), 'The setting contentWeight must be at least 0.'],
    [request({ iterations: 2.5 }), 'The setting iterations must be a whole number.'],
    [request({ styleLayers: [] }), 'The setting styleLayers must list at least one layer.'],
    [{ ...request(), preset: 'fancy' as 'seed' }, 'There is no preset "fancy"; choose default, seed, keras.'],
  ])('refuses an invalid request with a clear message (%#)', async (bad, message) => {
    const run = engine.stylize(bad);
    await expect(run).rejects.toBeInstanceOf(StylizeRequestError);
    await expect(run).rejects.toThrow(message);
    expect(await live()).toBe(baseline);
  });

  it('refuses layers the loaded weights do not have', async () => {
    const short = await createEngine(makeTinyVggWeights({ upTo: 'block4_conv2' }), { backend: backendUnderTest.choice });
    try {
      await expect(short.stylize(request())).rejects.toThrow(
        'The loaded VGG19 weights stop at block4_conv2, so layer block5_conv1 cannot be used.',
      );
      const ok = await short.stylize(
        request({ styleLayers: [{ layer: 'block1_conv1', weight: 1 }, { layer: 'block3_conv1', weight: 1 }] }),
      );
      expect(ok.image.width).toBe(40);
    } finally {
      await short.dispose();
    }
  });

  it('refuses up front, as out of memory, a run above the memory limit', async () => {
    const weights = makeTinyVggWeights();
    const compute = await createBackend(backendUnderTest, weights);
    const limited: ComputeBackend = {
      info: compute.info,
      layers: compute.layers,
      memoryLimitBytes: 1_000_000,
      createObjective: (loss, targets) => compute.createObjective(loss, targets),
      dispose: () => compute.dispose(),
    };
    try {
      const big = { ...request(), content: photo(256, 200) };
      const run = runStylize({ compute: limited, layers: networkLayers(compute.layers, weights) }, big);
      await expect(run).rejects.toBeInstanceOf(EngineOutOfMemoryError);
      const error = (await run.catch((e: unknown) => e)) as EngineOutOfMemoryError;
      expect(String(error.cause)).toMatch(/estimated peak \d+ MiB > limit 1 MiB/);
    } finally {
      await compute.dispose();
    }
    expect(await live()).toBe(baseline);
  });

  it('finishes runs in progress when disposed, then refuses new ones', async () => {
    const local = await createEngine(makeTinyVggWeights(), { backend: backendUnderTest.choice });
    const running = local.stylize(request({ iterations: 5 }));
    const disposed = local.dispose();
    await expect(running).resolves.toMatchObject({ iterations: 5 });
    await disposed;
    await expect(local.stylize(request())).rejects.toThrow('the engine has been disposed');
    expect(await live()).toBe(baseline);
  });
});

describe('strength', () => {
  const fast = backendsUnderTest.find((b) => b.fast)!;
  let compute: ComputeBackend;
  let engine: Engine;

  beforeAll(async () => {
    const weights = makeTinyVggWeights();
    compute = await createBackend(fast, weights);
    engine = await createEngine(weights, { backend: fast.choice });
  });
  afterAll(async () => {
    await engine?.dispose();
    await compute?.dispose();
  });

  it('0 gives back the photo; higher strengths move the Gram matrices further and the content less kept, 100 the most', async () => {
    const run = async (strength: number) =>
      (await engine.stylize(request({ strength, iterations: 30, seed: 1, stopTolerance: 0 }))).image;
    const photoBack = await run(0);
    expect(meanAbsDiff(photoBack, content)).toBeLessThan(1);
    expect((await judgeScores(compute, content, style, photoBack)).styleRel).toBeCloseTo(1, 3);
    // The tiny network's Gram matrices cannot get much closer to the stripes than about 0.18 at this size, so the
    // steps are small near the top; they must still go one way.
    const scores = [];
    for (const strength of [5, 20, 100]) scores.push(await judgeScores(compute, content, style, await run(strength)));
    for (let i = 1; i < scores.length; i++) {
      expect(scores[i]!.styleRel).toBeLessThan(scores[i - 1]!.styleRel);
      expect(scores[i]!.contentRel).toBeGreaterThan(scores[i - 1]!.contentRel);
    }
  });

  it('stops once the image has settled, says so, and does not spend the rest; a tolerance of 0 runs them all', async () => {
    // Strength 0 on the photo: the start is already the best image, so the loss is flat from the first iteration
    // (the optimizers' own tests check the rule on falling losses).
    const settled = await engine.stylize(request({ iterations: 400, seed: 1, strength: 0, optimizer: 'adam' }));
    expect(settled.stopReason).toBe('converged');
    expect(settled.iterations).toBeLessThan(30);
    const full = await engine.stylize(request({ iterations: 60, seed: 1, stopTolerance: 0 }));
    expect([full.stopReason, full.iterations]).toEqual(['completed', 60]);
  });

  it('scales the style weight by one factor: 1 at 50, 0 at 0, rising all the way to 100', () => {
    expect(strengthFactor(50)).toBe(1);
    expect(strengthFactor(0)).toBe(0);
    const factors = Array.from({ length: 101 }, (_, s) => strengthFactor(s));
    for (let s = 1; s <= 100; s++) expect(factors[s]).toBeGreaterThan(factors[s - 1]!);
    expect(lossSpec(resolveSettings('default', { strength: 80 })).style[0]!.weight).toBeCloseTo(
      PRESETS.default.styleWeight * strengthFactor(80),
    );
  });
});
