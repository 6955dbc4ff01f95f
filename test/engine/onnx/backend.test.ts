import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LossSpec, ScaleTargets } from '../../../src/engine/compute.ts';
import { BackendUnavailableError, StylizeRequestError } from '../../../src/engine/errors.ts';
import {
  chooseWebGpuAdapter,
  hardwareOnly,
  parseVulkanSummary,
  vulkanDevices,
  vulkanDrivers,
} from '../../../src/engine/onnx/adapter.ts';
import { createOnnxBackend, type OnnxBackend } from '../../../src/engine/onnx/backend.ts';
import { decodeModel, GraphBuilder } from '../../../src/engine/onnx/proto.ts';
import { REPO_ROOT } from '../../helpers/shared-data.ts';
import { makeTinyVggWeights, seededRandom } from '../../helpers/tiny-vgg.ts';

/** The ONNX backend's sessions, inputs and providers, and how it finds (and refuses) WebGPU adapters. */

const WEIGHTS = makeTinyVggWeights({ seed: 3, widths: [4, 8, 8, 16, 16] });
const LOSS: LossSpec = {
  content: [{ layer: 'block4_conv2', weight: 5 }],
  style: [
    { layer: 'block1_conv1', weight: 100 },
    { layer: 'block3_conv1', weight: 100 },
  ],
  tvWeight: 1e-3,
  pooling: 'avg',
  normalization: 'mse',
};

function image(width: number, height: number, seed = 1) {
  const random = seededRandom(seed);
  return { width, height, data: Float32Array.from({ length: width * height * 3 }, () => (random() - 0.5) * 240) };
}

const targets = (width: number, height: number): ScaleTargets => ({
  content: image(width, height, 1),
  styles: [{ image: image(36, 30, 2), weight: 1 }],
});

