import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { edgesFingerprint, FINGERPRINT_EDGE_BYTES } from '../../src/weights/file-fingerprint.ts';
import { useTempDirs } from './temp-dir.ts';

const tempDir = useTempDirs();

async function fingerprintOf(bytes: Uint8Array): Promise<string> {
  const file = path.join(await tempDir(), 'f.bin');
  await writeFile(file, bytes);
  const handle = await open(file, 'r');
  try {
    return await edgesFingerprint(handle, bytes.length);
  } finally {
    await handle.close();
  }
}

function withByteFlipped(bytes: Uint8Array, index: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[index]! ^= 0xff;
  return copy;
}

describe('edgesFingerprint', () => {
  const size = 3 * FINGERPRINT_EDGE_BYTES + 17;
  const base = Uint8Array.from({ length: size }, (_, i) => (i * 31 + 7) & 0xff);

  it('changes with a byte in the first or the last MiB, and with the size', async () => {
    const original = await fingerprintOf(base);
    expect(original).toMatch(/^[0-9a-f]{40}$/);
    expect(await fingerprintOf(base)).toBe(original);
    expect(await fingerprintOf(withByteFlipped(base, 0))).not.toBe(original);
    expect(await fingerprintOf(withByteFlipped(base, FINGERPRINT_EDGE_BYTES - 1))).not.toBe(original);
    expect(await fingerprintOf(withByteFlipped(base, size - FINGERPRINT_EDGE_BYTES))).not.toBe(original);
    expect(await fingerprintOf(withByteFlipped(base, size - 1))).not.toBe(original);
    expect(await fingerprintOf(base.subarray(0, size - 1))).not.toBe(original);
  });

  it('reads only the ends of a large file (a change in the middle alone goes unnoticed)', async () => {
    expect(await fingerprintOf(withByteFlipped(base, FINGERPRINT_EDGE_BYTES + 5))).toBe(await fingerprintOf(base));
  });

  it('covers every byte of a file under 2 MiB', async () => {
    const small = base.subarray(0, FINGERPRINT_EDGE_BYTES + 1000);
    expect(await fingerprintOf(withByteFlipped(small, FINGERPRINT_EDGE_BYTES + 10))).not.toBe(
      await fingerprintOf(small),
    );
  });
});
