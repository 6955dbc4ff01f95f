import * as tf from '@tensorflow/tfjs';
import type { RgbImage } from '../images/rgb-image.ts';
import { rgbToTensor, tensorToRgb } from '../images/tensor-convert.ts';
import { greyscale, matchColors, matchedGreyscale, withChromaOf } from './colors.ts';
import { fromCaffe, resizeImage, rgbTensorToCaffe } from './pixels.ts';
import type { WeightedImage } from './targets.ts';
import type { StylizeRequest, StylizeSettings } from './types.ts';

/** The images as the network sees them, and how to turn an optimized image back into the user's colours. */
export interface PreparedImages {
  readonly content: tf.Tensor4D;
  readonly styles: WeightedImage[];
  /** Only for luminance-only transfer: the content's colours, whose chroma the result keeps. */
  readonly contentRgb: tf.Tensor3D | undefined;
}

/** Uploads a request's images, in the colours the network should see (see colors.ts). */
export function prepareImages(request: StylizeRequest, settings: StylizeSettings): PreparedImages {
  return tf.tidy(() => {
    const contentRgb = rgbToTensor(request.content);
    const styles = request.styles.map(({ image, weight }) => {
      const rgb = rgbToTensor(image);
      const seen =
        settings.colors === 'luminance'
          ? matchedGreyscale(rgb, contentRgb)
          : settings.colors === 'match'
            ? matchColors(rgb, contentRgb)
            : rgb;
      return { image: rgbTensorToCaffe(seen), weight };
    });
    const content = rgbTensorToCaffe(settings.colors === 'luminance' ? greyscale(contentRgb) : contentRgb);
    return { content, styles, contentRgb: settings.colors === 'luminance' ? contentRgb : undefined };
  });
}

/** The user-visible colours of an optimized image, at its own size. */
export function present(x: tf.Tensor4D, images: PreparedImages): tf.Tensor3D {
  return tf.tidy(() => {
    const rgb = fromCaffe(x);
    if (!images.contentRgb) return rgb;
    const [height, width] = rgb.shape;
    const sameSize = images.contentRgb.shape[0] === height && images.contentRgb.shape[1] === width;
    const content = sameSize
      ? images.contentRgb
      : resizeImage(images.contentRgb.expandDims<tf.Tensor4D>(0), height, width).squeeze<tf.Tensor3D>([0]);
    return withChromaOf(rgb, content);
  });
}

/** The final image, downloaded. */
export async function toRgbImage(x: tf.Tensor4D, images: PreparedImages): Promise<RgbImage> {
  const rgb = present(x, images);
  try {
    return await tensorToRgb(rgb);
  } finally {
    rgb.dispose();
  }
}

/** A preview: the snapshot is taken at once, only the download waits. */
export function renderPreview(x: tf.Tensor4D, images: PreparedImages): Promise<RgbImage> {
  if (x.isDisposed) {
    return Promise.reject(new Error('renderPreview() must be called synchronously inside onProgress'));
  }
  const rgb = present(x, images);
  return tensorToRgb(rgb).finally(() => rgb.dispose());
}

export function disposeImages(images: PreparedImages): void {
  tf.dispose([images.content, ...images.styles.map((s) => s.image)]);
  images.contentRgb?.dispose();
}