describe('ONNX backend sessions', () => {
  let backend: OnnxBackend;
  beforeAll(async () => {
    backend = await createOnnxBackend(WEIGHTS, { provider: 'cpu', sessionCacheSize: 2 });
  });
  afterAll(() => backend?.dispose());

  const objectiveSessions = () => backend.sessionCosts.filter((c) => c.kind === 'objective').length;

  it('builds one session per size, keeps at most the bound, and reuses a cached one', async () => {
    expect(backend.info).toMatchObject({ name: 'onnx', gpu: false, device: 'CPU, 1 thread', threads: 1 });
    expect(backend.layers).toHaveLength(16);
    const built = objectiveSessions();
    for (const [width, height] of [[32, 32], [40, 32], [48, 32], [40, 32]] as const) {
      const objective = await backend.createObjective(LOSS, targets(width, height));
      await objective.evaluate(image(width, height, 5).data);
      objective.dispose();
      expect(backend.openSessions).toBeLessThanOrEqual(2);
    }
    // 40x32 came back while still cached; so did the targets session, built once for all sizes.
    expect(objectiveSessions() - built).toBe(3);
    expect(backend.sessionCosts.filter((c) => c.kind === 'targets')).toHaveLength(1);
    for (const cost of backend.sessionCosts) {
      expect(cost.createMs).toBeGreaterThan(0);
      expect(cost.modelBytes).toBeGreaterThan(WEIGHTS.layers.get('block1_conv1')!.kernel.byteLength);
    }
  });

  it('keeps an objective working while its session is evicted, and releases it at dispose', async () => {
    const small = await createOnnxBackend(WEIGHTS, { provider: 'cpu', sessionCacheSize: 1 });
    try {
      const x = image(32, 32, 5).data;
      const kept = await small.createObjective(LOSS, targets(32, 32));
      const before = await kept.evaluate(x);
      for (const width of [40, 48]) (await small.createObjective(LOSS, targets(width, 32))).dispose();
      const after = await kept.evaluate(x);
      expect(after.loss).toEqual(before.loss);
      expect(after.grad).toEqual(before.grad);
      expect(after.grad).not.toBe(before.grad); // a fresh array per evaluation
      kept.dispose();
      kept.dispose(); // idempotent
      await expect(kept.evaluate(x)).rejects.toThrow(/disposed/);
    } finally {
      await small.dispose();
    }
  });

  it('lets live objectives finish after the backend is disposed, and refuses new ones', async () => {
    const other = await createOnnxBackend(WEIGHTS, { provider: 'cpu' });
    const objective = await other.createObjective(LOSS, targets(32, 32));
    await other.dispose();
    await other.dispose();
    expect((await objective.evaluate(image(32, 32, 5).data)).loss.total).toBeGreaterThan(0);
    objective.dispose();
    await expect(other.createObjective(LOSS, targets(32, 32))).rejects.toThrow(/disposed/);
  });

  it('does not modify the image it evaluates', async () => {
    const objective = await backend.createObjective(LOSS, targets(32, 32));
    const x = image(32, 32, 5).data;
    const copy = x.slice();
    await objective.evaluate(x);
    expect(x).toEqual(copy);
    objective.dispose();
  });

  const withStyle = (width: number, height: number, weight = 1) => ({
    content: image(32, 32),
    styles: [{ image: image(width, height), weight }],
  });
  const misfit = { ...targets(32, 32), content: { width: 32, height: 31, data: new Float32Array(32 * 32 * 3) } };
  it.each([
    ['an image of the wrong length', LOSS, targets(32, 32), /32x32x3/],
    ['content data that does not match its size', LOSS, misfit, /holds 3072 values for 32x31x3/],
    ['a content image too small for the deepest layer', LOSS, targets(6, 40), /a 6x40 image is too small to reach block4_conv1/],
    ['a style image too small for its layers', LOSS, withStyle(40, 3), /style image is too small/],
    ['a layer the weights do not have', LOSS, targets(32, 32), /no layer block4_conv2/],
    ['a negative weight', { ...LOSS, tvWeight: -1 }, targets(32, 32), /not negative/],
    ['a NaN weight', { ...LOSS, content: [{ layer: 'block4_conv2', weight: Number.NaN }] }, targets(32, 32), /finite/],
    ['blend weights that are all 0', LOSS, withStyle(32, 32, 0), /blend weight above 0/],
  ] as const)('refuses %s with a clear message', async (what, loss, scaleTargets, message) => {
    if (what === 'an image of the wrong length') {
      const objective = await backend.createObjective(loss, scaleTargets);
      await expect(objective.evaluate(new Float32Array(10))).rejects.toThrow(message);
      objective.dispose();
      return;
    }
    const target = what === 'a layer the weights do not have'
      ? await createOnnxBackend(makeTinyVggWeights({ upTo: 'block3_conv1' }), { provider: 'cpu' })
      : backend;
    try {
      const error = await target.createObjective(loss, scaleTargets).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(StylizeRequestError);
      expect((error as Error).message).toMatch(message);
    } finally {
      if (target !== backend) await target.dispose();
    }
  });

  it('checks its options and the weights', async () => {
    await expect(createOnnxBackend(WEIGHTS, { provider: 'cpu', threads: 0 })).rejects.toThrow(/threads .* got 0/);
    const halfSession = createOnnxBackend(WEIGHTS, { provider: 'cpu', sessionCacheSize: 0.5 });
    await expect(halfSession).rejects.toThrow(/sessionCacheSize/);
    const broken = new Map(WEIGHTS.layers);
    broken.set('block1_conv2', { ...broken.get('block1_conv2')!, kernelShape: [3, 3, 5, 4] });
    await expect(createOnnxBackend({ layers: broken, source: 'broken' }, { provider: 'cpu' })).rejects.toThrow(
      /block1_conv2 kernel has shape \[3, 3, 5, 4\], expected \[3, 3, 4, n\]/,
    );
  });
});

describe('ONNX providers', () => {
  it('uses the CUDA provider only when its library is installed, and says how to get it otherwise', async () => {
    const attempt = await createOnnxBackend(WEIGHTS, { provider: 'cuda' }).then(
      async (backend) => {
        await backend.dispose();
        return backend.info;
      },
      (error: unknown) => error,
    );
    if (attempt instanceof Error) {
      expect(attempt).toBeInstanceOf(BackendUnavailableError);
      expect(attempt.message).toMatch(/CUDA provider (is not available|did not start)/);
      if (/not installed/.test(attempt.message)) expect(attempt.message).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12/);
    } else {
      expect(attempt).toMatchObject({ name: 'onnx-cuda', gpu: true });
    }
  });

  it('never picks a software WebGPU adapter unless allowed', async () => {
    const attempt = await createOnnxBackend(WEIGHTS, { provider: 'webgpu' }).then(
      async (backend) => {
        await backend.dispose();
        return backend;
      },
      (error: unknown) => error,
    );
    if (attempt instanceof Error) {
      expect(attempt).toBeInstanceOf(BackendUnavailableError);
      expect(attempt.message).toMatch(/^No WebGPU adapter to use: no hardware Vulkan (driver|device)|provider did not start/);
    } else {
      // A GPU machine: the adapter must be hardware.
      expect((attempt as OnnxBackend).adapter?.type).not.toBe('cpu');
      expect((attempt as OnnxBackend).info.gpu).toBe(true);
    }
  });
});

