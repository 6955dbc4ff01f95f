import { describe, expect, it } from 'vitest';
import type { Recipe } from '../../src/bot/job-images.ts';
import { AGAIN_NOISE, nextStrength, remixRecipe } from '../../src/bot/remix.ts';
import { limitsFor, nextSize } from '../../src/bot/stylize-options.ts';
import { loadConfig } from '../../src/config/index.ts';

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
  it('doubles or halves the style weight from the default, within the option’s range', () => {
    expect(nextStrength({}, 'stronger')).toEqual({ styleWeight: 200 });
    expect(nextStrength({ styleWeight: 200, seed: 1 }, 'softer')).toEqual({ styleWeight: 100, seed: 1 });
    expect(nextStrength({ styleWeight: 6e8 }, 'stronger')).toBeUndefined();
    expect(nextStrength({ styleWeight: 1.5e-3 }, 'softer')).toBeUndefined();
    expect(nextStrength({ styleWeight: 0 }, 'stronger')).toBeUndefined();
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
    expect((remixRecipe(recipe, 'stronger', limits) as Recipe).settings).toEqual({ seed: 7, contentWeight: 3, styleWeight: 200 });
    expect((remixRecipe(recipe, 'softer', limits) as Recipe).settings).toEqual({ seed: 7, contentWeight: 3, styleWeight: 50 });
    const strongest = { ...recipe, settings: { seed: 7, styleWeight: 1e9 } };
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
