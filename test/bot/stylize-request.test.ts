import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { MAX_OUTPUT_SIDE } from '../../src/config/schema.ts';
import {
  InvalidRequestError,
  OPTION_BOUNDS,
  limitsFor,
  validateStylizeOptions,
  type AttachmentInfo,
  type RawStylizeOptions,
} from '../../src/bot/stylize-request.ts';

const GUILD = '123456789012345678';
const config = loadConfig({
  ATTACHMENT_HOSTS: 'cdn.discordapp.com',
  MAX_SIZE: '1024',
  MAX_ITERATIONS: '500',
  GUILD_LIMITS: `{"${GUILD}":{"maxSize":384,"maxIterations":100}}`,
});
const limits = limitsFor(config, null);

const attachment = (over: Partial<AttachmentInfo> = {}): AttachmentInfo => ({
  url: 'https://cdn.discordapp.com/attachments/1/2/photo.jpg',
  name: 'photo.jpg',
  size: 200_000,
  contentType: 'image/jpeg',
  width: 1200,
  height: 800,
  ...over,
});

const options = (over: Partial<RawStylizeOptions> = {}): RawStylizeOptions => ({
  content: attachment(),
  style: attachment({ name: 'art.png', contentType: 'image/png' }),
  style2: null,
  style3: null,
  contentWeight: null,
  styleWeight: null,
  tvWeight: null,
  iterations: null,
  size: null,
  styleBlend: null,
  styleScale: null,
  preserveColors: null,
  seed: null,
  ...over,
});

function refusal(over: Partial<RawStylizeOptions>, l = limits): string {
  try {
    validateStylizeOptions(options(over), l);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidRequestError);
    return (error as InvalidRequestError).userMessage;
  }
  throw new Error('expected a refusal');
}

describe('size choices', () => {
  it('reach exactly the largest size the config accepts', () => {
    expect(Math.max(...OPTION_BOUNDS.sizes)).toBe(MAX_OUTPUT_SIDE);
  });
});

describe('validateStylizeOptions', () => {
  it('fills defaults from the config', () => {
    const input = validateStylizeOptions(options(), limits);
    expect(input.size).toBe(512);
    expect(input.iterations).toBeUndefined();
    expect(input.blend).toEqual([1]);
    expect(input.styleScale).toBe(1);
    expect(input.preserveColors).toBe(false);
    expect(input.styles.map((s) => s.label)).toEqual(['style']);
  });

  it('keeps every style in order with its blend weight', () => {
    const input = validateStylizeOptions(
      options({ style2: attachment(), style3: attachment(), styleBlend: '1, 1, 2' }),
      limits,
    );
    expect(input.styles.map((s) => s.label)).toEqual(['style', 'style2', 'style3']);
    expect(input.blend).toEqual([1, 1, 2]);
  });

  it.each<[Partial<RawStylizeOptions>, RegExp]>([
    [{ content: null }, /attach a content photo/],
    [{ style: null }, /attach a style image/],
    [{ content: attachment({ url: 'https://evil.example/x.jpg' }) }, /content attachment is not hosted on Discord/],
    [{ content: attachment({ url: 'not a url' }) }, /invalid link/],
    [{ style: attachment({ size: 30 * 1024 * 1024 }) }, /style attachment is 30 MB; the limit is 20 MB/],
    [{ style: attachment({ size: 0 }) }, /style attachment is empty/],
    [{ content: attachment({ contentType: 'text/plain' }) }, /not an image I accept \(text\/plain\).*JPEG, PNG, WebP, GIF or AVIF/],
    [{ content: attachment({ contentType: 'image/svg+xml' }) }, /image\/svg\+xml/],
    [{ content: attachment({ width: 30000, height: 30000 }) }, /30000×30000, more than 50 megapixels/],
    [{ size: 2048 }, /size must be between 64 and 1024/],
    [{ iterations: 501 }, /Iterations must be between 1 and 500/],
    [{ styleBlend: '1,2' }, /style_blend needs 1 non-negative number/],
    [{ styleBlend: 'a' }, /style_blend needs 1/],
    [{ style2: attachment(), styleBlend: '0,0' }, /at least one must be above 0/],
    [{ style2: attachment(), styleBlend: '1,-1' }, /style_blend needs 2/],
    [{ style2: attachment(), styleBlend: '1e308,1e308' }, /Each style_blend value must be between 0 and 100/],
    [{ style2: attachment(), styleBlend: '1,100.5' }, /Each style_blend value must be between 0 and 100/],
    [{ styleBlend: 'Infinity' }, /style_blend needs 1 non-negative number/],
    [{ styleWeight: -1 }, /style_weight must be between 0 and/],
    [{ contentWeight: Number.NaN }, /content_weight must be between/],
    [{ styleScale: 10 }, /style_scale must be between 0.25 and 2/],
    [{ seed: 1.5 }, /seed must be a whole number/],
  ])('refuses %o', (over, expected) => {
    expect(refusal(over)).toMatch(expected);
  });

  it('accepts style_blend values up to 100, zeros among them, and keeps them as given', () => {
    const input = validateStylizeOptions(
      options({ style2: attachment(), style3: attachment(), styleBlend: '0, 100, 0.5' }),
      limits,
    );
    expect(input.blend).toEqual([0, 100, 0.5]);
  });

  it('applies per-guild caps', () => {
    const guildLimits = limitsFor(config, GUILD);
    expect(guildLimits.maxSize).toBe(384);
    expect(guildLimits.defaultSize).toBe(384);
    expect(refusal({ size: 512 }, guildLimits)).toMatch(/between 64 and 384 pixels on this server/);
    expect(refusal({ iterations: 101 }, guildLimits)).toMatch(/between 1 and 100 on this server/);
    expect(validateStylizeOptions(options({ iterations: 100 }), guildLimits).iterations).toBe(100);
  });

  it('trusts bytes, not a missing content type', () => {
    expect(validateStylizeOptions(options({ content: attachment({ contentType: null }) }), limits).content.label).toBe(
      'content',
    );
  });
});
