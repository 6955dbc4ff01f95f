import { z } from 'zod';

/**
 * The weights manifest of a TF.js layers model (model.json). Only what the loader needs is validated; the model
 * topology is ignored because the engine builds VGG19 itself.
 */
const quantization = z.object({
  dtype: z.enum(['uint8', 'uint16', 'float16']),
  scale: z.number().finite().optional(),
  min: z.number().finite().optional(),
});

const weightEntry = z.object({
  name: z.string(),
  shape: z.array(z.number().int().nonnegative()).max(8),
  dtype: z.enum(['float32', 'int32', 'bool', 'string', 'complex64']),
  quantization: quantization.optional(),
});

const weightsGroup = z.object({
  paths: z.array(z.string()).min(1),
  weights: z.array(weightEntry),
});

export const modelJsonSchema = z.object({
  format: z.string().optional(),
  weightsManifest: z.array(weightsGroup),
});

export type ModelJson = z.infer<typeof modelJsonSchema>;
export type ManifestWeight = z.infer<typeof weightEntry>;

/** Bytes one stored value takes, as the converter wrote it. */
export function bytesPerValue(weight: ManifestWeight): number {
  switch (weight.quantization?.dtype) {
    case 'uint8':
      return 1;
    case 'uint16':
    case 'float16':
      return 2;
    case undefined:
      return weight.dtype === 'bool' ? 1 : weight.dtype === 'complex64' ? 8 : 4;
  }
}

export function valueCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Shard paths are file names relative to model.json. Anything that could escape that folder or point
 * elsewhere (absolute paths, "..", URLs) is refused.
 */
export function isSafeShardPath(shardPath: string): boolean {
  if (shardPath.length === 0 || shardPath.length > 255) return false;
  if (/^[a-z][a-z0-9+.-]*:/i.test(shardPath) || shardPath.startsWith('/') || shardPath.includes('\\')) return false;
  return shardPath.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}
