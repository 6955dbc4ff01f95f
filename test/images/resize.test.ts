import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  ExtremeAspectRatioError,
  ImageTooSmallError,
  decodeContentImage,
  decodeImage,
  decodeStyleImage,
  fitToLongSide,
  sizeStyleImage,
  type DecodeLimits,
  type RgbImage,
} from '../../src/images/index.ts';
import {
  BLUE,
  GREEN,
  RED,
  YELLOW,
  colourDistance,
  fromRgb,
  jpegWithOrientation,
  pixelAt,
  quadrants,
  randomBytes,
  solid,
  type Colour,
} from './corpus.ts';

const limits: DecodeLimits = { maxBytes: 20 * 1024 * 1024, maxPixels: 50_000_000, formats: ['jpeg', 'png'] };

function expectQuadrants(image: RgbImage, tolerance: number): void {
  const { width: w, height: h } = image;
  const probes: [number, number, Colour][] = [
    [Math.floor(w / 4), Math.floor(h / 4), RED],
    [Math.floor((3 * w) / 4), Math.floor(h / 4), GREEN],
    [Math.floor(w / 4), Math.floor((3 * h) / 4), BLUE],
    [Math.floor((3 * w) / 4), Math.floor((3 * h) / 4), YELLOW],
  ];
  for (const [x, y, colour] of probes) {
    expect(colourDistance(pixelAt(image, x, y), colour), `at ${x},${y}`).toBeLessThanOrEqual(tolerance);
  }
}

function meanAbsoluteDifference(a: RgbImage, b: RgbImage): number {
  expect([a.width, a.height]).toEqual([b.width, b.height]);
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) sum += Math.abs(a.data[i]! - b.data[i]!);
  return sum / a.data.length;
}

describe('fitToLongSide', () => {
  it('shrinks to the requested long side, keeping aspect and content in place', async () => {
    const { image, note } = await fitToLongSide(quadrants(800, 600), 200, 1024);
    expect([image.width, image.height, image.data.length]).toEqual([200, 150, 200 * 150 * 3]);
    expect(note).toBeUndefined();
    expectQuadrants(image, 2);
  });

  it('returns the same image when it already has the size', async () => {
    const input = quadrants(512, 256);
    const { image } = await fitToLongSide(input, 512, 1024);
    expect(image).toBe(input);
  });

  it('enlarges a small image and says so', async () => {
    const { image, note } = await fitToLongSide(quadrants(64, 48), 512, 1024, 'content');
    expect([image.width, image.height]).toEqual([512, 384]);
    expect(note).toContain('enlarged it to 512×384');
    expectQuadrants(image, 2);
  });

  it('clamps to the maximum', async () => {
    const { image, note } = await fitToLongSide(quadrants(3000, 1000), 4000, 600);
    expect([image.width, image.height]).toEqual([600, 200]);
    expect(note).toContain('600 pixels');
  });

  it('refuses a 1×1 image', async () => {
    await expect(fitToLongSide(solid(1, 1, RED), 512, 1024)).rejects.toThrow(ImageTooSmallError);
  });
});

describe('sizeStyleImage', () => {
  it('scales the style to the output long side times the style scale', async () => {
    const style = await sizeStyleImage(quadrants(600, 900), { width: 512, height: 384 }, 0.5);
    expect([style.width, style.height]).toEqual([171, 256]);
    expectQuadrants(style, 2);
  });
});

describe('decoding straight to the output size', () => {
  it('gives the same size and nearly the same pixels as decoding in full and then resizing', async () => {
    const photo = await fromRgb(quadrants(2400, 1800)).jpeg({ quality: 90 }).toBuffer();
    const direct = await decodeContentImage(photo, limits, { requested: 512, max: 1024 });
    expect([direct.width, direct.height]).toEqual([512, 384]);
    expect([direct.originalWidth, direct.originalHeight]).toEqual([2400, 1800]);
    expect(direct.note).toBeUndefined();
    expectQuadrants(direct, 3);

    // Fine detail is where shrinking inside the JPEG decoder could differ from a full decode.
    const detailed = await sharp(randomBytes(2000 * 1500 * 3), { raw: { width: 2000, height: 1500, channels: 3 } })
      .blur(1.5)
      .jpeg({ quality: 90 })
      .toBuffer();
    const fast = await decodeContentImage(detailed, limits, { requested: 512, max: 1024 });
    const { image: viaFull } = await fitToLongSide(await decodeImage(detailed, limits), 512, 1024);
    expect(meanAbsoluteDifference(fast, viaFull)).toBeLessThan(1.5);
  });

  it('sizes after applying EXIF orientation', async () => {
    const jpeg = await jpegWithOrientation(quadrants(640, 320), 6);
    const image = await decodeContentImage(jpeg, limits, { requested: 128, max: 1024 });
    expect([image.width, image.height]).toEqual([64, 128]);
    expect([image.originalWidth, image.originalHeight]).toEqual([320, 640]);
    // Orientation 6: the stored bottom-left (BLUE) shows at the top-left.
    expect(colourDistance(pixelAt(image, 8, 8), BLUE)).toBeLessThanOrEqual(6);
  });

  it('refuses a 1×1 upload with a message', async () => {
    const dot = await fromRgb(solid(1, 1, RED)).png().toBuffer();
    await expect(decodeContentImage(dot, limits, { requested: 512, max: 1024 })).rejects.toThrow(
      'The content image is only 1×1 pixels. Please upload one at least 32 pixels on each side.',
    );
  });

  it('keeps a wide panorama at least 32 px high, or refuses one too thin', async () => {
    const panorama = await fromRgb(quadrants(6000, 300)).jpeg().toBuffer();
    const wide = await decodeContentImage(panorama, limits, { requested: 512, max: 1024 });
    expect([wide.width, wide.height]).toEqual([640, 32]);
    expect(wide.note).toBe('The result is 640×32 so that every side is at least 32 pixels.');
    expectQuadrants(wide, 8);

    const strip = await fromRgb(quadrants(8000, 100)).png().toBuffer();
    await expect(decodeContentImage(strip, limits, { requested: 512, max: 1024 })).rejects.toThrow(
      ExtremeAspectRatioError,
    );
  });

  it('sizes a style upload for the output', async () => {
    const art = await fromRgb(quadrants(1200, 900)).png().toBuffer();
    const style = await decodeStyleImage(art, limits, { width: 512, height: 288 }, 1.25);
    expect([style.width, style.height]).toEqual([640, 480]);
    expectQuadrants(style, 2);
  });
});
