import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ImageFileNotFoundError,
  ImageFileWriteError,
  ImageTooLargeError,
  NotAFileError,
  UnsupportedFormatError,
  UnsupportedOutputFormatError,
  readImageFile,
  writeImageFile,
  type DecodeLimits,
} from '../../src/images/index.ts';
import { RED, fromRgb, quadrants, solid } from './corpus.ts';

const limits: DecodeLimits = { maxBytes: 1024 * 1024, maxPixels: 10_000_000, formats: ['jpeg', 'png', 'webp'] };
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'stylebot-images-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readImageFile', () => {
  it('reads and decodes an image file', async () => {
    const file = path.join(dir, 'photo.jpeg');
    await writeFile(file, await fromRgb(solid(64, 48, RED)).png().toBuffer());
    const image = await readImageFile(file, limits);
    // The content decides, not the name: this ".jpeg" is a PNG.
    expect(image).toMatchObject({ format: 'png', width: 64, height: 48 });
  });

  it('refuses a text file named .png', async () => {
    const file = path.join(dir, 'notes.png');
    await writeFile(file, 'definitely a picture\n');
    await expect(readImageFile(file, limits, 'content')).rejects.toThrow(UnsupportedFormatError);
  });

  it('says when the file is missing or is a folder', async () => {
    const missing = path.join(dir, 'nope.png');
    await expect(readImageFile(missing, limits)).rejects.toThrow(ImageFileNotFoundError);
    const message = `There is no file at ${missing}. Please check the path.`;
    await expect(readImageFile(missing, limits)).rejects.toThrow(message);
    await expect(readImageFile(dir, limits)).rejects.toThrow(NotAFileError);
  });

  it('refuses a file over the byte limit without reading it', async () => {
    const file = path.join(dir, 'huge.png');
    await writeFile(file, Buffer.alloc(limits.maxBytes + 1));
    await expect(readImageFile(file, limits)).rejects.toThrow(ImageTooLargeError);
  });
});

describe('writeImageFile', () => {
  it('chooses the format from the extension', async () => {
    const image = quadrants(80, 60);
    for (const [name, format] of [
      ['out.png', 'png'],
      ['out.jpg', 'jpeg'],
      ['out.JPEG', 'jpeg'],
      ['out.webp', 'webp'],
    ] as const) {
      const file = path.join(dir, name);
      const written = await writeImageFile(file, image);
      expect(written).toMatchObject({ format, width: 80, height: 60 });
      const header = await sharp(file).metadata();
      expect([header.format, header.width, header.height]).toEqual([format, 80, 60]);
    }
    // Nothing else was left in the folder (no temporary files).
    expect((await readdir(dir)).sort()).toEqual(['out.JPEG', 'out.jpg', 'out.png', 'out.webp']);
  });

  it('refuses an extension it cannot write', async () => {
    await expect(writeImageFile(path.join(dir, 'out.gif'), quadrants(40, 40))).rejects.toThrow(
      UnsupportedOutputFormatError,
    );
  });

  it('reports a folder that does not exist, leaving nothing behind', async () => {
    const file = path.join(dir, 'missing', 'out.png');
    const attempt = writeImageFile(file, quadrants(40, 40));
    await expect(attempt).rejects.toThrow(ImageFileWriteError);
    await expect(attempt).rejects.toThrow('(the folder does not exist)');
    expect(await readdir(dir)).toEqual([]);
  });
});
