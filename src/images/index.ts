/** The image pipeline's public API: decode uploads, size them, encode results. */
export { assertRgbImage, type RgbImage } from './rgb-image.ts';
export {
  decodeImage,
  decodeContentImage,
  decodeStyleImage,
  decodeLimitsFromConfig,
  DEFAULT_BACKGROUND,
  DEFAULT_DECODE_TIMEOUT_SECONDS,
  type DecodeLimits,
  type DecodeOptions,
  type DecodedImage,
  type Rgb,
} from './decode.ts';
export { fitToLongSide, sizeStyleImage, resizeRgb } from './resize.ts';
export {
  planFit,
  planStyleSize,
  planKeep,
  styleLongSide,
  MIN_SIDE,
  MAX_STYLE_SIDE,
  type Dimensions,
  type SizePlan,
} from './size-plan.ts';
export {
  encodePreview,
  encodeFinal,
  encodeImage,
  PREVIEW_MAX_SIDE,
  PREVIEW_MAX_BYTES,
  type EncodedImage,
  type EncodeSettings,
  type OutputFormat,
} from './encode.ts';
export { readImageFile, writeImageFile, outputSettingsFor } from './image-files.ts';
export { sniffFormat, type Sniffed } from './sniff-format.ts';
export * from './errors.ts';
