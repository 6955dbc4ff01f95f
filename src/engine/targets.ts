import * as tf from '@tensorflow/tfjs';
import { collectFeatures } from './feature-pass.ts';
import { gram } from './gram.ts';
import type { ContentTerm, Objective, StyleTerm } from './objective.ts';
import type { StylizeSettings } from './types.ts';
import type { VggNetwork } from './vgg-network.ts';

/**
 * Luminance-only transfer compares grey images whose brightness statistics were matched: their Gram matrices
 * start about 40x closer than colour ones (initial style loss 1.1e5 against 4.3e6 on tubingen + starry_night),
 * so the usual weights leave the texture faint. The style term is scaled up to keep the balance of a colour run.
 */
export const LUMINANCE_STYLE_BOOST = 10;

export interface WeightedImage {
  /** [1, H, W, 3], caffe-preprocessed. */
  readonly image: tf.Tensor4D;
  readonly weight: number;
}

/**
 * The loss targets for one scale: content features of the content image and, per style layer, the Gram
 * matrices of the style images blended by their weights (which are normalized to sum to 1). Terms whose
 * weight is zero are left out, so their layers cost nothing. Dispose with disposeObjective.
 */
export function buildObjective(
  net: VggNetwork,
  settings: StylizeSettings,
  content: tf.Tensor4D,
  styles: readonly WeightedImage[],
): Objective {
  const contentLayers = settings.contentLayers
    .map(({ layer, weight }) => ({ index: net.layer(layer).index, weight: weight * settings.contentWeight }))
    .filter((term) => term.weight > 0);
  const styleWeight = settings.styleWeight * (settings.colors === 'luminance' ? LUMINANCE_STYLE_BOOST : 1);
  const styleLayers = settings.styleLayers
    .map(({ layer, weight }) => ({ index: net.layer(layer).index, weight: weight * styleWeight }))
    .filter((term) => term.weight > 0);

  const contentFeatures =
    contentLayers.length > 0
      ? collectFeatures(net, content, new Set(contentLayers.map((t) => t.index)), settings.pooling, (f) => f)
      : new Map<number, tf.Tensor4D>();
  const contentTerms: ContentTerm[] = contentLayers.map((t) => ({ ...t, target: contentFeatures.get(t.index)! }));

  const styleTerms: StyleTerm[] = [];
  if (styleLayers.length > 0) {
    const totalWeight = styles.reduce((sum, s) => sum + s.weight, 0);
    const blended = new Map<number, tf.Tensor2D>();
    for (const style of styles) {
      if (style.weight <= 0) continue;
      const share = style.weight / totalWeight;
      const grams = collectFeatures(net, style.image, new Set(styleLayers.map((t) => t.index)), settings.pooling, (f) =>
        tf.tidy(() => gram(f).mul<tf.Tensor2D>(share)),
      );
      for (const [index, g] of grams) {
        const previous = blended.get(index);
        if (previous) {
          blended.set(index, previous.add(g));
          previous.dispose();
          g.dispose();
        } else {
          blended.set(index, g);
        }
      }
    }
    for (const t of styleLayers) styleTerms.push({ ...t, target: blended.get(t.index)! });
  }

  return {
    content: contentTerms,
    style: styleTerms,
    tvWeight: settings.tvWeight,
    pooling: settings.pooling,
    normalization: settings.lossNormalization,
  };
}

export function disposeObjective(objective: Objective): void {
  const targets = new Set<tf.Tensor>([...objective.content, ...objective.style].map((t) => t.target));
  for (const t of targets) t.dispose();
}
