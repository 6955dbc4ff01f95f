/**
 * Image pipeline benchmark: `npx tsx scripts/bench-images.ts [runs]`.
 *
 * Times decoding a 12-megapixel JPEG (tubingen.jpg from ../shared, upscaled) to 512 px through the pipeline,
 * next to bare sharp doing the least it can (the floor) and Pillow when python3 has it, in the same run, and
 * reports ratios. Peak memory is measured in child processes, one per case, from the kernel's high-water mark.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import {
  decodeContentImage,
  decodeImage,
  encodeFinal,
  encodePreview,
  fitToLongSide,
  type DecodeLimits,
} from '../src/images/index.ts';
import { pngBomb } from '../test/images/corpus.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const SOURCE = path.resolve(here, '../../shared/images/tubingen.jpg');
const limits: DecodeLimits = { maxBytes: 20 * 1024 * 1024, maxPixels: 50_000_000, formats: ['jpeg', 'png'] };
const size = { requested: 512, max: 1024 };

async function twelveMegapixelJpeg(): Promise<Buffer> {
  return sharp(SOURCE).resize(4000, 3000, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer();
}

interface Timing {
  median: number;
  min: number;
}

/**
 * Runs the variants interleaved (A B C A B C ...) so that other load on the machine hits them alike, after one
 * warm-up each, and returns each one's median and minimum.
 */
async function timeInterleaved(runs: number, variants: Record<string, () => Promise<unknown>>) {
  const samples: Record<string, number[]> = {};
  for (const [name, work] of Object.entries(variants)) {
    await work();
    samples[name] = [];
  }
  for (let i = 0; i < runs; i++) {
    for (const [name, work] of Object.entries(variants)) {
      const start = performance.now();
      await work();
      samples[name]!.push(performance.now() - start);
    }
  }
  const result: Record<string, Timing> = {};
  for (const [name, times] of Object.entries(samples)) {
    times.sort((a, b) => a - b);
    result[name] = { median: times[Math.floor(times.length / 2)]!, min: times[0]! };
  }
  return result;
}

/** Pillow's best path for the same job: draft() shrinks in the JPEG decoder, then a Lanczos resize. */
function pillow(file: string, runs: number): Timing | undefined {
  const script = `
import sys, time
from PIL import Image
def once():
    im = Image.open(sys.argv[1]); im.draft('RGB', (512, 384)); im = im.convert('RGB').resize((512, 384), Image.LANCZOS)
    return im.tobytes()
once(); times = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter(); once(); times.append((time.perf_counter() - t) * 1000)
times.sort(); print(times[len(times) // 2], times[0])
`;
  try {
    const out = execFileSync('/usr/bin/python3', ['-c', script, file, String(runs)], { encoding: 'utf8' });
    const [median, min] = out.trim().split(' ').map(Number);
    return { median: median!, min: min! };
  } catch {
    return undefined;
  }
}

const peakMiB = () => process.resourceUsage().maxRSS / 1024;
const print = (line: string) => process.stdout.write(`${line}\n`);

/** Child mode: decode one input file one way and print how far the peak RSS rose above the RSS before it. */
async function child(how: string, file: string): Promise<void> {
  const bytes = await readFile(file);
  const before = process.memoryUsage.rss() / 1024 / 1024;
  if (how === 'full') await decodeImage(bytes, limits).catch((e: unknown) => e);
  if (how === 'direct') await decodeContentImage(bytes, limits, size).catch((e: unknown) => e);
  process.stdout.write(JSON.stringify({ rise: peakMiB() - before, peak: peakMiB() }));
}

function inChild(how: string, file: string): { rise: number; peak: number } {
  const args = [...process.execArgv, fileURLToPath(import.meta.url), '--child', how, file];
  const result = spawnSync(process.execPath, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`child ${how} ${file} failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as { rise: number; peak: number };
}

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 15);
  if (!existsSync(SOURCE)) {
    print(`skipped: ${SOURCE} is missing (the shared test images are not beside the repository)`);
    return;
  }
  const jpeg = await twelveMegapixelJpeg();
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-images-'));
  try {
    const jpegFile = path.join(dir, 'photo.jpg');
    const bombFile = path.join(dir, 'bomb.png');
    writeFileSync(jpegFile, jpeg);
    writeFileSync(bombFile, await pngBomb(30_000, 30_000));
    print(`12 MP JPEG: 4000×3000, ${(jpeg.length / 1024 / 1024).toFixed(2)} MiB; ${runs} interleaved runs each`);
    print(`sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}, concurrency ${sharp.concurrency()}`);

    const timings = await timeInterleaved(runs, {
      'bare sharp resize (floor: no checks)': () =>
        sharp(jpeg).resize(512, 384, { fit: 'fill', kernel: 'lanczos3' }).raw().toBuffer(),
      'decodeContentImage (all checks, one pass)': () => decodeContentImage(jpeg, limits, size),
      'decodeImage + fitToLongSide (full decode)': async () =>
        fitToLongSide(await decodeImage(jpeg, limits), size.requested, size.max),
    });
    const reference = pillow(jpegFile, runs);
    if (reference) timings['Pillow 9 draft + LANCZOS (python3)'] = reference;
    const floor = timings['bare sharp resize (floor: no checks)']!;
    print('\ndecode + resize a 12 MP JPEG to 512×384          median    min   median/floor');
    for (const [name, t] of Object.entries(timings)) {
      const ratio = (t.median / floor.median).toFixed(2);
      print(`${name.padEnd(46)} ${t.median.toFixed(1).padStart(7)} ${t.min.toFixed(1).padStart(6)}   ${ratio}×`);
    }

    const result = await decodeContentImage(jpeg, limits, { requested: 1024, max: 1024 });
    const preview = await encodePreview(result);
    const final = await encodeFinal(result, 10 * 1024 * 1024);
    const encoding = await timeInterleaved(runs, {
      preview: () => encodePreview(result),
      final: () => encodeFinal(result, 10 * 1024 * 1024),
    });
    print(`\nencoding a ${result.width}×${result.height} result (median ms)`);
    const kib = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
    print(`encodePreview        ${encoding.preview!.median.toFixed(1).padStart(6)}  ` +
      `${preview.format} ${preview.width}×${preview.height}, ${kib(preview.bytes.length)}`);
    print(`encodeFinal(10 MiB)  ${encoding.final!.median.toFixed(1).padStart(6)}  ` +
      `${final.format} ${final.width}×${final.height}, ${kib(final.bytes.length)}`);

    print('\npeak RSS rise while decoding (one fresh process each)');
    for (const [name, how, file] of [
      ['30000×30000 PNG bomb, decodeImage', 'full', bombFile],
      ['12 MP JPEG, decodeImage (full size)', 'full', jpegFile],
      ['12 MP JPEG, decodeContentImage (512 px)', 'direct', jpegFile],
    ] as const) {
      const { rise, peak } = inChild(how, file);
      print(`${name.padEnd(42)} +${rise.toFixed(0).padStart(4)} MiB  (process peak ${peak.toFixed(0)} MiB)`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const childIndex = process.argv.indexOf('--child');
await (childIndex >= 0 ? child(process.argv[childIndex + 1] ?? '', process.argv[childIndex + 2] ?? '') : main());
