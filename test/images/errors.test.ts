import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { isUserFacing } from '../../src/errors/user-facing-error.ts';
import {
  CorruptImageError,
  EmptyFileError,
  EncodeTooLargeError,
  ExtremeAspectRatioError,
  ImageFileNotFoundError,
  ImageFileReadError,
  ImageFileWriteError,
  ImageProcessingError,
  ImageTimeoutError,
  ImageTooLargeError,
  ImageTooSmallError,
  NotAFileError,
  TooManyPixelsError,
  UnsupportedFormatError,
  UnsupportedOutputFormatError,
  decodeImage,
  formatBytes,
} from '../../src/images/index.ts';
import type { ImageError } from '../../src/images/index.ts';
import { decodeFailure, processingFailure } from '../../src/images/sharp-errors.ts';

async function sharpError(work: Promise<unknown>): Promise<Error> {
  const error: unknown = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

describe('what sharp throws becomes a typed error', () => {
  it('maps a real sharp timeout to ImageTimeoutError', async () => {
    const slow = sharp({ create: { width: 4000, height: 4000, channels: 3, background: '#888' } })
      .blur(200)
      .timeout({ seconds: 1 })
      .raw()
      .toBuffer();
    const raw = await sharpError(slow);
    const typed = decodeFailure(raw, { format: 'png', label: 'style', maxPixels: 1e6 });
    expect(typed).toBeInstanceOf(ImageTimeoutError);
    expect(typed.userMessage).toBe('The style image took too long to read. Please try a smaller or simpler image.');
    expect(typed.cause).toBe(raw);
    expect(processingFailure(raw)).toBeInstanceOf(ImageTimeoutError);
  });

  it("maps sharp's pixel limit to TooManyPixelsError when the size is known", async () => {
    const big = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#888' } }).png().toBuffer();
    const raw = await sharpError(sharp(big, { limitInputPixels: 1000 }).raw().toBuffer());
    expect(decodeFailure(raw, { format: 'png', width: 300, height: 200, maxPixels: 1000 })).toBeInstanceOf(
      TooManyPixelsError,
    );
  });

  it('calls any other decoding failure damaged, keeping the cause for the logs', async () => {
    const noise = { type: 'gaussian', mean: 128, sigma: 50 } as const;
    const jpeg = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#888', noise } })
      .jpeg()
      .toBuffer();
    const raw = await sharpError(sharp(jpeg.subarray(0, jpeg.length / 2)).raw().toBuffer());
    const typed = decodeFailure(raw, { format: 'jpeg', maxPixels: 1e6 });
    expect(typed).toBeInstanceOf(CorruptImageError);
    expect(typed.cause).toBe(raw);
    expect(processingFailure(raw)).toBeInstanceOf(ImageProcessingError);
  });

  it('passes typed errors through unchanged', () => {
    const original = new EmptyFileError();
    expect(decodeFailure(original, { format: 'png', maxPixels: 1 })).toBe(original);
    expect(processingFailure(original)).toBe(original);
  });
});

describe('messages', () => {
  const cause = Object.assign(new Error('EACCES: permission denied, open /x'), { code: 'EACCES' });
  const all: ImageError[] = [
    new EmptyFileError('content'),
    new ImageTooLargeError(25 * 1024 * 1024, 20 * 1024 * 1024, 'style'),
    new UnsupportedFormatError('SVG', ['png', 'jpeg', 'webp', 'gif', 'avif']),
    new TooManyPixelsError(12_000, 9_000, 50_000_000),
    new CorruptImageError('jpeg', 'content'),
    new ImageTimeoutError(),
    new ImageTooSmallError(8, 8, 32, 'style'),
    new ExtremeAspectRatioError(9000, 100, 32, 1024),
    new EncodeTooLargeError(10 * 1024 * 1024),
    new ImageProcessingError('style'),
    new ImageFileNotFoundError('in/photo.jpg'),
    new NotAFileError('in'),
    new ImageFileReadError('in/photo.jpg', { cause }),
    new ImageFileWriteError('out/result.png', { cause }),
    new UnsupportedOutputFormatError('out/result.gif'),
  ];

  it('are user-facing, one short line each, named after their class', () => {
    for (const error of all) {
      expect(isUserFacing(error)).toBe(true);
      expect(error.name).toBe(error.constructor.name);
      expect(error.userMessage).toMatch(/^\S.*[.]$/);
      expect(error.userMessage).not.toContain('\n');
      expect(error.userMessage.length).toBeLessThan(160);
    }
  });

  it('say what was wrong, with numbers people understand', () => {
    expect(all[1]!.userMessage).toBe('The style file is 25 MB, over the 20 MB limit. Please upload a smaller file.');
    expect(all[3]!.userMessage).toBe(
      'That image is 12000×9000 pixels (108 megapixels), more than the 50 megapixels I accept. ' +
        'Please upload a smaller image.',
    );
    expect(all[12]!.userMessage).toBe(
      'I could not read in/photo.jpg (permission denied). Please check the file and its permissions.',
    );
    expect(formatBytes(300)).toBe('300 bytes');
    expect(formatBytes(48 * 1024)).toBe('48 KB');
    expect(formatBytes(2.5 * 1024 * 1024)).toBe('2.5 MB');
  });
});

describe('decodeImage arguments', () => {
  it('rejects invalid limits as a programming error', async () => {
    const png = await sharp({ create: { width: 40, height: 40, channels: 3, background: '#888' } }).png().toBuffer();
    const ok = { maxBytes: 1e6, maxPixels: 1e6, formats: ['png'] as const };
    await expect(decodeImage(png, { ...ok, formats: [] })).rejects.toThrow(RangeError);
    await expect(decodeImage(png, { ...ok, maxPixels: 0 })).rejects.toThrow(RangeError);
    await expect(decodeImage(png, { ...ok, timeoutSeconds: 0.5 })).rejects.toThrow(RangeError);
    await expect(decodeImage(png, ok)).resolves.toMatchObject({ width: 40 });
  });
});