describe('WebGPU adapters (Vulkan)', () => {
  const LAVAPIPE = `Devices:
========
GPU0:
\tapiVersion         = 1.4.305
\tvendorID           = 0x10005
\tdeviceType         = PHYSICAL_DEVICE_TYPE_CPU
\tdeviceName         = llvmpipe (LLVM 15.0.6, 256 bits)
\tdriverName         = llvmpipe
`;
  const TWO_GPUS = `Instance Extensions: count = 2
Devices:
========
GPU0:
\tvendorID           = 0x8086
\tdeviceType         = PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU
\tdeviceName         = Intel(R) UHD Graphics 770 (ADL-S GT1)
\tdriverName         = Intel open-source Mesa driver
GPU1:
\tvendorID           = 0x10de
\tdeviceType         = PHYSICAL_DEVICE_TYPE_DISCRETE_GPU
\tdeviceName         = NVIDIA GeForce RTX 4090
\tdriverName         = NVIDIA
`;

  it('reads names, vendors and types from vulkaninfo --summary', () => {
    expect(parseVulkanSummary(LAVAPIPE)).toEqual([
      { name: 'llvmpipe (LLVM 15.0.6, 256 bits)', vendor: 'Mesa', type: 'cpu', driver: 'llvmpipe' },
    ]);
    expect(parseVulkanSummary(TWO_GPUS).map((d) => [d.vendor, d.type])).toEqual([
      ['Intel', 'integrated'],
      ['NVIDIA', 'discrete'],
    ]);
    expect(parseVulkanSummary('vulkaninfo: error')).toEqual([]);
  });

  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'stylebot-icd-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const manifest = (library: string) =>
    JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: library, api_version: '1.3.0' } });

  function manifests(files: Record<string, string>): NodeJS.ProcessEnv {
    const icd = path.join(dir, String(Math.random()).slice(2), 'vulkan', 'icd.d');
    mkdirSync(icd, { recursive: true });
    for (const [file, library] of Object.entries(files)) {
      writeFileSync(path.join(icd, file), manifest(library));
    }
    const root = path.dirname(path.dirname(icd));
    return { PATH: process.env.PATH, HOME: dir, XDG_CONFIG_DIRS: path.join(dir, 'none'), XDG_DATA_DIRS: root };
  }

  it('tells software drivers from hardware ones along the loader search path', () => {
    const env = manifests({ 'lvp_icd.json': 'libvulkan_lvp.so', 'nvidia_icd.json': 'libGLX_nvidia.so.0' });
    expect(vulkanDrivers(env).map((d) => [path.basename(d.manifest), d.software])).toEqual([
      ['lvp_icd.json', true],
      ['nvidia_icd.json', false],
    ]);
    expect(vulkanDrivers({ ...env, VK_DRIVER_FILES: path.join(dir, 'missing.json') })).toEqual([]);
  });

  it('refuses when only software drivers exist, unless software is allowed', () => {
    const env = manifests({ 'lvp_icd.json': 'libvulkan_lvp.so' });
    expect(chooseWebGpuAdapter({ allowSoftware: false, env, platform: 'linux' })).toEqual({
      ok: false,
      reason: 'no hardware Vulkan driver is installed (found only lvp_icd.json)',
    });
    const allowed = chooseWebGpuAdapter({ allowSoftware: true, env, platform: 'linux' });
    expect(allowed).toMatchObject({ ok: true, loaderEnv: {} });
    if (vulkanDevices(env)?.length) expect(allowed).toMatchObject({ adapter: { type: 'cpu', vendor: 'Mesa' } });
    const windows = chooseWebGpuAdapter({ allowSoftware: false, env, platform: 'win32' });
    expect(windows).toMatchObject({ ok: true, adapter: undefined });
  });

  it('limits the loader to the hardware drivers when software ones are present', () => {
    const env = manifests({ 'lvp_icd.json': 'libvulkan_lvp.so', 'fake_icd.json': '/nonexistent/libvulkan_fakegpu.so' });
    const drivers = vulkanDrivers(env);
    const fake = drivers.find((d) => d.library.includes('fakegpu'))!.manifest;
    expect(hardwareOnly(drivers)).toEqual({ VK_DRIVER_FILES: fake, VK_ICD_FILENAMES: fake });
    expect(hardwareOnly(drivers.filter((d) => !d.software))).toEqual({});
    const choice = chooseWebGpuAdapter({ allowSoftware: false, env, platform: 'linux' });
    if (vulkanDevices(env) === undefined) {
      // No vulkaninfo: the adapter cannot be named, but the loader is limited all the same.
      expect(choice).toMatchObject({ ok: true, adapter: undefined, loaderEnv: hardwareOnly(drivers) });
    } else {
      // vulkaninfo, run with the same limits, sees no device: the fake driver's library does not exist.
      const reason = 'no hardware Vulkan device is available (no driver found a device: fake_icd.json)';
      expect(choice).toEqual({ ok: false, reason });
    }
  });

  /** Runs webgpu-child.ts under the given Vulkan loader variables. */
  function childSession(env: Record<string, string>): { ok: boolean; error?: string; y?: number[] } {
    const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'webgpu-child.ts')], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 60_000,
    });
    return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as { ok: boolean; error?: string; y?: number[] };
  }

  const lavapipe = vulkanDrivers().find((d) => d.software && /lvp/.test(d.library));
  it.skipIf(!lavapipe)('hides a software adapter from Dawn by limiting the loader (needs lavapipe)', () => {
    const fake = path.join(dir, 'fake_icd.json');
    writeFileSync(fake, manifest('/nonexistent/libfake.so'));
    const visible = childSession({ VK_DRIVER_FILES: lavapipe!.manifest, VK_ICD_FILENAMES: lavapipe!.manifest });
    expect(visible).toEqual({ ok: true, y: [0, 2] });
    const hidden = childSession({ VK_DRIVER_FILES: fake, VK_ICD_FILENAMES: fake });
    expect(hidden.ok).toBe(false);
    expect(hidden.error).toMatch(/No supported adapters/);
  });
});

