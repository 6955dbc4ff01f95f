import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { edgesFingerprint } from './file-fingerprint.ts';
import { selectLayers, type FoundLayerShapes } from './shape-check.ts';
import type { ConvLayerWeights, ShapeCheck, WeightsLogger } from './types.ts';
import { isVggLayerName, type VggLayerName } from './vgg19-layout.ts';

/**
 * A converted copy of an HDF5 weights file: the same float32 values, stored raw after a small JSON index. Loading
 * it needs no HDF5 library, which matters because importing h5wasm costs ~2 s per start under tsx (it transforms
 * the library's 4 MB of JavaScript every time) against ~0.1 s for reading 80 MB raw. The index records the
 * source's path, size, mtime and a fingerprint of its first and last MiB (so a different file copied in with its
 * size and mtime unchanged, e.g. by `cp -p`, is noticed); a copy that no longer matches them, or is damaged, is
 * ignored and rebuilt.
 *
 * Layout: "VGGF32\0\x01", uint32 LE index length, the JSON index, zero padding to a multiple of 4, then for
 * each layer in order its kernel and bias values (float32 LE).
 */
const MAGIC = Buffer.from('VGGF32\0\x01', 'latin1');

const indexSchema = z.object({
  source: z.object({ path: z.string(), size: z.number(), mtimeMs: z.number(), fingerprint: z.string() }),
  layers: z.array(
    z.object({
      name: z.string(),
      kernelShape: z.tuple([z.number().int(), z.number().int(), z.number().int(), z.number().int()]),
      biasLength: z.number().int(),
    }),
  ),
});

type ConvertedIndex = z.infer<typeof indexSchema>;

export interface SourceIdentity {
  path: string;
  size: number;
  mtimeMs: number;
  /** See edgesFingerprint. */
  fingerprint: string;
}

export async function identify(file: string): Promise<SourceIdentity> {
  const handle = await open(file, 'r');
  try {
    const info = await handle.stat();
    const fingerprint = await edgesFingerprint(handle, info.size);
    return { path: path.resolve(file), size: info.size, mtimeMs: info.mtimeMs, fingerprint };
  } finally {
    await handle.close();
  }
}

/** Where the converted copy of `source` lives: in the cache folder, named after the source and its path. */
export function convertedCachePath(cacheDir: string, source: string): string {
  const hash = createHash('sha256').update(path.resolve(source)).digest('hex').slice(0, 16);
  return path.join(cacheDir, 'converted', `${path.basename(source).slice(0, 80)}-${hash}.f32`);
}

/**
 * The layers of a converted copy made from exactly `source`, checked like any file (`shapes`), or undefined when
 * there is no usable copy. Never throws for a bad copy: the caller then reads the source itself.
 */
export async function readConverted(
  cachePath: string,
  source: SourceIdentity,
  shapes: ShapeCheck,
  label: string,
): Promise<Map<VggLayerName, ConvLayerWeights> | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(cachePath);
  } catch {
    return undefined;
  }
  const parsed = parseConverted(bytes);
  if (!parsed) return undefined;
  const { index, dataOffset } = parsed;
  if (
    index.source.path !== source.path ||
    index.source.size !== source.size ||
    index.source.mtimeMs !== source.mtimeMs ||
    index.source.fingerprint !== source.fingerprint
  ) {
    return undefined;
  }
  const found = new Map<VggLayerName, FoundLayerShapes>();
  for (const layer of index.layers) {
    if (!isVggLayerName(layer.name)) return undefined;
    found.set(layer.name, { kernel: layer.kernelShape, bias: [layer.biasLength] });
  }
  // The same rules as for the source; a copy made under other rules is simply not used for these.
  let selected: VggLayerName[];
  try {
    selected = selectLayers(found, shapes, label);
  } catch {
    return undefined;
  }
  const layers = new Map<VggLayerName, ConvLayerWeights>();
  let offset = dataOffset;
  const floats = (count: number) => {
    const view = new Float32Array(bytes.buffer, bytes.byteOffset + offset, count);
    offset += count * 4;
    return view;
  };
  for (const layer of index.layers) {
    const kernel = floats(layer.kernelShape.reduce((a, b) => a * b, 1));
    const bias = floats(layer.biasLength);
    if (selected.includes(layer.name as VggLayerName)) {
      layers.set(layer.name as VggLayerName, { kernel, kernelShape: layer.kernelShape, bias });
    }
  }
  return layers;
}

function parseConverted(bytes: Buffer): { index: ConvertedIndex; dataOffset: number } | undefined {
  if (bytes.length < 12 || !bytes.subarray(0, 8).equals(MAGIC)) return undefined;
  const indexLength = bytes.readUInt32LE(8);
  if (12 + indexLength > bytes.length) return undefined;
  let index: ConvertedIndex;
  try {
    index = indexSchema.parse(JSON.parse(bytes.subarray(12, 12 + indexLength).toString('utf8')));
  } catch {
    return undefined;
  }
  const dataOffset = align4(12 + indexLength);
  const values = index.layers.reduce((sum, l) => sum + l.kernelShape.reduce((a, b) => a * b, 1) + l.biasLength, 0);
  // Exact length: a truncated or padded copy is not trusted. Buffers from readFile start 4-byte aligned.
  if (bytes.length !== dataOffset + values * 4 || bytes.byteOffset % 4 !== 0) return undefined;
  return { index, dataOffset };
}

/**
 * Writes the converted copy atomically (`.part`, then rename). Failing to write it (read-only folder, full disk)
 * only costs speed on later starts, so it is logged, not thrown.
 */
export async function writeConverted(
  cachePath: string,
  source: SourceIdentity,
  layers: ReadonlyMap<VggLayerName, ConvLayerWeights>,
  logger: WeightsLogger,
): Promise<void> {
  const index: ConvertedIndex = {
    source,
    layers: [...layers].map(([name, layer]) => ({
      name,
      kernelShape: [...layer.kernelShape],
      biasLength: layer.bias.length,
    })),
  };
  const json = Buffer.from(JSON.stringify(index), 'utf8');
  const header = Buffer.alloc(align4(12 + json.length));
  MAGIC.copy(header, 0);
  header.writeUInt32LE(json.length, 8);
  json.copy(header, 12);
  const part = `${cachePath}.${process.pid}.part`;
  try {
    await mkdir(path.dirname(cachePath), { recursive: true });
    const handle = await open(part, 'w');
    try {
      await handle.write(header);
      for (const layer of layers.values()) {
        await handle.write(new Uint8Array(layer.kernel.buffer, layer.kernel.byteOffset, layer.kernel.byteLength));
        await handle.write(new Uint8Array(layer.bias.buffer, layer.bias.byteOffset, layer.bias.byteLength));
      }
    } finally {
      await handle.close();
    }
    await rename(part, cachePath);
    logger.debug({ cachePath }, `Saved a converted copy of the weights to ${cachePath}`);
  } catch (error) {
    await rm(part, { force: true }).catch(() => undefined);
    logger.warn({ cachePath, err: error }, `Could not save a converted copy of the weights (later starts stay slower)`);
  }
}

function align4(n: number): number {
  return (n + 3) & ~3;
}
