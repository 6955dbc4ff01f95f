import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { MAX_OUTPUT_SIDE } from '../../src/config/schema.ts';
import { PRESETS } from '../../src/engine/presets.ts';
import {
  InvalidRequestError,
  SIZE_CHOICES,
  buildStylizeCommand,
  describeOptions,
  limitsFor,
  validateStylizeOptions,
  type AttachmentInfo,
  type RawOptions,
} from '../../src/bot/stylize-options.ts';

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

/** The request in the words of the old option reader: attachments by label, the rest by camel-cased name. */
interface Over {
  content?: AttachmentInfo | null;
  style?: AttachmentInfo | null;
  style2?: AttachmentInfo | null;
  style3?: AttachmentInfo | null;
  contentWeight?: number;
  styleWeight?: number;
  tvWeight?: number;
  iterations?: number;
  strength?: number;
  size?: number;
  styleBlend?: string;
  styleScale?: number;
  preserveColors?: boolean;
  seed?: number;
  preset?: string;
  noise?: number;
}

const NAMES = {
  contentWeight: 'content_weight',
  styleWeight: 'style_weight',
  tvWeight: 'tv_weight',
  iterations: 'iterations',
  strength: 'strength',
  size: 'size',
  styleBlend: 'style_blend',
  styleScale: 'style_scale',
  preserveColors: 'preserve_colors',
  seed: 'seed',
  preset: 'preset',
  noise: 'noise',
} as const;

const options = (over: Over = {}): RawOptions => {
  const raw: RawOptions = { attachments: {}, values: {} };
  const attachments = { content: attachment(), style: attachment({ name: 'art.png', contentType: 'image/png' }), ...over };
  for (const label of ['content', 'style', 'style2', 'style3'] as const) {
    const info = attachments[label];
    if (info) raw.attachments[label] = info;
  }
  for (const [key, name] of Object.entries(NAMES)) {
    const value = over[key as keyof typeof NAMES];
    if (value !== undefined) raw.values[name] = value;
  }
  return raw;
};

function refusal(over: Over, l = limits): string {
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
    expect(Math.max(...SIZE_CHOICES)).toBe(MAX_OUTPUT_SIDE);
  });
});

describe('validateStylizeOptions', () => {
  it('fills defaults from the config', () => {
    const input = validateStylizeOptions(options(), limits);
    expect(input.size).toBe(512);
    expect(input.iterations).toBe(PRESETS.default.iterations);
    expect(input.blend).toEqual([1]);
    expect(input.styleScale).toBe(1);
    expect(input.settings).toEqual({});
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

  it('takes a preset instead of the style upload, first in the blend, with style2 and style3 blended in', () => {
    const input = validateStylizeOptions(options({ style: null, preset: ' udnie ', style2: attachment(), styleBlend: '3,1' }), limits);
    expect(input.preset).toBe('udnie');
    expect(input.styles.map((s) => s.label)).toEqual(['style2']);
    expect(input.blend).toEqual([3, 1]);
    expect(refusal({ style: null, preset: 'udnie', style2: attachment(), styleBlend: '1' })).toMatch(/style_blend needs 2/);
  });

  it.each<[Over, RegExp]>([
    [{ content: null }, /attach a content photo/],
    [{ style: null }, /choose a style: upload an artwork as `style`, or pick one from `preset`/],
    [{ preset: 'starry-night' }, /either `style` \(an upload\) or `preset`, not both/],
    [{ style: null, preset: '   ' }, /choose a style/],
    [{ style: null, preset: 'x'.repeat(101) }, /preset must be text of at most 100 characters/],
    [{ noise: 1.5 }, /noise must be between 0 and 1/],
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
    [{ contentWeight: Number.NaN }, /content_weight must be a number/],
    [{ size: 1.5 }, /size must be a whole number/],
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

describe('the one table of /stylize options', () => {
  it('builds the slash command: names, types, required images and ranges from the caps', () => {
    const json = buildStylizeCommand(config).toJSON();
    const byName = Object.fromEntries((json.options ?? []).map((o) => [o.name, o as unknown as Record<string, unknown>]));
    expect(Object.keys(byName)).toEqual([
      'content',
      'style',
      'preset',
      'style2',
      'style3',
      'size',
      'strength',
      'iterations',
      'content_weight',
      'style_weight',
      'tv_weight',
      'style_blend',
      'style_scale',
      'preserve_colors',
      'noise',
      'seed',
    ]);
    expect(byName.content).toMatchObject({ type: 11, required: true });
    expect(byName.style).toMatchObject({ type: 11, required: false });
    expect(byName.preset).toMatchObject({ type: 3, required: false, autocomplete: true, max_length: 100 });
    expect(byName.noise).toMatchObject({ type: 10, min_value: 0, max_value: 1 });
    expect(byName.style2).toMatchObject({ type: 11, required: false });
    expect(byName.iterations).toMatchObject({ type: 4, min_value: 1, max_value: 500 });
    expect(byName.strength).toMatchObject({ type: 4, min_value: 0, max_value: 100, required: false });
    expect(byName.style_weight).toMatchObject({ type: 10, min_value: 0, max_value: 1e9 });
    expect((byName.size!.choices as { value: number }[]).map((c) => c.value)).toEqual([128, 256, 384, 512, 768, 1024]);
    expect(byName.style_blend).toMatchObject({ type: 3, max_length: 40 });
  });

  it('turns the chosen options into engine settings and nothing else', () => {
    const choices = validateStylizeOptions(
      options({ strength: 70, contentWeight: 2, styleWeight: 300, tvWeight: 0, seed: 7, preserveColors: true, styleScale: 0.5 }),
      limits,
    );
    expect(choices.settings).toEqual({ strength: 70, contentWeight: 2, styleWeight: 300, tvWeight: 0, seed: 7, colors: 'luminance' });
    expect(choices.styleScale).toBe(0.5);
    expect(validateStylizeOptions(options({ noise: 0.25 }), limits).settings).toEqual({ init: 'noise', noiseRatio: 0.25 });
    expect(validateStylizeOptions(options({ noise: 0 }), limits).settings).toEqual({});
  });

  it('describes a request as the options that repeat it, in the table’s order', () => {
    const settings = {
      iterations: 80,
      strength: 60,
      contentWeight: 5,
      styleWeight: 200,
      tvWeight: 0.001,
      colors: 'luminance' as const,
      init: 'noise' as const,
      noiseRatio: 0.3,
      seed: 42,
    };
    expect(describeOptions({ preset: 'udnie', size: 512, styleScale: 1, blend: [1], settings })).toBe(
      'preset:udnie size:512 strength:60 iterations:80 content_weight:5 style_weight:200 tv_weight:0.001 preserve_colors:true noise:0.3 seed:42',
    );
    const plain = { ...settings, colors: 'none' as const, init: 'content' as const, noiseRatio: 0 };
    expect(describeOptions({ preset: undefined, size: 256, styleScale: 0.5, blend: [1, 3], settings: plain })).toBe(
      'size:256 strength:60 iterations:80 content_weight:5 style_weight:200 tv_weight:0.001 style_blend:1,3 style_scale:0.5 seed:42',
    );
  });

  it('refuses values of the wrong kind that only a hostile client would send', () => {
    const raw = options();
    raw.values.iterations = 'many';
    expect(() => validateStylizeOptions(raw, limits)).toThrow(/iterations must be a number/);
    const flag = options();
    flag.values.preserve_colors = 'yes';
    expect(() => validateStylizeOptions(flag, limits)).toThrow(/preserve_colors must be true or false/);
  });
});
