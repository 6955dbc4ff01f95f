import { describe, expect, it } from 'vitest';
import {
  ExtremeAspectRatioError,
  ImageTooSmallError,
  MAX_STYLE_SIDE,
  MIN_SIDE,
  planFit,
  planStyleSize,
  styleLongSide,
} from '../../src/images/index.ts';

describe('planFit', () => {
  it('makes the long side the requested size and keeps the aspect ratio', () => {
    expect(planFit({ width: 4000, height: 3000 }, 512, 1024)).toEqual({ width: 512, height: 384 });
    expect(planFit({ width: 3000, height: 4000 }, 512, 1024)).toEqual({ width: 384, height: 512 });
    expect(planFit({ width: 1000, height: 1000 }, 700, 1024)).toEqual({ width: 700, height: 700 });
    // 1919/1080 * 512 = 288.07 -> 288
    expect(planFit({ width: 1920, height: 1080 }, 512, 1024)).toEqual({ width: 512, height: 288 });
  });

  it('clamps to the maximum and says so', () => {
    const plan = planFit({ width: 4000, height: 2000 }, 4096, 1024);
    expect(plan).toMatchObject({ width: 1024, height: 512 });
    expect(plan.note).toBe('I made it 1024 pixels on the long side, the most allowed here.');
  });

  it('never goes below the minimum side, even if asked', () => {
    const plan = planFit({ width: 400, height: 300 }, 10, 1024);
    const note = 'The result is 43×32 so that every side is at least 32 pixels.';
    expect(plan).toEqual({ width: 43, height: 32, note });
  });

  it('enlarges small images, with a note only when it shows', () => {
    const slight = planFit({ width: 480, height: 360 }, 512, 1024);
    expect(slight).toEqual({ width: 512, height: 384 });
    const big = planFit({ width: 200, height: 150 }, 512, 1024, 'content');
    expect(big).toMatchObject({ width: 512, height: 384 });
    expect(big.note).toBe(
      'The content image is only 200×150 pixels, so I enlarged it to 512×384; the result may look soft.',
    );
  });

  it('refuses images under 32 px on a side', () => {
    for (const [width, height] of [[1, 1], [31, 500], [500, 31]] as const) {
      const attempt = () => planFit({ width, height }, 512, 1024, 'style');
      expect(attempt).toThrow(ImageTooSmallError);
    }
    expect(() => planFit({ width: 1, height: 1 }, 512, 1024, 'style')).toThrow(
      'The style image is only 1×1 pixels. Please upload one at least 32 pixels on each side.',
    );
    expect(planFit({ width: MIN_SIDE, height: MIN_SIDE }, 64, 1024)).toMatchObject({ width: 64, height: 64 });
  });

  it('widens a thin panorama so that its short side stays at least 32 px', () => {
    const plan = planFit({ width: 4000, height: 200 }, 512, 1024, 'content');
    // 512 long would leave 25.6 px; 32 px short side needs 640 long.
    expect(plan).toMatchObject({ width: 640, height: 32 });
    expect(plan.note).toBe('The result is 640×32 so that every side is at least 32 pixels.');
  });

  it('refuses a panorama too thin to fit the maximum', () => {
    const attempt = () => planFit({ width: 8000, height: 100 }, 512, 1024, 'content');
    expect(attempt).toThrow(ExtremeAspectRatioError);
    expect(attempt).toThrow(
      'The content image is too long and thin (8000×100) to fit in 1024 pixels with every side at least 32. ' +
        'Please crop it closer to a rectangle.',
    );
  });

  it('rejects nonsense arguments as programming errors', () => {
    expect(() => planFit({ width: 100, height: 100 }, Number.NaN, 1024)).toThrow(RangeError);
    expect(() => planFit({ width: 100, height: 100 }, 512, 16)).toThrow(RangeError);
    expect(() => planFit({ width: 0, height: 100 }, 512, 1024)).toThrow(RangeError);
  });
});

describe('planStyleSize', () => {
  it("follows neural-style: the style's long side is the output's long side times the scale", () => {
    expect(styleLongSide({ width: 512, height: 384 }, 1)).toBe(512);
    expect(styleLongSide({ width: 384, height: 512 }, 0.5)).toBe(256);
    expect(planStyleSize({ width: 1000, height: 2000 }, { width: 512, height: 384 }, 1.5)).toEqual({
      width: 384,
      height: 768,
    });
  });

  it('clamps the style size to sane bounds', () => {
    expect(styleLongSide({ width: 1024, height: 1024 }, 10)).toBe(MAX_STYLE_SIDE);
    expect(styleLongSide({ width: 64, height: 64 }, 0.01)).toBe(MIN_SIDE);
    expect(planStyleSize({ width: 4000, height: 3000 }, { width: 1024, height: 768 }, 4)).toEqual({
      width: 2048,
      height: 1536,
    });
  });

  it('refuses tiny or impossibly thin style images and bad scales', () => {
    expect(() => planStyleSize({ width: 20, height: 20 }, { width: 512, height: 512 }, 1)).toThrow(
      'The style image is only 20×20 pixels.',
    );
    expect(() => planStyleSize({ width: 10_000, height: 100 }, { width: 512, height: 512 }, 1)).toThrow(
      ExtremeAspectRatioError,
    );
    expect(() => planStyleSize({ width: 100, height: 100 }, { width: 512, height: 512 }, 0)).toThrow(RangeError);
  });
});
