import type { ComputeBackend } from '../../src/engine/compute.ts';
import { rgbToFloat, toCaffe } from '../../src/engine/pixels.ts';
import { GATYS_STYLE_LAYERS } from '../../src/engine/presets.ts';
import type { RgbImage } from '../../src/images/rgb-image.ts';

/**
 * ../shared/tools/judge.py's scores, computed on a compute backend: with `balanced` normalization and every weight
 * 1, the style term is Σ_l|G_l(out) − A_l|² / Σ_l|G_l(photo) − A_l|² over the five Gatys layers (style_rel) and the
 * content term |F(out) − F(photo)|² / |F(photo)|² at block4_conv2 (content_rel). The style is taken at the size
 * given, where judge.py resizes it to the output's long side; on the tiny test network the numbers are only
 * comparable with each other.
 */
export async function judgeScores(
  compute: ComputeBackend,
  photo: RgbImage,
  style: RgbImage,
  result: RgbImage,
): Promise<{ styleRel: number; contentRel: number }> {
  const objective = await compute.createObjective(
    {
      content: [{ layer: 'block4_conv2', weight: 1 }],
      style: GATYS_STYLE_LAYERS.map((layer) => ({ layer, weight: 1 })),
      tvWeight: 0,
      pooling: 'avg',
      normalization: 'balanced',
    },
    { content: toCaffe(rgbToFloat(photo)), styles: [{ image: toCaffe(rgbToFloat(style)), weight: 1 }] },
  );
  try {
    const { loss } = await objective.evaluate(toCaffe(rgbToFloat(result)).data);
    return { styleRel: loss.style, contentRel: loss.content };
  } finally {
    objective.dispose();
  }
}
