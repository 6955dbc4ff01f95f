import { historySize } from './lbfgs.ts';
import type { ScaleStep } from './scales.ts';
import type { StylizeSettings } from './types.ts';
import type { VggNetwork } from './vgg-network.ts';

/**
 * Peak memory of a run, estimated from the layer sizes: the forward activations the backward pass needs, its
 * largest temporaries, the content targets and injected gradients, the L-BFGS history, and the forward pass
 * over the largest style image. Used to refuse runs that cannot fit the wasm heap before they start.
 */
export function estimatePeakBytes(
  net: VggNetwork,
  settings: StylizeSettings,
  plan: readonly ScaleStep[],
  styleSizes: readonly { width: number; height: number }[],
): number {
  const finest = plan[plan.length - 1]!;
  const used = [...settings.contentLayers, ...settings.styleLayers].map(({ layer }) => net.layer(layer).index);
  const depth = Math.max(...used) + 1;
  const maps = (width: number, height: number) => {
    let h = height;
    let w = width;
    return net.layers.slice(0, depth).map((layer) => {
      if (layer.poolBefore) [h, w] = [Math.floor(h / 2), Math.floor(w / 2)];
      return h * w * layer.outChannels;
    });
  };
  const main = maps(finest.width, finest.height);
  const activations = main.reduce((a, b) => a + b, 0) * (settings.pooling === 'max' ? 1.5 : 1);
  const largest = Math.max(...main);
  const tapped = used.reduce((sum, index) => sum + (main[index] ?? 0), 0);
  const pixels = finest.width * finest.height * 3;
  const vectors = settings.optimizer === 'lbfgs' ? 2 * historySize(finest.width * finest.height) + 8 : 6;
  const optimizer = vectors * pixels;
  const mainPass = activations + 3 * largest + 2 * tapped + optimizer;
  const largestStyleMap = Math.max(0, ...styleSizes.map((s) => Math.max(...maps(s.width, s.height))));
  const stylePass = 3 * largestStyleMap + tapped + optimizer;
  return 4 * Math.max(mainPass, stylePass);
}
