/**
 * The VGG19 convolution layers in network order, with the Keras names every weights format uses, and the
 * shapes of the real ImageNet weights (HWIO kernels). Tiny test models keep the names and the 3x3 kernels but
 * use fewer channels.
 */
export const VGG19_LAYERS = [
  { name: 'block1_conv1', inChannels: 3, outChannels: 64 },
  { name: 'block1_conv2', inChannels: 64, outChannels: 64 },
  { name: 'block2_conv1', inChannels: 64, outChannels: 128 },
  { name: 'block2_conv2', inChannels: 128, outChannels: 128 },
  { name: 'block3_conv1', inChannels: 128, outChannels: 256 },
  { name: 'block3_conv2', inChannels: 256, outChannels: 256 },
  { name: 'block3_conv3', inChannels: 256, outChannels: 256 },
  { name: 'block3_conv4', inChannels: 256, outChannels: 256 },
  { name: 'block4_conv1', inChannels: 256, outChannels: 512 },
  { name: 'block4_conv2', inChannels: 512, outChannels: 512 },
  { name: 'block4_conv3', inChannels: 512, outChannels: 512 },
  { name: 'block4_conv4', inChannels: 512, outChannels: 512 },
  { name: 'block5_conv1', inChannels: 512, outChannels: 512 },
  { name: 'block5_conv2', inChannels: 512, outChannels: 512 },
  { name: 'block5_conv3', inChannels: 512, outChannels: 512 },
  { name: 'block5_conv4', inChannels: 512, outChannels: 512 },
] as const;

export type VggLayerName = (typeof VGG19_LAYERS)[number]['name'];

export const VGG19_LAYER_NAMES: readonly VggLayerName[] = VGG19_LAYERS.map((l) => l.name);

export function isVggLayerName(name: string): name is VggLayerName {
  return (VGG19_LAYER_NAMES as readonly string[]).includes(name);
}
