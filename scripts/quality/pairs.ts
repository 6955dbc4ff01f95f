/**
 * Quality over many image pairs, for choosing and checking the engine's defaults: stylizes every photo × artwork
 * pair of ../shared/images (or the ones named) at one size with one set of settings, on one engine, then scores
 * every result with ../shared/tools/judge.py. Prints a JSON line per pair and a Markdown table with the spread.
 * Not part of the app; images stay out of the repository.
 *
 *   npx tsx scripts/quality/pairs.ts --size 256 [--set '{"strength":60}'] [--backend onnx] [--threads 2]
 *     [--pairs tubingen+starry_night,golden_gate+the_scream] [--snap 10,20,30] [--out /tmp/pairs] [--side 256]
 *
 * --snap also judges the image at those iterations (the current scale's image, as the judge enlarges it), to
 * find the time at which a run first reaches the bar (style_rel ≤ 0.05 with content_rel ≤ 0.85).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import type { BackendChoice } from '../../src/config/index.ts';
import { createEngine, type PresetName, type StylizeSettings } from '../../src/engine/index.ts';
import type { RgbImage } from '../../src/images/rgb-image.ts';
import { loadWeights } from '../../src/weights/index.ts';

const SHARED = path.resolve(import.meta.dirname, '../../../shared');
const PHOTOS = ['tubingen', 'golden_gate', 'hoovertowernight'];
const ARTWORKS = ['starry_night', 'the_scream', 'shipwreck', 'woman-with-hat-matisse', 'picasso_selfport1907', 'escher_sphere'];
const BAR = { style: 0.05, content: 0.85 };

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '256' },
    side: { type: 'string' },
    preset: { type: 'string', default: 'default' },
    set: { type: 'string', default: '{}' },
    pairs: { type: 'string' },
    backend: { type: 'string', default: 'onnx' },
    threads: { type: 'string', default: '2' },
    snap: { type: 'string', default: '' },
    out: { type: 'string', default: path.join(os.tmpdir(), 'pairs') },
    label: { type: 'string', default: '' },
    weights: { type: 'string', default: path.join(SHARED, 'vgg19-uint8') },
  },
});

const imagePath = (name: string) => (name.includes('/') ? name : path.join(SHARED, 'images', `${name}.jpg`));
const size = Number(values.size);
const side = values.side ?? String(Math.min(size, 512));
const pairs = values.pairs
  ? values.pairs.split(',').map((p) => p.split('+') as [string, string])
  : PHOTOS.flatMap((photo) => ARTWORKS.map((art) => [photo, art] as [string, string]));
const settings = JSON.parse(values.set) as Partial<StylizeSettings>;
const snapAt = new Set(values.snap.split(',').filter(Boolean).map(Number));
mkdirSync(values.out, { recursive: true });

async function load(file: string, longSide: number): Promise<RgbImage> {
  const { data, info } = await sharp(file)
    .removeAlpha()
    .toColourspace('srgb')
    .resize({ width: longSide, height: longSide, fit: 'inside', kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

const save = (image: RgbImage, file: string) =>
  sharp(Buffer.from(image.data), { raw: { width: image.width, height: image.height, channels: 3 } }).png().toFile(file);

interface Score {
  style_rel: number;
  content_rel: number;
}

/**
 * judge.py on many images in one Python process: the script itself runs once per image (runpy), only the import
 * of torch is shared, which is most of a judge call's 10 s.
 */
function judgeAll(items: readonly { content: string; style: string; file: string }[]): Score[] {
  const runner = [
    'import io, json, runpy, sys, contextlib',
    'for line in sys.stdin:',
    '    sys.argv = json.loads(line)',
    '    out = io.StringIO()',
    '    with contextlib.redirect_stdout(out): runpy.run_path(sys.argv[0], run_name="__main__")',
    '    print(out.getvalue().strip(), flush=True)',
  ].join('\n');
  const script = path.join(SHARED, 'tools/judge.py');
  const input = items
    .map((i) => JSON.stringify([script, values.weights, imagePath(i.content), imagePath(i.style), i.file, side]))
    .join('\n');
  const output = execFileSync('/usr/bin/python3', ['-c', runner], { input, maxBuffer: 1 << 24 }).toString();
  return output.trim().split('\n').map((line) => JSON.parse(line) as Score);
}

