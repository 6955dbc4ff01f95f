import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  CorruptImageError,
  EmptyFileError,
  ImageError,
  ImageTooLargeError,
  TooManyPixelsError,
  UnsupportedFormatError,
  decodeImage,
  decodeLimitsFromConfig,
  type DecodeLimits,
  type DecodedImage,
} from '../../src/images/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import {
  BLUE,
  GREEN,
  RED,
  SVG,
  YELLOW,
  animatedGif,
  breakPngCrc,
  colourDistance,
  fromRgb,
  halfTransparentPng,
  heicLike,
  jpegWithOrientation,
  pixelAt,
  png16,
  pngBomb,
  quadrants,
  randomBytes,
  solid,
  type Colour,
} from './corpus.ts';

const limits: DecodeLimits = {
  maxBytes: 5 * 1024 * 1024,
  maxPixels: 50_000_000,
  formats: ['jpeg', 'png', 'webp', 'gif', 'avif'],
};

async function decodeError(bytes: Uint8Array, custom: Partial<DecodeLimits> = {}, label?: string): Promise<ImageError> {
  const error: unknown = await decodeImage(bytes, { ...limits, ...custom }, label).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'decoding should have failed').toBeInstanceOf(ImageError);
  const message = (error as ImageError).userMessage;
  // What a user sees: one short line, no library internals.
  expect(message).not.toMatch(/\n|vips|sharp|libpng|jpeglib|heif|Error:|at \//i);
  expect(message.length).toBeLessThan(200);
  return error as ImageError;
}

function expectColour(image: DecodedImage, x: number, y: number, colour: Colour, tolerance: number): void {
  const actual = pixelAt(image, x, y);
  expect(colourDistance(actual, colour), `pixel (${x},${y}) is ${actual.join(',')}, expected ${colour.join(',')}`)
    .toBeLessThanOrEqual(tolerance);
}

function expectRgbShape(image: DecodedImage, width: number, height: number): void {
  expect([image.width, image.height]).toEqual([width, height]);
  expect(image.data).toBeInstanceOf(Uint8Array);
  expect(image.data.length).toBe(width * height * 3);
}