describe('ONNX graph writer', () => {
  it('encodes nodes, typed attributes, initializers and symbolic shapes as onnx.proto says', () => {
    const g = new GraphBuilder('test');
    const x = g.input('x', [1, 'height', 4]);
    const attributes = { kernel_shape: [2], auto_pad: 'VALID', alpha: { float: 0.5 }, keepdims: 1 };
    const pooled = g.op('AveragePool', [x], attributes);
    g.output(g.op('Mul', [pooled, g.floats('w', [2], Float32Array.of(1.5, -2))]), 'y', [1, 'height', 2]);
    const model = decodeModel(g.encode()) as {
      irVersion: number;
      opsetImport: { version: number }[];
      graph: {
        node: { opType: string; attribute?: Record<string, unknown>[] }[];
        initializer: { dims: number[]; dataType: number; rawData: number[] }[];
        input: unknown[];
        output: { name: string }[];
      };
    };
    expect(model.irVersion).toBe(8);
    expect(model.opsetImport).toEqual([{ version: 17 }]);
    expect(model.graph.node.map((n) => n.opType)).toEqual(['AveragePool', 'Mul', 'Identity']);
    expect(model.graph.node[0]!.attribute).toEqual([
      { name: 'kernel_shape', type: 7, ints: [2] },
      { name: 'auto_pad', type: 3, s: Array.from(new TextEncoder().encode('VALID')) },
      { name: 'alpha', type: 1, f: 0.5 },
      { name: 'keepdims', type: 2, i: 1 },
    ]);
    expect(model.graph.initializer[0]).toMatchObject({ dims: [2], dataType: 1 });
    const raw = Uint8Array.from(model.graph.initializer[0]!.rawData);
    expect(new Float32Array(raw.buffer)).toEqual(Float32Array.of(1.5, -2));
    const dim = [{ dimValue: 1 }, { dimParam: 'height' }, { dimValue: 4 }];
    expect(model.graph.input).toEqual([{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim } } } }]);
    expect(model.graph.output.map((o) => o.name)).toEqual(['y']);
  });

  it('refuses what would make a broken model', () => {
    const g = new GraphBuilder('test');
    g.input('x', [1]);
    expect(() => g.input('x', [1])).toThrow(/the name x is used twice/);
    expect(() => g.op('Foo', ['x'], { ratio: 0.5 })).toThrow(/not an integer; use \{ float \}/);
    expect(() => g.floats('w', [3], new Float32Array(2))).toThrow(/2 values for dims \[3\]/);
  });
});
