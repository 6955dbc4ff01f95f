import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { LossSpec } from '../src/engine/compute.ts';
import { randomVggWeights } from '../src/engine/benchmark.ts';
import * as ort from 'onnxruntime-node';
import { createOnnxBackend, type OnnxProvider } from '../src/engine/onnx/backend.ts';
import { GraphBuilder } from '../src/engine/onnx/proto.ts';
import { PRESETS } from '../src/engine/presets.ts';
import { loadWeights } from '../src/weights/index.ts';

/**
 * The ONNX Runtime objective side by side with PyTorch and tfjs-wasm, for the numbers in the ONNX backend's
 * report. Not a test: the machine is shared, so every implementation runs in turn, round after round, each in
 * its own process, and the medians are compared as ratios.
 *
 *   npx tsx scripts/bench-onnx.ts                        # CPU: 128/256/512 px, 1 and 2 threads, torch, wasm
 *   npx tsx scripts/bench-onnx.ts --sizes 256 --rounds 5 --no-wasm
 *   npx tsx scripts/bench-onnx.ts --webgpu --sizes 64,128   # WebGPU on whatever adapter (software allowed)
 *   npx tsx scripts/bench-onnx.ts --child --size 256 --threads 2   # one ONNX measurement, a JSON line
 *     (--pooling max, --spinning, --provider webgpu|cuda, --weights DIR: variants of that measurement)
 *
 * The iteration is `npm run bench`'s: VGG19 through block5_conv1, Gram style losses on block1..5_conv1, content
 * on block4_conv2, TV, the default preset's weights and average pooling, random images, random weights of the
 * real shapes (--weights DIR for real ones; timing does not depend on the values).
 */

const ROOT = path.resolve(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    child: { type: 'boolean', default: false },
    size: { type: 'string', default: '256' },
    sizes: { type: 'string', default: '128,256,512' },
    threads: { type: 'string', default: '1' },
    iters: { type: 'string' },
    warmup: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    provider: { type: 'string', default: 'cpu' },
    webgpu: { type: 'boolean', default: false },
    weights: { type: 'string' },
    spinning: { type: 'boolean', default: false },
    pooling: { type: 'string', default: 'avg' },
    'no-torch': { type: 'boolean', default: false },
    'no-wasm': { type: 'boolean', default: false },
  },
});

