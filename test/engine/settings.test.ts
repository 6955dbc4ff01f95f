import { describe, expect, it } from 'vitest';
import { isOutOfMemoryError, PRESETS, resolveSettings, StylizeRequestError } from '../../src/engine/index.ts';
import { EtaEstimator } from '../../src/engine/progress.ts';
import { planScales } from '../../src/engine/scales.ts';

describe('presets and settings', () => {
  it('the seed preset is the seed article’s TensorFlow script', () => {
    expect(resolveSettings('seed')).toMatchObject({
      iterations: 2000,
      optimizer: 'adam',
      learningRate: 2,
      init: 'noise',
      noiseRatio: 0.7,
      pooling: 'avg',
      lossNormalization: 'paper',
      contentWeight: 5,
      styleWeight: 100,
      tvWeight: 0,
      contentLayers: [{ layer: 'block4_conv2', weight: 1 }],
      styleLayers: [
        { layer: 'block1_conv1', weight: 0.5 },
        { layer: 'block2_conv1', weight: 1 },
        { layer: 'block3_conv1', weight: 1.5 },
        { layer: 'block4_conv1', weight: 3 },
        { layer: 'block5_conv1', weight: 4 },
      ],
      scales: 1,
    });
  });

  it('the keras preset uses block5_conv2, L-BFGS and total variation', () => {
    const keras = resolveSettings('keras');
    expect(keras.contentLayers).toEqual([{ layer: 'block5_conv2', weight: 1 }]);
    expect(keras.optimizer).toBe('lbfgs');
    expect(keras.tvWeight).toBeGreaterThan(0);
  });

  it('defaults to the default preset, and overrides replace single fields; undefined keeps the preset', () => {
    expect(resolveSettings(undefined)).toEqual(PRESETS.default);
    const s = resolveSettings('seed', { iterations: 10, tvWeight: undefined, seed: 7 });
    expect(s).toMatchObject({ iterations: 10, tvWeight: 0, seed: 7, optimizer: 'adam' });
  });

  it('never hands out a preset object that a caller could change', () => {
    const s = resolveSettings('default');
    s.styleLayers.push({ layer: 'block2_conv2', weight: 1 });
    expect(PRESETS.default.styleLayers).toHaveLength(5);
  });

  it.each([
    [{ iterations: 0 }, 'The setting iterations must be at least 1.'],
    [{ iterations: 1e9 }, 'The setting iterations must be at most 100000.'],
    [{ styleWeight: -3 }, 'The setting styleWeight must be at least 0.'],
    [{ learningRate: 0 }, 'The setting learningRate must be above 0.'],
    [{ noiseRatio: 1.5 }, 'The setting noiseRatio must be between 0 and 1.'],
    [{ pooling: 'min' }, 'The setting pooling must be avg or max.'],
    [{ seed: -1 }, 'The setting seed must be at least 0.'],
    [{ scales: 9 }, 'The setting scales must be at most 6.'],
    [{ contentLayers: [{ layer: 'block9_conv1', weight: 1 }] }, 'The setting contentLayers[0].layer must name a VGG19 layer'],
    [
      {
        styleLayers: [
          { layer: 'block1_conv1', weight: 1 },
          { layer: 'block1_conv1', weight: 2 },
        ],
      },
      'The setting styleLayers lists a layer twice.',
    ],
    [{ styleLayers: [{ layer: 'block1_conv1', weight: 1, extra: 1 }] }, 'styleLayers[0] has no field extra.'],
    [{ turbo: true }, 'There is no setting turbo.'],
  ])('rejects %j with a specific message', (overrides, message) => {
    const attempt = () => resolveSettings('default', overrides as never);
    expect(attempt).toThrow(StylizeRequestError);
    expect(attempt).toThrow(message);
  });
});