const engine = await createEngine(await loadWeights(values.weights), {
  backend: values.backend as BackendChoice,
  threads: Number(values.threads),
});
interface Row {
  pair: string;
  file: string;
  seconds: number;
  iterations: number;
  stopReason: string;
  snaps: { iteration: number; seconds: number; file: string }[];
}
const rows: Row[] = [];
for (const [photo, art] of pairs) {
  const content = await load(imagePath(photo), size);
  const style = await load(imagePath(art), size);
  const file = path.join(values.out, `${photo}+${art}-${size}${values.label ? `-${values.label}` : ''}.png`);
  const snaps: Row['snaps'] = [];
  const pending: Promise<unknown>[] = [];
  const started = performance.now();
  const result = await engine.stylize(
    { content, styles: [{ image: style, weight: 1 }], preset: values.preset as PresetName, settings },
    {
      onProgress: (p) => {
        if (!snapAt.has(p.iteration)) return;
        const snap = file.replace(/\.png$/, `-it${p.iteration}.png`);
        snaps.push({ iteration: p.iteration, seconds: p.elapsedMs / 1000, file: snap });
        pending.push(save(p.preview(), snap));
      },
    },
  );
  const seconds = (performance.now() - started) / 1000;
  await Promise.all([...pending, save(result.image, file)]);
  rows.push({ pair: `${photo}+${art}`, file, seconds, iterations: result.iterations, stopReason: result.stopReason, snaps });
  process.stderr.write(`${photo}+${art}: ${result.iterations} iterations, ${seconds.toFixed(1)} s, ${result.stopReason}\n`);
}
await engine.dispose();

const table = ['| pair | style_rel | content_rel | iterations | stop | seconds | first at the bar |', '| --- | --- | --- | --- | --- | --- | --- |'];
const scores: { style: number; content: number }[] = [];
const judged = judgeAll(
  rows.flatMap((row) => {
    const [content, style] = row.pair.split('+') as [string, string];
    return [row.file, ...row.snaps.map((s) => s.file)].map((file) => ({ content, style, file }));
  }),
);
for (const row of rows) {
  const score = judged.shift()!;
  scores.push({ style: score.style_rel, content: score.content_rel });
  const snapScores = row.snaps.map((s) => ({ ...s, ...judged.shift()! }));
  const first = snapScores.find((s) => s.style_rel <= BAR.style && s.content_rel <= BAR.content);
  process.stdout.write(`${JSON.stringify({ ...row, snaps: snapScores, judge: score })}\n`);
  table.push(
    `| ${row.pair} | ${score.style_rel} | ${score.content_rel} | ${row.iterations} | ${row.stopReason} | ` +
      `${row.seconds.toFixed(1)} | ${first ? `it ${first.iteration}, ${first.seconds.toFixed(1)} s` : row.snaps.length ? 'no' : ''} |`,
  );
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const spread = (xs: number[]) => `median ${median(xs)}, min ${Math.min(...xs)}, max ${Math.max(...xs)}`;
const passing = scores.filter((s) => s.style <= BAR.style && s.content <= BAR.content).length;
process.stdout.write(`\n${table.join('\n')}\n\n`);
process.stdout.write(`settings ${values.set} size ${size} judged at ${side}; ${passing}/${scores.length} at the bar\n`);
process.stdout.write(`style_rel ${spread(scores.map((s) => s.style))}\ncontent_rel ${spread(scores.map((s) => s.content))}\n`);
process.stdout.write(`seconds ${spread(rows.map((r) => Number(r.seconds.toFixed(1))))}\n`);
