import { describe, expect, it } from 'vitest';
import type { Recipe } from '../../src/bot/job-images.ts';
import { AGAIN_NOISE, nextStrength, remixRecipe, STRENGTH_STEP } from '../../src/bot/remix.ts';
import { limitsFor, nextSize } from '../../src/bot/stylize-options.ts';
import { loadConfig } from '../../src/config/index.ts';
import { PRESETS } from '../../src/engine/presets.ts';

const GUILD = '123456789012345678';
const config = loadConfig({ MAX_SIZE: '1024', MAX_ITERATIONS: '500', GUILD_LIMITS: `{"${GUILD}":{"maxSize":384,"maxIterations":50}}` });
const limits = limitsFor(config, undefined);

const recipe: Recipe = {
  guildId: undefined,
  content: { kind: 'kept', key: 'a'.repeat(64), label: 'content' },
  styles: [{ source: { kind: 'named', style: { kind: 'saved', name: 'Ink' } }, weight: 1, title: 'Ink' }],
  preset: 'Ink',
  size: 256,
  iterations: 200,
  styleScale: 1,
  settings: { seed: 7, contentWeight: 3 },
};

describe('the strength step (➕ Stronger / ➖ Softer)', () => {
  it('moves the strength one step from the default, within 1..100, and keeps raw weights', () => {
    const base = PRESETS.default.strength;
    expect(nextStrength({}, 'stronger')).toEqual({ strength: base + STRENGTH_STEP });
    expect(nextStrength({ strength: 70, styleWeight: 200, seed: 1 }, 'softer')).toEqual({ strength: 60, styleWeight: 200, seed: 1 });
    expect(nextStrength({ strength: 95 }, 'stronger')).toEqual({ strength: 100 });
    expect(nextStrength({ strength: 100 }, 'stronger')).toBeUndefined();
    // Strength 0 is the photo: the softest step stops above it.
    expect(nextStrength({ strength: 10 }, 'softer')).toBeUndefined();
    expect(nextStrength({ strength: 15 }, 'softer')).toEqual({ strength: 5 });
  });
});

describe('what each button changes', () => {
  it('🎲 Again: a new seed, and a little noise at the start so that the seed matters', () => {
    const again = remixRecipe(recipe, 'again', limits) as Recipe;
    expect(again.settings).toMatchObject({ contentWeight: 3, init: 'noise', noiseRatio: AGAIN_NOISE });
    expect(again.settings.seed).not.toBe(7);
    const noisy = remixRecipe({ ...recipe, settings: { seed: 1, init: 'noise', noiseRatio: 0.8 } }, 'again', limits) as Recipe;
    expect(noisy.settings).toMatchObject({ init: 'noise', noiseRatio: 0.8 });
  });

  it('➕ ➖ step the strength; at the end of the range the press is refused', () => {
    const base = PRESETS.default.strength;
    expect((remixRecipe(recipe, 'stronger', limits) as Recipe).settings).toEqual({ seed: 7, contentWeight: 3, strength: base + STRENGTH_STEP });
    expect((remixRecipe(recipe, 'softer', limits) as Recipe).settings).toEqual({ seed: 7, contentWeight: 3, strength: base - STRENGTH_STEP });
    const strongest = { ...recipe, settings: { seed: 7, strength: 100 } };
    expect(remixRecipe(strongest, 'stronger', limits)).toBe('This result already has the strongest style I can make.');
  });

  it('🎨 toggles keeping the photo’s colours', () => {
    const kept = remixRecipe(recipe, 'colors', limits) as Recipe;
    expect(kept.settings.colors).toBe('luminance');
    expect((remixRecipe(kept, 'colors', limits) as Recipe).settings).toEqual(recipe.settings);
  });

  it('⬆️ takes the next offered size up to the presser’s server caps, which also bound the rest', () => {
    expect((remixRecipe(recipe, 'bigger', limits) as Recipe).size).toBe(384);
    expect(nextSize(384, 1024)).toBe(512);
    expect(nextSize(300, 1024)).toBe(384);
    expect(nextSize(1024, 1024)).toBeUndefined();
    const small = limitsFor(config, GUILD);
    expect(remixRecipe({ ...recipe, size: 384 }, 'bigger', small)).toBe('This result is already the largest size allowed here (384 px).');
    // A result made on a bigger server, remixed where the caps are lower: size and iterations come down.
    expect(remixRecipe({ ...recipe, size: 1024 }, 'again', small)).toMatchObject({ size: 384, iterations: 50 });
  });
});