describe('decodeImage refuses what it cannot or must not read', () => {
  it('refuses an empty file', async () => {
    const error = await decodeError(new Uint8Array(0), {}, 'content');
    expect(error).toBeInstanceOf(EmptyFileError);
    expect(error.userMessage).toBe('The content file is empty (0 bytes). Please upload the image again.');
  });

  it('refuses random bytes, naming them unknown data', async () => {
    const error = await decodeError(randomBytes(4096));
    expect(error).toBeInstanceOf(UnsupportedFormatError);
    expect((error as UnsupportedFormatError).found).toBe('unknown data');
  });

  it('refuses a text file whatever its name would say', async () => {
    const error = await decodeError(Buffer.from('just some notes, saved as photo.png\n'), {}, 'style');
    expect(error).toBeInstanceOf(UnsupportedFormatError);
    expect(error.userMessage).toBe(
      'The style file is not an image I can read (found: text). Please upload a JPEG, PNG, WebP, GIF or AVIF.',
    );
  });

  it('refuses SVG with the message users are meant to see', async () => {
    const error = await decodeError(Buffer.from(SVG), { formats: ['png', 'jpeg', 'webp', 'gif', 'avif'] });
    expect(error).toBeInstanceOf(UnsupportedFormatError);
    expect(error.userMessage).toBe(
      'That file is not an image I can read (found: SVG). Please upload a PNG, JPEG, WebP, GIF or AVIF.',
    );
  });

  it('refuses HEIC (which sharp cannot decode) by name', async () => {
    const error = await decodeError(heicLike());
    expect((error as UnsupportedFormatError).found).toBe('HEIC');
  });

  it('refuses a real image in a format the admin did not allow', async () => {
    const tiff = await fromRgb(solid(40, 40, RED)).tiff().toBuffer();
    const error = await decodeError(tiff);
    expect(error).toBeInstanceOf(UnsupportedFormatError);
    expect((error as UnsupportedFormatError).found).toBe('TIFF');

    const png = await fromRgb(solid(40, 40, RED)).png().toBuffer();
    const onlyJpeg = await decodeError(png, { formats: ['jpeg'] });
    expect(onlyJpeg.userMessage).toContain('(found: PNG). Please upload a JPEG.');
  });

  it('reads TIFF once it is allowed', async () => {
    const tiff = await fromRgb(solid(40, 40, RED)).tiff({ compression: 'lzw' }).toBuffer();
    const image = await decodeImage(tiff, { ...limits, formats: ['tiff'] });
    expect(image.format).toBe('tiff');
    expectColour(image, 5, 5, RED, 0);
  });

  it('refuses files over the byte limit before parsing them', async () => {
    const error = await decodeError(randomBytes(3000), { maxBytes: 2048 }, 'style');
    expect(error).toBeInstanceOf(ImageTooLargeError);
    expect(error).toMatchObject({ bytes: 3000, maxBytes: 2048 });
  });

  it('refuses a truncated JPEG instead of returning half-grey pixels', async () => {
    const jpeg = await fromRgb(quadrants(256, 256)).jpeg({ quality: 90 }).toBuffer();
    for (const keep of [0.3, 0.6, 0.9]) {
      const error = await decodeError(jpeg.subarray(0, Math.floor(jpeg.length * keep)), {}, 'content');
      expect(error).toBeInstanceOf(CorruptImageError);
      expect(error.userMessage).toBe(
        'The content image (JPEG) looks damaged or incomplete. Please upload it again, or re-save it as a PNG or JPEG.',
      );
    }
  });

  it('refuses a truncated PNG', async () => {
    const png = await fromRgb(quadrants(256, 256)).png().toBuffer();
    const error = await decodeError(png.subarray(0, Math.floor(png.length / 2)));
    expect(error).toBeInstanceOf(CorruptImageError);
  });

  it('refuses a PNG whose image data fails its CRC', async () => {
    const png = await fromRgb(quadrants(128, 128)).png().toBuffer();
    const sane = await decodeImage(png, limits);
    expect(sane.width).toBe(128);
    expect(await decodeError(breakPngCrc(png, 'IDAT'))).toBeInstanceOf(CorruptImageError);
  });

  it('refuses a header whose magic bytes disagree with its content', async () => {
    const jpeg = await fromRgb(solid(64, 64, RED)).jpeg().toBuffer();
    // PNG signature glued on a JPEG body.
    const mislabelled = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), jpeg]);
    expect(await decodeError(mislabelled)).toBeInstanceOf(CorruptImageError);
  });

  it('refuses a decompression bomb from its header, naming its size', async () => {
    const bomb = await pngBomb(30_000, 30_000);
    expect(bomb.length).toBeLessThan(20_000);
    const error = await decodeError(bomb, {}, 'style');
    expect(error).toBeInstanceOf(TooManyPixelsError);
    expect(error.userMessage).toBe(
      'The style image is 30000×30000 pixels (900 megapixels), more than the 50 megapixels I accept. ' +
        'Please upload a smaller image.',
    );
  });

  it('refuses a small file that really decodes to more pixels than allowed', async () => {
    const big = await sharp({ create: { width: 3000, height: 2000, channels: 3, background: '#336699' } })
      .png()
      .toBuffer();
    const error = await decodeError(big, { maxPixels: 5_000_000 });
    expect(error).toMatchObject({ width: 3000, height: 2000, maxPixels: 5_000_000 });
  });
});

