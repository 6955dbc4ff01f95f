import { cp, readdir, readFile, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.ts';
import { memoryDestination } from '../helpers/memory-log.ts';
import { convertedCachePath } from '../../src/weights/converted-cache.ts';
import { loadWeights } from '../../src/weights/index.ts';
import { makeTinyVggWeights } from '../helpers/tiny-vgg.ts';
import { writeKerasH5 } from '../helpers/weights-fixtures.ts';
import { expectWeightsError } from './expect-weights-error.ts';
import { useTempDirs } from './temp-dir.ts';

const tempDir = useTempDirs();
const tiny = makeTinyVggWeights();

async function setup() {
  const dir = await tempDir();
  const file = path.join(dir, 'mine.h5');
  await writeKerasH5(file, tiny);
  const cacheDir = path.join(dir, 'models');
  return { file, cacheDir, converted: convertedCachePath(cacheDir, file) };
}

const start = (source: string, cacheDir: string, shapes: 'consistent' | 'vgg19' = 'consistent') =>
  loadWeights({ source, cacheDir }, { shapes, progress: 'none' });

/** The byte offset of the first float of the data section (the first kernel value). */
function firstValueOffset(bytes: Buffer): number {
  return (12 + bytes.readUInt32LE(8) + 3) & ~3;
}

describe('converted copy of an HDF5 file', () => {
  it('is written on first load and used on the next while the source is unchanged', async () => {
    const { file, cacheDir, converted } = await setup();
    const first = await start(file, cacheDir);
    expect(await readdir(path.dirname(converted))).toEqual([path.basename(converted)]);

    // Mark the copy: if the next start reads it, the mark shows up in the weights.
    const bytes = await readFile(converted);
    bytes.writeFloatLE(123.5, firstValueOffset(bytes));
    await writeFile(converted, bytes);
    const second = await start(file, cacheDir);
    expect(second.layers.get('block1_conv1')!.kernel[0]).toBe(123.5);
    expect(second.layers.get('block5_conv4')!.kernel).toEqual(first.layers.get('block5_conv4')!.kernel);
    expect(second.source).toBe(file);
  });

  it('is rebuilt when the source changes', async () => {
    const { file, cacheDir, converted } = await setup();
    await start(file, cacheDir);
    const bytes = await readFile(converted);
    bytes.writeFloatLE(123.5, firstValueOffset(bytes));
    await writeFile(converted, bytes);
    const later = new Date(Date.now() + 5000);
    await utimes(file, later, later);
    const weights = await start(file, cacheDir);
    expect(weights.layers.get('block1_conv1')!.kernel[0]).toBe(tiny.layers.get('block1_conv1')!.kernel[0]);
    const rebuilt = await readFile(converted);
    expect(rebuilt.readFloatLE(firstValueOffset(rebuilt))).toBe(weights.layers.get('block1_conv1')!.kernel[0]);
  });

  it('is not used for a different file of the same size copied in with the same mtime (cp -p)', async () => {
    const { file, cacheDir, converted } = await setup();
    const other = makeTinyVggWeights({ seed: 2 });
    const replacement = path.join(path.dirname(file), 'replacement.h5');
    await writeKerasH5(replacement, other);
    const sameTime = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
    await utimes(file, sameTime, sameTime);
    await utimes(replacement, sameTime, sameTime);
    await start(file, cacheDir);
    const before = await stat(file);

    await cp(replacement, file, { preserveTimestamps: true });
    const after = await stat(file);
    // Everything the key held before the fingerprint is unchanged: path, size and mtime.
    expect([after.size, after.mtimeMs]).toEqual([before.size, before.mtimeMs]);
    const weights = await start(file, cacheDir);
    expect(weights.layers.get('block1_conv1')!.kernel).toEqual(other.layers.get('block1_conv1')!.kernel);
    expect(weights.layers.get('block1_conv1')!.kernel).not.toEqual(tiny.layers.get('block1_conv1')!.kernel);
    // The copy was rebuilt for the new file: a third start reads it, not the source.
    const bytes = await readFile(converted);
    bytes.writeFloatLE(123.5, firstValueOffset(bytes));
    await writeFile(converted, bytes);
    expect((await start(file, cacheDir)).layers.get('block1_conv1')!.kernel[0]).toBe(123.5);
  });

  it('is ignored and rebuilt when damaged', async () => {
    const { file, cacheDir, converted } = await setup();
    await start(file, cacheDir);
    const size = (await readFile(converted)).length;
    await truncate(converted, size - 4);
    const weights = await start(file, cacheDir);
    expect(weights.layers.get('block5_conv4')!.bias).toEqual(tiny.layers.get('block5_conv4')!.bias);
    expect((await readFile(converted)).length).toBe(size);
  });

  it('never lets stricter rules pass: a tiny model cached under consistent is still refused as VGG19', async () => {
    const { file, cacheDir } = await setup();
    await start(file, cacheDir, 'consistent');
    await expectWeightsError(start(file, cacheDir, 'vgg19'), `${file}: block1_conv1 kernel has shape [3,3,3,4]`);
  });

  it('loadWeights keeps one too when given a folder for it', async () => {
    const { file, cacheDir, converted } = await setup();
    await loadWeights(file, { shapes: 'consistent', convertedCacheDir: cacheDir });
    expect(await readdir(path.dirname(converted))).toEqual([path.basename(converted)]);
  });

  it('a cache folder that cannot be written only costs speed', async () => {
    const { file, cacheDir, converted } = await setup();
    await writeFile(cacheDir, 'a file where the folder should be');
    const { stream, lines } = memoryDestination();
    const logger = createLogger({ level: 'debug', destination: stream });
    const weights = await loadWeights({ source: file, cacheDir }, { shapes: 'consistent', logger });
    expect(weights.layers.size).toBe(16);
    expect(lines.join('\n')).toContain('Could not save a converted copy of the weights');
    expect(converted.startsWith(cacheDir)).toBe(true);
  });
});