interface OnnxResult {
  impl: string;
  size: number;
  threads: number;
  msPerIter: number;
  /** Resident memory after the warm-up and at the end (MB), and the process's peak. */
  rssWarmMB: number;
  rssEndMB: number;
  peakRssMB: number;
  /** Per session: graph writing, encoding, session creation (ms), model size (MB). */
  sessions: { kind: string; graphMs: number; encodeMs: number; createMs: number; modelMB: number }[];
  /** createObjective as a whole: feature sessions, targets, objective session (ms). */
  createObjectiveMs: number;
  /**
   * One run of a graph with the objective's inputs and outputs but next to no computation: what moving the image,
   * the targets and the gradient to and from the device costs per iteration (ms).
   */
  copyMs: number;
  device: string;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mb = (bytes: number) => Math.round(bytes / 2 ** 20);

async function child(): Promise<void> {
  const size = Number(args.size);
  const threads = Number(args.threads);
  const iters = Number(args.iters ?? (size >= 512 ? 3 : 5));
  const warmup = Number(args.warmup);
  const weights = args.weights ? await loadWeights(args.weights) : randomVggWeights('block5_conv1');
  const provider = args.provider as OnnxProvider;
  const backend = await createOnnxBackend(weights, {
    provider,
    threads,
    allowSoftwareAdapter: true,
    spinning: args.spinning,
  });
  const settings = PRESETS.default;
  const loss: LossSpec = {
    content: settings.contentLayers.map((l) => ({ layer: l.layer, weight: l.weight * settings.contentWeight })),
    style: settings.styleLayers.map((l) => ({ layer: l.layer, weight: l.weight * settings.styleWeight })),
    tvWeight: settings.tvWeight,
    pooling: args.pooling === 'max' ? 'max' : 'avg',
    normalization: settings.lossNormalization,
  };
  const random = (seed: number) => {
    let s = seed;
    return Float32Array.from({ length: size * size * 3 }, () => {
      s = (s * 1103515245 + 12345) % 2147483648;
      return (s / 2147483648) * 240 - 120;
    });
  };
  const image = (seed: number) => ({ width: size, height: size, data: random(seed) });
  const t0 = performance.now();
  const objective = await backend.createObjective(loss, { content: image(1), styles: [{ image: image(2), weight: 1 }] });
  const createObjectiveMs = performance.now() - t0;
  const x = random(3);
  const times: number[] = [];
  let rssWarm = 0;
  for (let i = 0; i < warmup + iters; i++) {
    const start = performance.now();
    await objective.evaluate(x);
    if (i >= warmup) times.push(performance.now() - start);
    if (i === warmup - 1 || warmup === 0) rssWarm ||= process.memoryUsage.rss();
  }
  const result: OnnxResult = {
    impl: `onnx-${provider}`,
    size,
    threads,
    msPerIter: Math.round(median(times) * 10) / 10,
    rssWarmMB: mb(rssWarm),
    rssEndMB: mb(process.memoryUsage.rss()),
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    sessions: backend.sessionCosts.map((c) => ({
      kind: c.kind,
      graphMs: Math.round(c.graphMs),
      encodeMs: Math.round(c.encodeMs),
      createMs: Math.round(c.createMs),
      modelMB: Math.round((c.modelBytes / 2 ** 20) * 10) / 10,
    })),
    createObjectiveMs: Math.round(createObjectiveMs),
    copyMs: 0,
    device: backend.info.device,
  };
  objective.dispose();
  await backend.dispose();
  result.copyMs = Math.round((await copyProbe(size, provider, threads)) * 10) / 10;
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** Median time of a run that only moves the default objective's inputs and outputs (see OnnxResult.copyMs). */
async function copyProbe(size: number, provider: OnnxProvider, threads: number): Promise<number> {
  const g = new GraphBuilder('copies');
  const x = g.input('x', [1, size, size, 3]);
  const weights = g.input('weights', [7]);
  const side = size / 8;
  const targets = [
    g.input('content', [1, 512, side, side]),
    ...[64, 128, 256, 512, 512].map((c, i) => g.input(`style_${i}`, [c, c])),
  ];
  const sums = targets.map((t) => g.op('Reshape', [g.op('ReduceSum', [t], { keepdims: 0 }), g.ints('shape', [1])]));
  g.output(g.op('Concat', sums, { axis: 0 }), 'loss', [6]);
  g.output(g.op('Mul', [x, g.op('ReduceSum', [weights], { keepdims: 0 })]), 'grad', [1, size, size, 3]);
  const session = await ort.InferenceSession.create(g.encode(), {
    executionProviders: provider === 'webgpu' ? ['webgpu'] : provider === 'cuda' ? [{ name: 'cuda' }] : ['cpu'],
    intraOpNumThreads: threads,
  });
  const feeds: Record<string, ort.Tensor> = {};
  for (const [i, name] of session.inputNames.entries()) {
    const dims = (session.inputMetadata[i] as { shape: readonly number[] }).shape;
    feeds[name] = new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(0.5), [...dims]);
  }
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    const start = performance.now();
    await session.run(feeds);
    if (i >= 2) times.push(performance.now() - start);
  }
  await session.release();
  return median(times);
}

function run(command: string, commandArgs: string[]): string {
  const result = spawnSync(command, commandArgs, { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 24 });
  if (result.status !== 0) {
    throw new Error(`${command} ${commandArgs.join(' ')} failed (${result.status}): ${result.stderr.slice(-2000)}`);
  }
  return result.stdout;
}

const lastJson = <T>(text: string): T => JSON.parse(text.trim().split('\n').filter((l) => l.startsWith('{')).at(-1)!) as T;

function onnx(size: number, threads: number, provider: string, iters?: number): OnnxResult {
  const extra = [...(args.weights ? ['--weights', args.weights] : []), ...(iters ? ['--iters', String(iters)] : [])];
  const tsx = path.join(ROOT, 'node_modules', '.bin', 'tsx');
  const childArgs = ['scripts/bench-onnx.ts', '--child', '--size', String(size), '--threads', String(threads)];
  return lastJson<OnnxResult>(run(tsx, [...childArgs, '--provider', provider, ...extra]));
}

function torch(size: number, threads: number): number {
  const iters = size >= 512 ? 2 : 3;
  const text = run('/usr/bin/python3', ['../shared/tools/gatys_torch.py', String(size), String(iters), String(threads)]);
  return Number(/ms_per_iter=([\d.]+)/.exec(text)![1]);
}

