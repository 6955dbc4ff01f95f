import { z } from 'zod';
import { VGG19_LAYER_NAMES } from '../weights/vgg19-layout.ts';
import { StylizeRequestError } from './errors.ts';
import type { StylizeSettings } from './types.ts';

/** Upper bounds that keep hostile values from turning into absurd runs or float overflow. */
export const SETTING_LIMITS = { iterations: 100_000, weight: 1e12, scales: 6, layers: 16 } as const;

// zod 4 numbers exclude NaN and ±Infinity.
const weight = z
  .number({ error: 'must be a finite number' })
  .min(0, { error: 'must be at least 0' })
  .max(SETTING_LIMITS.weight, { error: `must be at most ${SETTING_LIMITS.weight}` });

const layerList = z
  .array(
    z
      .object({ layer: z.enum(VGG19_LAYER_NAMES, { error: 'must name a VGG19 layer such as block4_conv2' }), weight })
      .strict(),
  )
  .max(SETTING_LIMITS.layers, { error: `may list at most ${SETTING_LIMITS.layers} layers` })
  .refine((list) => new Set(list.map((l) => l.layer)).size === list.length, { error: 'lists a layer twice' });

const settingsSchema = z
  .object({
    iterations: z
      .number({ error: 'must be a number' })
      .int({ error: 'must be a whole number' })
      .min(1, { error: 'must be at least 1' })
      .max(SETTING_LIMITS.iterations, { error: `must be at most ${SETTING_LIMITS.iterations}` }),
    contentWeight: weight,
    styleWeight: weight,
    tvWeight: weight,
    strength: z
      .number({ error: 'must be a number' })
      .min(0, { error: 'must be between 0 and 100' })
      .max(100, { error: 'must be between 0 and 100' }),
    contentLayers: layerList,
    styleLayers: layerList.refine((list) => list.length > 0, { error: 'must list at least one layer' }),
    pooling: z.enum(['avg', 'max'], { error: 'must be avg or max' }),
    lossNormalization: z.enum(['mse', 'paper', 'balanced'], { error: 'must be mse, paper or balanced' }),
    optimizer: z.enum(['lbfgs', 'adam'], { error: 'must be lbfgs or adam' }),
    learningRate: z
      .number({ error: 'must be a finite number' })
      .gt(0, { error: 'must be above 0' })
      .max(1000, { error: 'must be at most 1000' }),
    init: z.enum(['content', 'noise', 'random'], { error: 'must be content, noise or random' }),
    noiseRatio: z
      .number({ error: 'must be a number' })
      .min(0, { error: 'must be between 0 and 1' })
      .max(1, { error: 'must be between 0 and 1' }),
    seed: z
      .number({ error: 'must be a number' })
      .int({ error: 'must be a whole number' })
      .min(0, { error: 'must be at least 0' })
      .max(2 ** 32 - 1, { error: `must be at most ${2 ** 32 - 1}` })
      .optional(),
    colors: z.enum(['none', 'luminance', 'match'], { error: 'must be none, luminance or match' }),
    scales: z
      .number({ error: 'must be a number' })
      .int({ error: 'must be a whole number' })
      .min(1, { error: 'must be at least 1' })
      .max(SETTING_LIMITS.scales, { error: `must be at most ${SETTING_LIMITS.scales}` }),
    stopTolerance: z
      .number({ error: 'must be a number' })
      .min(0, { error: 'must be between 0 and 1' })
      .max(1, { error: 'must be between 0 and 1' }),
  })
  .strict();

/** Validates a complete settings object; throws StylizeRequestError naming the first bad field. */
export function parseSettings(candidate: unknown): StylizeSettings {
  const parsed = settingsSchema.safeParse(candidate);
  if (parsed.success) return { ...parsed.data, seed: parsed.data.seed };
  const issue = parsed.error.issues[0];
  const where = fieldName(issue?.path ?? []);
  if (issue?.code === 'unrecognized_keys') {
    const unknown = issue.keys.join(', ');
    throw new StylizeRequestError(where ? `${where} has no field ${unknown}.` : `There is no setting ${unknown}.`);
  }
  throw new StylizeRequestError(`The setting ${where || 'object'} ${issue?.message ?? 'is invalid'}.`);
}

function fieldName(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('');
}