describe('decodeImage turns every accepted input into 8-bit sRGB RGB', () => {
  it('reads a JPEG, PNG, WebP, GIF and AVIF to the same pixels', async () => {
    const source = fromRgb(quadrants(64, 48));
    const encoded = {
      jpeg: await source.clone().jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toBuffer(),
      png: await source.clone().png().toBuffer(),
      webp: await source.clone().webp({ lossless: true }).toBuffer(),
      gif: await source.clone().gif().toBuffer(),
      avif: await source.clone().avif({ quality: 90, chromaSubsampling: '4:4:4' }).toBuffer(),
    };
    for (const [format, bytes] of Object.entries(encoded)) {
      const image = await decodeImage(bytes, limits);
      expect(image.format).toBe(format);
      expectRgbShape(image, 64, 48);
      expect([image.originalWidth, image.originalHeight]).toEqual([64, 48]);
      const tolerance = format === 'png' || format === 'webp' ? 0 : 12;
      expectColour(image, 8, 8, RED, tolerance);
      expectColour(image, 56, 8, GREEN, tolerance);
      expectColour(image, 8, 40, BLUE, tolerance);
      expectColour(image, 56, 40, YELLOW, tolerance);
    }
  });

  it('reads a 1×1 image (sizing, not decoding, decides whether it is usable)', async () => {
    const png = await fromRgb(solid(1, 1, GREEN)).png().toBuffer();
    const image = await decodeImage(png, limits);
    expectRgbShape(image, 1, 1);
    expect([...image.data]).toEqual([...GREEN]);
  });

  it('applies EXIF orientation to the pixels', async () => {
    const stored = quadrants(64, 32);
    // Where each stored quadrant colour must appear after orientation: [top-left, top-right, bottom-left].
    const expected: Record<number, { size: [number, number]; corners: [Colour, Colour, Colour] }> = {
      1: { size: [64, 32], corners: [RED, GREEN, BLUE] },
      2: { size: [64, 32], corners: [GREEN, RED, YELLOW] }, // mirrored horizontally
      3: { size: [64, 32], corners: [YELLOW, BLUE, GREEN] }, // rotated 180°
      6: { size: [32, 64], corners: [BLUE, RED, YELLOW] }, // rotate 90° clockwise to view
      8: { size: [32, 64], corners: [GREEN, YELLOW, RED] }, // rotate 90° anticlockwise to view
    };
    for (const [orientation, { size, corners }] of Object.entries(expected)) {
      const jpeg = await jpegWithOrientation(stored, Number(orientation));
      const image = await decodeImage(jpeg, limits);
      expectRgbShape(image, size[0], size[1]);
      expect([image.originalWidth, image.originalHeight]).toEqual(size);
      const [w, h] = size;
      expectColour(image, 3, 3, corners[0], 6);
      expectColour(image, w - 4, 3, corners[1], 6);
      expectColour(image, 3, h - 4, corners[2], 6);
    }
  });

  it('converts a CMYK JPEG to sRGB', async () => {
    // Muted colours, inside the CMYK gamut, so that the round trip through the CMYK profile stays close.
    const muted: [Colour, Colour, Colour, Colour] = [[180, 90, 80], [90, 150, 100], [80, 100, 170], [200, 180, 90]];
    const cmyk = await fromRgb(quadrants(64, 64, muted)).toColourspace('cmyk').jpeg({ quality: 100 }).toBuffer();
    const header = await sharp(cmyk).metadata();
    expect([header.space, header.channels]).toEqual(['cmyk', 4]);
    const image = await decodeImage(cmyk, limits);
    expectRgbShape(image, 64, 64);
    expectColour(image, 8, 8, muted[0], 16);
    expectColour(image, 56, 8, muted[1], 16);
    expectColour(image, 8, 56, muted[2], 16);
    expectColour(image, 56, 56, muted[3], 16);
  });

  it('converts an image with a Display P3 ICC profile to sRGB', async () => {
    const p3 = await fromRgb(solid(48, 48, [200, 30, 40])).withIccProfile('p3').png().toBuffer();
    // The stored values are P3 (about 184,50,47): a decoder that ignored the profile would return those.
    const stored = await sharp(p3, { ignoreIcc: true }).raw().toBuffer();
    expect(colourDistance([stored[0]!, stored[1]!, stored[2]!], [200, 30, 40])).toBeGreaterThan(10);
    const image = await decodeImage(p3, limits);
    expectColour(image, 10, 10, [200, 30, 40], 2);
  });

  it('reduces a 16-bit PNG to 8 bits', async () => {
    const bytes = await png16(40, 40, [200, 30, 120]);
    const header = await sharp(bytes).metadata();
    expect([header.depth, header.bitsPerSample]).toEqual(['ushort', 16]);
    const image = await decodeImage(bytes, limits);
    expectRgbShape(image, 40, 40);
    expectColour(image, 20, 20, [200, 30, 120], 0);
  });

  it('expands a greyscale JPEG to three equal channels', async () => {
    const grey = await fromRgb(solid(40, 40, [90, 90, 90])).toColourspace('b-w').jpeg().toBuffer();
    expect((await sharp(grey).metadata()).channels).toBe(1);
    const image = await decodeImage(grey, limits);
    expectRgbShape(image, 40, 40);
    const [r, g, b] = pixelAt(image, 20, 20);
    expect(r).toBe(g);
    expect(g).toBe(b);
    expect(Math.abs(r - 90)).toBeLessThanOrEqual(2);
  });

  it('expands a palette PNG', async () => {
    const palette = await fromRgb(quadrants(64, 64)).png({ palette: true }).toBuffer();
    expect((await sharp(palette).metadata()).isPalette).toBe(true);
    const image = await decodeImage(palette, limits);
    expectColour(image, 8, 8, RED, 2);
    expectColour(image, 56, 56, YELLOW, 2);
  });

  it('flattens alpha onto white, or onto the background asked for', async () => {
    const png = await halfTransparentPng(64, 32, [255, 0, 0], 128);
    const onWhite = await decodeImage(png, limits);
    expectRgbShape(onWhite, 64, 32);
    expectColour(onWhite, 10, 10, [255, 127, 127], 1); // half red over white
    expectColour(onWhite, 50, 10, [255, 255, 255], 0); // transparent -> background
    const onBlack = await decodeImage(png, { ...limits, background: { r: 0, g: 0, b: 0 } });
    expectColour(onBlack, 10, 10, [128, 0, 0], 1);
    expectColour(onBlack, 50, 10, [0, 0, 0], 0);
  });

  it('flattens alpha in grey+alpha and 16-bit RGBA PNGs too', async () => {
    const rgba = Buffer.alloc(40 * 40 * 4);
    for (let i = 0; i < 40 * 40; i++) rgba.set([0, 0, 255, i % 40 < 20 ? 255 : 0], i * 4);
    const source = () => sharp(rgba, { raw: { width: 40, height: 40, channels: 4 } });
    const greyAlpha = await source().toColourspace('b-w').png().toBuffer();
    const rgba16 = await source().toColourspace('rgb16').png().toBuffer();
    expect((await sharp(greyAlpha).metadata()).channels).toBe(2);
    expect((await sharp(rgba16).metadata()).space).toBe('rgb16');
    for (const bytes of [greyAlpha, rgba16]) {
      const image = await decodeImage(bytes, limits);
      expectRgbShape(image, 40, 40);
      expectColour(image, 30, 5, [255, 255, 255], 0);
    }
    expectColour(await decodeImage(rgba16, limits), 5, 5, [0, 0, 255], 0);
  });

  it('takes the first frame of an animated GIF and says so', async () => {
    const gif = await animatedGif(40, 30, [RED, GREEN, BLUE]);
    expect((await sharp(gif).metadata()).pages).toBe(3);
    const image = await decodeImage(gif, limits, 'style');
    expectRgbShape(image, 40, 30);
    expectColour(image, 20, 15, RED, 8);
    expect(image.note).toBe('The style image is animated; I used its first frame.');
  });

  it('keeps a very wide panorama whole', async () => {
    const panorama = await fromRgb(quadrants(6000, 150)).jpeg().toBuffer();
    const image = await decodeImage(panorama, limits);
    expectRgbShape(image, 6000, 150);
    expectColour(image, 10, 10, RED, 6);
    expectColour(image, 5990, 140, YELLOW, 6);
  });
});

describe('decodeLimitsFromConfig', () => {
  it('maps the image settings', () => {
    const config = loadConfig({ MAX_UPLOAD_BYTES: '4096', MAX_INPUT_PIXELS: '2048', IMAGE_FORMATS: 'png,tiff' });
    const expected = { maxBytes: 4096, maxPixels: 2048, formats: ['png', 'tiff'] };
    expect(decodeLimitsFromConfig(config.images)).toEqual(expected);
  });
});
