export type { ConvLayerWeights, ShapeCheck, VggWeights, WeightsLogger } from './types.ts';
export { VGG19_LAYERS, VGG19_LAYER_NAMES, isVggLayerName, type VggLayerName } from './vgg19-layout.ts';
export { WeightsError } from './weights-error.ts';
export { loadWeights, type LoadWeightsOptions } from './load-weights.ts';
export { locateWeights, type LocateOptions, type WeightsLocation } from './locate.ts';
export { DEFAULT_VGG19_WEIGHTS, md5OfFile, type DownloadSpec } from './verified-download.ts';
export type { ProgressMode } from './download-progress.ts';