function wasm(size: number): { msPerIter: number; rssMB: number } {
  const iters = size >= 512 ? 2 : 3;
  const tsx = path.join(ROOT, 'node_modules', '.bin', 'tsx');
  const argv = ['src/cli/bench.ts', '--backend', 'wasm', '--size', String(size), '--iters', String(iters), '--warmup', '1', '--json'];
  return lastJson<{ msPerIter: number; rssMB: number }>(run(tsx, argv));
}

function compare(): void {
  const sizes = args.sizes.split(',').map(Number);
  const rounds = Number(args.rounds);
  const log = (line: string) => process.stdout.write(`${line}\n`);
  for (const size of sizes) {
    const samples: Record<string, number[]> = {};
    const add = (key: string, ms: number) => (samples[key] ??= []).push(ms);
    const onnxRuns: OnnxResult[] = [];
    let wasmRss = 0;
    for (let round = 0; round < rounds; round++) {
      // Alternate the order so that a neighbour's load does not always hit the same implementation.
      const jobs: (() => void)[] = [
        () => {
          const r = onnx(size, 1, 'cpu');
          onnxRuns.push(r);
          add('onnx 1t', r.msPerIter);
        },
        () => {
          const r = onnx(size, 2, 'cpu');
          onnxRuns.push(r);
          add('onnx 2t', r.msPerIter);
        },
        ...(args['no-torch'] ? [] : [() => add('torch 1t', torch(size, 1)), () => add('torch 2t', torch(size, 2))]),
        ...(args['no-wasm']
          ? []
          : [
              () => {
                const r = wasm(size);
                wasmRss = Math.max(wasmRss, r.rssMB);
                add('wasm', r.msPerIter);
              },
            ]),
      ];
      for (const job of round % 2 === 0 ? jobs : [...jobs].reverse()) job();
      log(`${size} px round ${round + 1}: ${Object.entries(samples).map(([k, v]) => `${k} ${v.at(-1)}`).join(' · ')}`);
    }
    const m = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
    const ratio = (a: string, b: string) => (m[a] && m[b] ? (m[a] / m[b]).toFixed(2) : '–');
    log(`\n${size} px, median ms/iteration over ${rounds} rounds:`);
    for (const [key, value] of Object.entries(m)) log(`  ${key.padEnd(9)} ${value.toFixed(0)} ms   (samples ${samples[key]!.join(', ')})`);
    log(
      `  ratios: onnx 1t / wasm ${ratio('onnx 1t', 'wasm')} · onnx 2t / onnx 1t ${ratio('onnx 2t', 'onnx 1t')} · ` +
        `onnx 1t / torch 1t ${ratio('onnx 1t', 'torch 1t')} · onnx 2t / torch 2t ${ratio('onnx 2t', 'torch 2t')}`,
    );
    const peak = (threads: number) => median(onnxRuns.filter((r) => r.threads === threads).map((r) => r.peakRssMB));
    const warm = median(onnxRuns.map((r) => r.rssWarmMB));
    log(`  memory: onnx peak RSS ${peak(1)} MB (1t) / ${peak(2)} MB (2t), after warm-up ${warm} MB; wasm peak ${wasmRss || '–'} MB`);
    const objective = onnxRuns.flatMap((r) => r.sessions.filter((s) => s.kind === 'objective'));
    const features = onnxRuns.flatMap((r) => r.sessions.filter((s) => s.kind !== 'objective'));
    log(
      `  objective session: graph ${median(objective.map((s) => s.graphMs))} ms, encode ${median(objective.map((s) => s.encodeMs))} ms, ` +
        `create ${median(objective.map((s) => s.createMs))} ms, model ${objective[0]?.modelMB} MB; feature sessions create ` +
        `${median(features.map((s) => s.createMs))} ms; createObjective in all ${median(onnxRuns.map((r) => r.createObjectiveMs))} ms\n`,
    );
  }
}

function webgpu(): void {
  const sizes = args.sizes === '128,256,512' ? [64, 128] : args.sizes.split(',').map(Number);
  for (const size of sizes) {
    const r = onnx(size, Number(args.threads), 'webgpu', 3);
    const cpu = onnx(size, Number(args.threads), 'cpu', 3);
    process.stdout.write(
      `${size} px on ${r.device}: ${r.msPerIter} ms/iteration, of which moving image, targets and gradient ` +
        `${r.copyMs} ms (CPU provider: ${cpu.msPerIter} ms/iteration); createObjective ${r.createObjectiveMs} ms; ` +
        `peak RSS ${r.peakRssMB} MB\n`,
    );
  }
}

if (args.child) await child();
else if (args.webgpu) webgpu();
else compare();
