import { createHash } from 'node:crypto';

/** MD5 of every kernel and bias in order: one string to compare two weight sets by. */
export function valuesMd5(layers: Iterable<{ kernel: Float32Array; bias: Float32Array }>): string {
  const hash = createHash('md5');
  for (const { kernel, bias } of layers) {
    hash.update(new Uint8Array(kernel.buffer, kernel.byteOffset, kernel.byteLength));
    hash.update(new Uint8Array(bias.buffer, bias.byteOffset, bias.byteLength));
  }
  return hash.digest('hex');
}
