/**
 * Quality runs for tuning the engine's defaults: stylizes one content/style pair at a size with a preset and
 * overrides, writes the PNG, and scores it with ../shared/tools/judge.py. Not part of the app; images stay out
 * of the repository.
 *
 *   npx tsx scripts/quality/run.ts --content tubingen --style starry_night --size 256 \
 *     [--preset default] [--set '{"iterations":150}'] [--out /tmp/out.png] [--backend wasm] [--every 25]
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import type { BackendChoice } from '../../src/config/index.ts';
import { createEngine, type PresetName, type StylizeSettings } from '../../src/engine/index.ts';
import type { RgbImage } from '../../src/images/rgb-image.ts';
import { loadWeights } from '../../src/weights/index.ts';

const SHARED = path.resolve(import.meta.dirname, '../../../shared');
const { values } = parseArgs({
  options: {
    content: { type: 'string', default: 'tubingen' },
    style: { type: 'string', default: 'starry_night' },
    size: { type: 'string', default: '256' },
    preset: { type: 'string', default: 'default' },
    set: { type: 'string', default: '{}' },
    out: { type: 'string' },
    backend: { type: 'string', default: 'wasm' },
    every: { type: 'string', default: '0' },
    snap: { type: 'string', default: '' },
    weights: { type: 'string', default: path.join(SHARED, 'vgg19-uint8') },
  },
});

const imagePath = (name: string) => (name.includes('/') ? name : path.join(SHARED, 'images', `${name}.jpg`));

async function load(file: string, longSide: number): Promise<RgbImage> {
  const { data, info } = await sharp(file)
    .removeAlpha()
    .toColourspace('srgb')
    .resize({ width: longSide, height: longSide, fit: 'inside', kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

const size = Number(values.size);
const out = values.out ?? `/tmp/quality-${values.content}-${values.style}-${size}.png`;
const engine = await createEngine(await loadWeights(values.weights), { backend: values.backend as BackendChoice });
const content = await load(imagePath(values.content), size);
const style = await load(imagePath(values.style), size);
const every = Number(values.every);
const snapAt = new Set(values.snap.split(',').filter(Boolean).map(Number));
const snaps: { iteration: number; seconds: number; file: string; image: RgbImage }[] = [];
const started = performance.now();
const cpu = process.cpuUsage();
const result = await engine.stylize(
  { content, styles: [{ image: style, weight: 1 }], preset: values.preset as PresetName, settings: JSON.parse(values.set) as Partial<StylizeSettings> },
  {
    onProgress: (p) => {
      if (snapAt.has(p.iteration)) {
        const file = out.replace(/\.png$/, `-it${p.iteration}.png`);
        snaps.push({ iteration: p.iteration, seconds: p.elapsedMs / 1000, file, image: p.preview() });
      }
      if (every > 0 && (p.iteration % every === 0 || p.iteration === 1)) {
        const l = p.loss;
        process.stdout.write(
          `it ${p.iteration}/${p.total} scale ${p.scale?.index}:${p.scale?.width}x${p.scale?.height} total ${l.total.toExponential(3)} ` +
            `content ${l.content.toExponential(3)} style ${l.style.toExponential(3)} tv ${l.tv.toExponential(3)} ` +
            `t=${(p.elapsedMs / 1000).toFixed(1)}s eta=${p.etaMs === undefined ? '?' : (p.etaMs / 1000).toFixed(0)}s\n`,
        );
      }
    },
  },
);
const used = process.cpuUsage(cpu);
await sharp(Buffer.from(result.image.data), { raw: { width: result.image.width, height: result.image.height, channels: 3 } })
  .png()
  .toFile(out);
const judge = (file: string) =>
  JSON.parse(
    execFileSync('/usr/bin/python3', [
      path.join(SHARED, 'tools/judge.py'),
      values.weights,
      imagePath(values.content),
      imagePath(values.style),
      file,
      String(size),
    ]).toString(),
  ) as unknown;
for (const snap of snaps) {
  const image = snap.image;
  await sharp(Buffer.from(image.data), { raw: { width: image.width, height: image.height, channels: 3 } })
    .png()
    .toFile(snap.file);
  process.stdout.write(`${JSON.stringify({ iteration: snap.iteration, seconds: snap.seconds, judge: judge(snap.file) })}\n`);
}
const judged = judge(out);
process.stdout.write(
  `${JSON.stringify({
    out,
    preset: values.preset,
    set: JSON.parse(values.set) as unknown,
    iterations: result.iterations,
    stopReason: result.stopReason,
    wallSeconds: Math.round((performance.now() - started) / 100) / 10,
    cpuSeconds: Math.round((used.user + used.system) / 1e5) / 10,
    judge: judged,
  })}\n`,
);
await engine.dispose();
process.stderr.write(`peak RSS ${Math.round(process.resourceUsage().maxRSS / 1024)} MB\n`);
