let table: Float32Array | undefined;

/** Every half-precision bit pattern decoded once (256 KiB), so decoding a tensor is one lookup per value. */
function halfTable(): Float32Array {
  if (table) return table;
  table = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits++) {
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >> 10) & 0x1f;
    const fraction = bits & 0x3ff;
    if (exponent === 0) table[bits] = sign * 2 ** -14 * (fraction / 1024);
    else if (exponent === 31) table[bits] = fraction === 0 ? sign * Infinity : NaN;
    else table[bits] = sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
  }
  return table;
}

/** Decodes little-endian IEEE 754 half-precision values. */
export function decodeFloat16(bytes: Uint8Array, count: number): Float32Array {
  const lookup = halfTable();
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = lookup[bytes[2 * i]! | (bytes[2 * i + 1]! << 8)]!;
  return out;
}