describe('coarse-to-fine plan', () => {
  it('halves per scale down to 128 px, so the schedule follows the output size, and spends most of the budget coarse', () => {
    expect(planScales(256, 192, 4, 100)).toEqual([
      { width: 128, height: 96, iterations: 40 },
      { width: 256, height: 192, iterations: 60 },
    ]);
    expect(planScales(512, 384, 4, 100)).toEqual([
      { width: 128, height: 96, iterations: 40 },
      { width: 256, height: 192, iterations: 35 },
      { width: 512, height: 384, iterations: 25 },
    ]);
    expect(planScales(1024, 768, 4, 100)).toEqual([
      { width: 128, height: 96, iterations: 40 },
      { width: 256, height: 192, iterations: 30 },
      { width: 512, height: 384, iterations: 20 },
      { width: 1024, height: 768, iterations: 10 },
    ]);
    // At most `scales` scales, the finest kept: 2048 px starts at 256.
    expect(planScales(2048, 1536, 4, 100).map((s) => s.width)).toEqual([256, 512, 1024, 2048]);
    // Below 256 px there is no coarser scale of 128 px or more.
    expect(planScales(200, 150, 4, 100)).toEqual([{ width: 200, height: 150, iterations: 100 }]);
    expect(planScales(2000, 1500, 1, 100).map((s) => s.width)).toEqual([2000]);
  });

  it('keeps at least one iteration per scale and the output size last', () => {
    const plan = planScales(2000, 1400, 4, 2);
    expect(plan).toHaveLength(2);
    expect(plan.at(-1)).toEqual({ width: 2000, height: 1400, iterations: 1 });
    expect(planScales(2000, 1400, 4, 1)).toEqual([{ width: 2000, height: 1400, iterations: 1 }]);
  });
});

describe('ETA across scales', () => {
  it('predicts an unmeasured fine scale from the coarse cost per pixel, then uses its own timing', () => {
    const eta = new EtaEstimator([
      { width: 100, height: 100, iterations: 10 },
      { width: 200, height: 200, iterations: 10 },
    ]);
    eta.record(0, 0);
    expect(eta.remainingMs(0, 1)).toBeUndefined();
    eta.record(0, 100);
    eta.record(0, 200);
    // 7 more coarse iterations at 100 ms, 10 fine ones at 4 × 100 ms.
    expect(eta.remainingMs(0, 3)).toBe(700 + 4000);
    eta.record(1, 1000); // the first iteration of a scale (set-up) is not timed
    eta.record(1, 1300);
    eta.record(1, 1600);
    expect(eta.remainingMs(1, 3)).toBe(7 * 300);
  });

  it('moves iterations an optimizer left unused to the next scale', () => {
    const eta = new EtaEstimator([
      { width: 10, height: 10, iterations: 5 },
      { width: 10, height: 10, iterations: 5 },
    ]);
    for (let t = 0; t <= 30; t += 10) eta.record(0, t);
    eta.settle(0, 2, 'carry');
    expect(eta.remainingMs(1, 0)).toBe(7 * 10);
  });

  it('drops the iterations a converged scale did not need', () => {
    const eta = new EtaEstimator([
      { width: 10, height: 10, iterations: 5 },
      { width: 10, height: 10, iterations: 5 },
    ]);
    for (let t = 0; t <= 30; t += 10) eta.record(0, t);
    eta.settle(0, 2, 'drop');
    expect(eta.remainingMs(1, 0)).toBe(5 * 10);
  });
});

describe('isOutOfMemoryError', () => {
  it.each([
    new Error('Aborted(OOM). Build with -sASSERTIONS for more info.'),
    new RangeError('Array buffer allocation failed'),
    new Error('OOM when allocating tensor with shape[1,64,2048,2048]'),
    new Error('CUDA_ERROR_OUT_OF_MEMORY: out of memory'),
    new Error('Resource exhausted: failed to allocate memory'),
    Object.assign(new Error('Aborted(). Build with -sASSERTIONS for more info.'), { name: 'RuntimeError' }),
  ])('recognizes %s', (error) => expect(isOutOfMemoryError(error)).toBe(true));

  it.each([new Error('Tensor is disposed'), new TypeError('x is undefined'), 'boom', undefined])(
    'does not mistake %s for it',
    (error) => expect(isOutOfMemoryError(error)).toBe(false),
  );
});
