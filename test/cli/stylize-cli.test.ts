import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseStylizeArgs, UsageError } from '../../src/cli/stylize-args.ts';
import { hasSharedVgg19, REPO_ROOT, SHARED_IMAGES, SHARED_VGG19 } from '../helpers/shared-data.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'stylebot-cli-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/stylize.ts', ...args],
      { cwd: REPO_ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, DOTENV_CONFIG_PATH: '/nonexistent' } },
      (_error, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }),
    );
  });
}

describe('stylize arguments', () => {
  it('takes Keras spellings and the positional result prefix', () => {
    const options = parseStylizeArgs([
      'base.jpg',
      'style.jpg',
      'results/my_result',
      '--iter',
      '20',
      '--content_weight',
      '0.025',
      '--style_weight',
      '1.0',
      '--tv_weight',
      '1',
    ]);
    expect(options.styles).toEqual(['style.jpg']);
    expect(options.output).toBe(path.resolve('results/my_result.png'));
    expect(options.settings).toMatchObject({ iterations: 20, contentWeight: 0.025, styleWeight: 1, tvWeight: 1 });
  });

  it('maps every engine flag', () => {
    const options = parseStylizeArgs([
      'c.jpg', 's1.jpg', 's2.png', '-o', 'out.webp', '--size', '384', '--optimizer', 'adam', '--learning-rate', '2',
      '--init', 'noise', '--noise-ratio', '0.7', '--pool', 'max', '--style-blend', '1,3', '--style-scale', '0.5',
      '--preserve-colors', 'match', '--seed', '42', '--scales', '3', '--save-every', '100', '--json', '--preset', 'seed',
    ]);
    expect(options).toMatchObject({
      content: 'c.jpg',
      styles: ['s1.jpg', 's2.png'],
      size: 384,
      preset: 'seed',
      blend: [1, 3],
      styleScale: 0.5,
      saveEvery: 100,
      json: true,
      settings: { optimizer: 'adam', learningRate: 2, init: 'noise', noiseRatio: 0.7, pooling: 'max', colors: 'match', seed: 42, scales: 3 },
    });
    expect(parseStylizeArgs(['c.jpg', 's.jpg', '-o', 'o.png', '--preserve-colors']).settings.colors).toBe('luminance');
  });

  it.each([
    [['c.jpg', 's.jpg'], /say where to write the result/],
    [['c.jpg', 's.jpg', '-o', 'out.gif'], /output must end in .png, .jpg or .webp/],
    [['c.jpg', 's.jpg', '-o', 'o.png', '--iter', '0'], /--iter must be a whole number from 1/],
    [['c.jpg', 's.jpg', '-o', 'o.png', '--optimizer', 'sgd'], /--optimizer must be one of lbfgs, adam/],
    [['c.jpg', 's.jpg', '-o', 'o.png', '--style-blend', '1,2'], /--style-blend has 2 weights for 1 style/],
    [['c.jpg', 's.jpg', '-o', 'o.png', '--bogus'], /unknown option '--bogus'/],
  ])('refuses %j', (args, message) => {
    expect(() => parseStylizeArgs(args)).toThrow(UsageError);
    expect(() => parseStylizeArgs(args)).toThrow(message);
  });
});

describe('npm run stylize', () => {
  it('exits 2 with one line and no stack trace for bad arguments, missing files and unreadable images', async () => {
    const notImage = path.join(dir, 'notes.png');
    await writeFile(notImage, 'just some text');
    const cases: [string[], RegExp][] = [
      [['only-one.jpg'], /missing required argument 'style'/],
      [[path.join(dir, 'missing.jpg'), notImage, '-o', path.join(dir, 'o.png')], /There is no file at/],
      [[notImage, notImage, '-o', path.join(dir, 'o.png')], /not an image I can read \(found: text\)/],
    ];
    for (const [args, message] of cases) {
      const result = await run(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
  }, 60_000);

  it.skipIf(!hasSharedVgg19)(
    'stylizes with real weights, saves intermediate images, and ends with one JSON line',
    async () => {
      const out = path.join(dir, 'out.png');
      const result = await run([
        path.join(SHARED_IMAGES, 'tubingen.jpg'),
        path.join(SHARED_IMAGES, 'starry_night.jpg'),
        '-o', out, '--size', '64', '--iter', '6', '--save-every', '3', '--weights', SHARED_VGG19, '--json', '--seed', '1',
      ]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const summary = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
      expect(Object.keys(summary)).toEqual([
        'output', 'width', 'height', 'iterations', 'stopReason', 'strength', 'seconds', 'msPerIter', 'backend', 'loss',
        'initialLoss',
      ]);
      expect(summary).toMatchObject({ output: out, width: 64, height: 48, iterations: 6, stopReason: 'completed', strength: 50 });
      const loss = summary.loss as { total: number; style: number };
      const initial = summary.initialLoss as { total: number; style: number };
      expect(loss.style).toBeLessThan(initial.style);
      const meta = await sharp(out).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['png', 64, 48]);
      expect((await stat(path.join(dir, 'out-3.png'))).size).toBeGreaterThan(0);
    },
    120_000,
  );
});
