import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { VggWeights } from '../../weights/types.ts';
import { chainedLayers, type VggLayerName } from '../../weights/vgg19-layout.ts';
import {
  balanceWeights,
  type CaffeImage,
  type ComputeBackend,
  type Evaluation,
  type LossSpec,
  type Objective,
  type ScaleTargets,
  type TargetStatistics,
} from '../compute.ts';
import { BackendUnavailableError, StylizeRequestError } from '../errors.ts';
import type { BackendInfo } from '../types.ts';
import { chooseWebGpuAdapter, type VulkanDevice } from './adapter.ts';
import {
  FeatureNames,
  featureGraph,
  layerSizes,
  ObjectiveNames,
  objectiveGraph,
  type ObjectiveLayout,
  type OnnxLayer,
} from './graphs.ts';
import { GraphBuilder } from './proto.ts';

/**
 * The Gatys objective on ONNX Runtime (onnxruntime-node): CPU, CUDA when its provider is installed, or WebGPU
 * (Dawn over Vulkan, Metal or D3D12). Graphs are written at run time from the weights (graphs.ts); one session
 * per image size and loss layout, kept in a small LRU cache because sizes change per scale and per job.
 *
 * session.run blocks the event loop while it computes (it only looks asynchronous): run this in an engine worker.
 */

export type OnnxProvider = 'cpu' | 'cuda' | 'webgpu';

export interface OnnxLogger {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
}

export interface OnnxBackendOptions {
  provider: OnnxProvider;
  /**
   * CPU threads per session (intraOpNumThreads): what the CPU provider computes with, and what a GPU provider
   * uses for the few nodes it leaves to the CPU. Default 1; give each engine worker its share of the cores.
   */
  threads?: number;
  /**
   * WebGPU only: allow a software adapter (lavapipe/llvmpipe, SwiftShader). Never set automatically; tests and
   * admins force it to check the WebGPU path on machines without a GPU.
   */
  allowSoftwareAdapter?: boolean;
  /** Objective sessions kept for reuse, least recently used dropped first. Default 2. */
  sessionCacheSize?: number;
  /**
   * Let ORT's idle worker threads spin-wait for work (ORT's default). Off by default: engine workers share the
   * cores, and a spinning thread takes a core another worker needs.
   */
  spinning?: boolean;
  /** Why this backend was chosen, for BackendInfo.reason. */
  reason?: string;
  logger?: OnnxLogger;
}

/** What building one session cost, for logs and the benchmark. */
export interface SessionCost {
  readonly kind: 'objective' | 'targets';
  readonly key: string;
  /** Writing the graph in TypeScript. */
  readonly graphMs: number;
  /** Encoding it to ModelProto bytes. */
  readonly encodeMs: number;
  readonly modelBytes: number;
  /** InferenceSession.create: parsing, optimizing (constant folding the flipped kernels) and planning. */
  readonly createMs: number;
  /** Resident memory growth over graph building and session creation (rough: other allocations count too). */
  readonly rssDeltaBytes: number;
}

export interface OnnxBackend extends ComputeBackend {
  /** The WebGPU adapter, when it could be identified. */
  readonly adapter: VulkanDevice | undefined;
  /** Sessions built so far (the last 50). */
  readonly sessionCosts: readonly SessionCost[];
  /** Objective sessions currently cached or in use. */
  readonly openSessions: number;
}

export async function createOnnxBackend(weights: VggWeights, options: OnnxBackendOptions): Promise<OnnxBackend> {
  const layers = chainedLayers(weights);
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
    throw new RangeError(`Expected threads to be an integer from 1 to 256, got ${threads}`);
  }
  const cacheSize = options.sessionCacheSize ?? 2;
  if (!Number.isInteger(cacheSize) || cacheSize < 1) {
    throw new RangeError(`Expected sessionCacheSize to be an integer from 1 up, got ${cacheSize}`);
  }
  const provider = await setUpProvider(options, threads);
  const backend = new OnnxComputeBackend(layers, provider, { ...options, threads, sessionCacheSize: cacheSize });
  options.logger?.info(
    { backend: provider.info.name, device: provider.info.device, threads, detail: provider.detail },
    `ONNX Runtime backend: ${provider.info.name} on ${provider.info.device}`,
  );
  return backend;
}

interface ProviderSetup {
  readonly info: BackendInfo;
  readonly executionProviders: ort.InferenceSession.SessionOptions['executionProviders'];
  readonly adapter: VulkanDevice | undefined;
  readonly detail: string;
}

async function setUpProvider(options: OnnxBackendOptions, threads: number): Promise<ProviderSetup> {
  const reason = options.reason ?? `requested ONNX Runtime provider ${options.provider}`;
  switch (options.provider) {
    case 'cpu':
      return {
        info: { name: 'onnx', gpu: false, device: `CPU, ${threads} thread${threads > 1 ? 's' : ''}`, threads, reason },
        executionProviders: ['cpu'],
        adapter: undefined,
        detail: 'CPU execution provider',
      };
    case 'cuda': {
      const missing = cudaProviderMissing();
      if (missing) throw new BackendUnavailableError(`ONNX Runtime's CUDA provider is not available: ${missing}.`);
      const executionProviders = [{ name: 'cuda', deviceId: 0 }];
      await probe(executionProviders, threads, 'CUDA');
      return {
        info: { name: 'onnx-cuda', gpu: true, device: 'CUDA device 0', threads, reason },
        executionProviders,
        adapter: undefined,
        detail: 'CUDA execution provider, device 0',
      };
    }
    case 'webgpu': {
      if (!ort.listSupportedBackends().some((b) => b.name === 'webgpu')) {
        throw new BackendUnavailableError('This onnxruntime-node build has no WebGPU provider.');
      }
      const choice = chooseWebGpuAdapter({ allowSoftware: options.allowSoftwareAdapter === true });
      if (!choice.ok) throw new BackendUnavailableError(`No WebGPU adapter to use: ${choice.reason}.`);
      // Dawn creates its Vulkan instance once per process, at the first WebGPU session; the loader reads these then.
      // So the first WebGPU backend of a process decides for all later ones.
      Object.assign(process.env, choice.loaderEnv);
      const executionProviders = [{ name: 'webgpu' }];
      await probe(executionProviders, threads, 'WebGPU');
      const adapter = choice.adapter;
      const device = adapter
        ? `${adapter.name} (${adapter.vendor}${adapter.type === 'cpu' ? ', software' : ''})`
        : 'WebGPU adapter (name unknown)';
      options.logger?.info({ ...adapter, detail: choice.detail }, `WebGPU adapter: ${device}`);
      // An unnamed adapter is a GPU unless software was allowed: the loader cannot reach a software one otherwise.
      const gpu = adapter ? adapter.type !== 'cpu' : !options.allowSoftwareAdapter;
      return {
        info: { name: 'onnx-webgpu', gpu, device, threads, reason },
        executionProviders,
        adapter,
        detail: choice.detail,
      };
    }
  }
}

/** Why the CUDA provider cannot load, or undefined when its files are in place. */
function cudaProviderMissing(): string | undefined {
  if (!ort.listSupportedBackends().some((b) => b.name === 'cuda')) {
    return `this onnxruntime-node build has none for ${process.platform}/${process.arch}`;
  }
  const main = createRequire(import.meta.url).resolve('onnxruntime-node');
  const bin = path.resolve(path.dirname(main), '..', 'bin', 'napi-v6', process.platform, process.arch);
  const library = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  if (!existsSync(path.join(bin, library))) {
    return `${library} is not installed (the package's install script fetches it with ONNXRUNTIME_NODE_INSTALL=cuda12)`;
  }
  return undefined;
}

/** Creates and runs a one-node session, so that a provider that cannot start fails here with its reason. */
async function probe(
  executionProviders: ort.InferenceSession.SessionOptions['executionProviders'],
  threads: number,
  label: string,
): Promise<void> {
  const g = new GraphBuilder('probe');
  g.output(g.op('Mul', [g.input('x', [4]), g.scalar(2)]), 'y', [4]);
  let session: ort.InferenceSession | undefined;
  try {
    session = await ort.InferenceSession.create(g.encode(), { executionProviders, intraOpNumThreads: threads, logSeverityLevel: 3 });
    const { y } = await session.run({ x: new ort.Tensor('float32', Float32Array.of(1, 2, 3, 4), [4]) });
    if ((y?.data as Float32Array | undefined)?.[3] !== 8) throw new Error('the probe computed a wrong value');
  } catch (error) {
    throw new BackendUnavailableError(`ONNX Runtime's ${label} provider did not start: ${message(error)}`, {
      cause: error,
    });
  } finally {
    await session?.release();
  }
}

/** An error's message, without the source location and assertion text ORT puts before its own words. */
function message(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/^\/onnxruntime_src\/\S+ [\s\S]*? was false\. /, '').trim();
}

interface CachedSession {
  readonly session: ort.InferenceSession;
  /** Objectives (or feature runs) using it. */
  users: number;
  /** Out of the cache: released as soon as nobody uses it. */
  evicted: boolean;
}

/**
 * Sessions by key, least recently used first. At most `bound` are kept; one in use is never released, so the
 * bound can be exceeded while more objectives than that are alive. Before a new session is built, unused ones
 * are dropped to make room, so that memory peaks at `bound` sessions, not `bound` + 1.
 */
class SessionCache {
  readonly #entries = new Map<string, { pending: Promise<CachedSession>; ready?: CachedSession }>();

  constructor(readonly bound: number) {}

  get size(): number {
    return this.#entries.size;
  }

  async lease(key: string, create: () => Promise<CachedSession>): Promise<CachedSession> {
    let entry = this.#entries.get(key);
    if (entry) {
      this.#entries.delete(key); // re-inserted as the most recently used
    } else {
      this.#trim(this.bound - 1);
      const created: { pending: Promise<CachedSession>; ready?: CachedSession } = { pending: create() };
      created.pending.then(
        (cached) => (created.ready = cached),
        // A failed build is not cached: the next request tries again.
        () => this.#entries.get(key) === created && this.#entries.delete(key),
      );
      entry = created;
    }
    this.#entries.set(key, entry);
    const cached = await entry.pending;
    cached.users++;
    this.#trim(this.bound);
    return cached;
  }

  release(cached: CachedSession): void {
    cached.users = Math.max(0, cached.users - 1);
    if (cached.evicted && cached.users === 0) void cached.session.release().catch(() => undefined);
  }

  /** Drops every session; those in use are released when their last user lets go. */
  async clear(): Promise<void> {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    for (const entry of entries) {
      const cached = await entry.pending.catch(() => undefined);
      if (cached) this.#drop(cached);
    }
  }

  #trim(bound: number) {
    for (const [key, entry] of this.#entries) {
      if (this.#entries.size <= bound) break;
      if (!entry.ready || entry.ready.users > 0) continue;
      this.#entries.delete(key);
      this.#drop(entry.ready);
    }
  }

  #drop(cached: CachedSession) {
    cached.evicted = true;
    if (cached.users === 0) void cached.session.release().catch(() => undefined);
  }
}

type SessionKind = SessionCost['kind'];
type MemoryOptions = Pick<ort.InferenceSession.SessionOptions, 'enableCpuMemArena' | 'enableMemPattern'>;

class OnnxComputeBackend implements OnnxBackend {
  readonly info: BackendInfo;
  readonly layers: readonly VggLayerName[];
  readonly memoryLimitBytes = undefined;
  readonly adapter: VulkanDevice | undefined;
  readonly #layers: readonly OnnxLayer[];
  readonly #provider: ProviderSetup;
  readonly #options: OnnxBackendOptions & { threads: number; sessionCacheSize: number };
  /** Objective sessions by layout (size, layers, pooling, normalization). */
  readonly #objectives: SessionCache;
  /** Targets sessions (any image size) by layers and pooling. */
  readonly #targets = new SessionCache(1);
  readonly #costs: SessionCost[] = [];
  #disposed = false;

  constructor(
    layers: readonly OnnxLayer[],
    provider: ProviderSetup,
    options: OnnxBackendOptions & { threads: number; sessionCacheSize: number },
  ) {
    this.#layers = layers;
    this.layers = layers.map((l) => l.name);
    this.#provider = provider;
    this.info = provider.info;
    this.adapter = provider.adapter;
    this.#options = options;
    this.#objectives = new SessionCache(options.sessionCacheSize);
  }

  get sessionCosts(): readonly SessionCost[] {
    return this.#costs;
  }

  get openSessions(): number {
    return this.#objectives.size;
  }

  async createObjective(loss: LossSpec, targets: ScaleTargets): Promise<Objective> {
    this.#assertAlive();
    const { width, height } = targets.content;
    checkImage('content', targets.content);
    // `balanced` is the mse graph with rescaled weights (balanceWeights), so it shares mse's sessions.
    const balanced = loss.normalization === 'balanced';
    const layout: ObjectiveLayout = {
      width,
      height,
      content: loss.content.map((term) => this.#layerIndex(term.layer)),
      style: loss.style.map((term) => this.#layerIndex(term.layer)),
      tv: loss.tvWeight > 0,
      pooling: loss.pooling,
      normalization: balanced ? 'mse' : loss.normalization,
    };
    for (const { weight } of [...loss.content, ...loss.style, { weight: loss.tvWeight }]) {
      if (!Number.isFinite(weight) || weight < 0) {
        throw new StylizeRequestError(`Loss weights must be finite and not negative, got ${weight}.`);
      }
    }
    const depth = Math.max(-1, ...layout.content, ...layout.style) + 1;
    this.#checkReach('content', targets.content, depth);

    const content = await this.#contentTargets(layout, targets.content, balanced);
    const style = await this.#styleTargets(layout, targets.styles);
    const termWeights = balanced
      ? balanceWeights(loss, this.#statistics(layout, content, style), targets.content)
      : { content: loss.content.map((t) => t.weight), style: loss.style.map((t) => t.weight), tv: loss.tvWeight };
    const weights = Float32Array.from([...termWeights.content, ...termWeights.style, termWeights.tv]);
    let feeds: Record<string, ort.Tensor> = {
      [ObjectiveNames.weights]: new ort.Tensor('float32', weights, [weights.length]),
      ...content.feeds,
      ...style,
    };
    if (this.info.name === 'onnx-webgpu') feeds = await this.#toDevice(feeds);
    try {
      // No memory pattern: ORT plans it from the first run and then allocates it as one more block beside what the
      // arena already holds from that run. Without it, peak RSS at 512 px fell from about 1.57 to 1.18 GB at the
      // same speed (bench-onnx.ts, alternating runs).
      const cached = await this.#objectives.lease(JSON.stringify(layout), () =>
        this.#createSession('objective', `${width}x${height}`, () => objectiveGraph(this.#layers, layout), {
          enableCpuMemArena: true,
          enableMemPattern: false,
        }),
      );
      return new OnnxObjective(cached, width, height, feeds, () => this.#objectives.release(cached));
    } catch (error) {
      for (const tensor of Object.values(feeds)) if (tensor.location === 'gpu-buffer') tensor.dispose();
      throw error;
    }
  }

  /**
   * The same tensors in GPU memory: the targets then cross to the device once per objective instead of once per
   * iteration (at 512 px the default loss's are 10 MB, three times the image). onnxruntime-node cannot create a
   * GPU tensor from JavaScript data, but a session's outputs can be left on the device and fed to another session
   * of the same device: an Identity graph per tensor rank does the upload. The image and the gradient still cross
   * every iteration, since the optimizer works on Float32Arrays.
   */
  async #toDevice(feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
    const result: Record<string, ort.Tensor> = {};
    try {
      for (const [name, tensor] of Object.entries(feeds)) {
        const rank = tensor.dims.length;
        const session = await (this.#uploaders[rank] ??= this.#uploader(rank));
        const { moved } = await session.run({ value: tensor });
        result[name] = moved!;
      }
      return result;
    } catch (error) {
      for (const tensor of Object.values(result)) tensor.dispose();
      throw error;
    }
  }

  readonly #uploaders: Promise<ort.InferenceSession>[] = [];

  #uploader(rank: number): Promise<ort.InferenceSession> {
    const g = new GraphBuilder(`upload rank ${rank}`);
    const dims = Array.from({ length: rank }, (_, i) => `d${i}`);
    g.output(g.op('Identity', [g.input('value', dims)]), 'moved', dims);
    return ort.InferenceSession.create(g.encode(), {
      executionProviders: this.#provider.executionProviders,
      preferredOutputLocation: 'gpu-buffer',
      logSeverityLevel: 3,
    });
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.#objectives.clear();
    await this.#targets.clear();
    for (const uploader of this.#uploaders.filter(Boolean)) await (await uploader.catch(() => undefined))?.release();
  }

  #assertAlive() {
    if (this.#disposed) throw new Error('the ONNX backend has been disposed');
  }

  #layerIndex(name: VggLayerName): number {
    const index = this.#layers.findIndex((l) => l.name === name);
    if (index < 0) throw new StylizeRequestError(`The loaded weights have no layer ${name}.`);
    return index;
  }

  #checkReach(role: string, image: CaffeImage, depth: number) {
    try {
      layerSizes(this.#layers, image.height, image.width, depth);
    } catch (error) {
      throw new StylizeRequestError(`The ${role} image is too small: ${message(error)}.`);
    }
  }

  /**
   * Content features (NCHW) of the content image, one feed per content term; with `grams`, also the content
   * image's own Gram matrices at the style layers (for `balanced`), from the same pass.
   */
  async #contentTargets(
    layout: ObjectiveLayout,
    content: CaffeImage,
    grams: boolean,
  ): Promise<{ feeds: Record<string, ort.Tensor>; grams: Map<number, Float32Array> }> {
    const styleLayers = grams ? [...new Set(layout.style)] : [];
    if (layout.content.length === 0 && styleLayers.length === 0) return { feeds: {}, grams: new Map() };
    const names = layout.content.map((index) => FeatureNames.features(index));
    const depth = Math.max(...layout.content, ...styleLayers) + 1;
    const outputs = await this.#runTargets(layout, content, 'content', [...names, ...styleLayers.map(FeatureNames.gram)], depth);
    return {
      feeds: Object.fromEntries(names.map((name, term) => [ObjectiveNames.contentTarget(term), outputs[name]!])),
      grams: new Map(styleLayers.map((index) => [index, outputs[FeatureNames.gram(index)]!.data as Float32Array])),
    };
  }

  /** What balanceWeights needs, measured on the feeds in float64. */
  #statistics(
    layout: ObjectiveLayout,
    content: { feeds: Record<string, ort.Tensor>; grams: Map<number, Float32Array> },
    style: Record<string, ort.Tensor>,
  ): TargetStatistics {
    const data = (tensor: ort.Tensor | undefined) => tensor!.data as Float32Array;
    const sumSq = (a: Float32Array, b?: Float32Array) => {
      let sum = 0;
      for (let i = 0; i < a.length; i++) sum += (a[i]! - (b ? b[i]! : 0)) ** 2;
      return sum;
    };
    const contentTargets = layout.content.map((_, term) => data(content.feeds[ObjectiveNames.contentTarget(term)]));
    const styleTargets = layout.style.map((_, term) => data(style[ObjectiveNames.styleTarget(term)]));
    return {
      contentEnergy: contentTargets.map((p) => sumSq(p)),
      contentSize: contentTargets.map((p) => p.length),
      styleDistance: styleTargets.map((a, term) => sumSq(content.grams.get(layout.style[term]!)!, a)),
      styleEnergy: styleTargets.map((a) => sumSq(a)),
      styleChannels: layout.style.map((index) => this.#layers[index]!.outChannels),
    };
  }

  /** Blended Gram matrices of the style images (blend weights normalized to sum 1), one feed per style term. */
  async #styleTargets(layout: ObjectiveLayout, styles: ScaleTargets['styles']): Promise<Record<string, ort.Tensor>> {
    if (layout.style.length === 0) return {};
    const used = styles.filter((s) => s.weight > 0 && Number.isFinite(s.weight));
    const total = used.reduce((sum, s) => sum + s.weight, 0);
    if (!(total > 0)) throw new StylizeRequestError('At least one style image needs a blend weight above 0.');
    const layers = [...new Set(layout.style)];
    const blended = new Map<number, Float32Array>();
    for (const style of used) {
      checkImage('style', style.image);
      const share = style.weight / total;
      const outputs = await this.#runTargets(layout, style.image, 'style', layers.map(FeatureNames.gram), Math.max(...layers) + 1);
      for (const index of layers) {
        const gram = outputs[FeatureNames.gram(index)]!.data as Float32Array;
        const sum = blended.get(index) ?? new Float32Array(gram.length);
        for (let i = 0; i < gram.length; i++) sum[i] = sum[i]! + Math.fround(gram[i]! * share);
        blended.set(index, sum);
      }
    }
    return Object.fromEntries(
      layout.style.map((index, term) => {
        const channels = this.#layers[index]!.outChannels;
        return [ObjectiveNames.styleTarget(term), new ort.Tensor('float32', blended.get(index)!, [channels, channels])];
      }),
    );
  }

  async #runTargets(
    layout: ObjectiveLayout,
    image: CaffeImage,
    role: 'content' | 'style',
    fetches: readonly string[],
    depth: number,
  ): Promise<ort.InferenceSession.OnnxValueMapType> {
    this.#checkReach(role, image, depth);
    const wanted = { content: layout.content, style: layout.style };
    const key = JSON.stringify({ ...wanted, pooling: layout.pooling });
    // Run once per image and scale, on any size: without a memory arena, a large style image's activations go
    // back to the system when the run ends instead of staying reserved.
    const cached = await this.#targets.lease(key, () =>
      this.#createSession('targets', key, () => featureGraph(this.#layers, wanted, layout.pooling), {
        enableCpuMemArena: false,
        enableMemPattern: false,
      }),
    );
    try {
      const input = new ort.Tensor('float32', image.data, [1, image.height, image.width, 3]);
      return await cached.session.run({ [FeatureNames.image]: input }, [...fetches]);
    } finally {
      this.#targets.release(cached);
    }
  }

  async #createSession(kind: SessionKind, key: string, build: () => GraphBuilder, memory: MemoryOptions) {
    this.#assertAlive();
    const rssBefore = process.memoryUsage.rss();
    const t0 = performance.now();
    const graph = build();
    const t1 = performance.now();
    const bytes = graph.encode();
    const t2 = performance.now();
    const spin = this.#options.spinning ? '1' : '0';
    const session = await ort.InferenceSession.create(bytes, {
      executionProviders: this.#provider.executionProviders,
      intraOpNumThreads: this.#options.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      // Errors only: ORT warns on every WebGPU session that it kept shape ops on the CPU, which is by design.
      logSeverityLevel: 3,
      ...memory,
      extra: { session: { intra_op: { allow_spinning: spin }, inter_op: { allow_spinning: spin } } },
    });
    const t3 = performance.now();
    const cost: SessionCost = {
      kind,
      key,
      graphMs: t1 - t0,
      encodeMs: t2 - t1,
      modelBytes: bytes.byteLength,
      createMs: t3 - t2,
      rssDeltaBytes: process.memoryUsage.rss() - rssBefore,
    };
    this.#costs.push(cost);
    if (this.#costs.length > 50) this.#costs.shift();
    this.#options.logger?.info({ ...cost, provider: this.info.name }, `ONNX ${kind} session built`);
    return { session, users: 0, evicted: false };
  }
}

function checkImage(role: string, image: CaffeImage) {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new StylizeRequestError(`The ${role} image has an invalid size ${width}x${height}.`);
  }
  if (data.length !== width * height * 3) {
    throw new StylizeRequestError(`The ${role} image holds ${data.length} values for ${width}x${height}x3.`);
  }
}

class OnnxObjective implements Objective {
  readonly #cached: CachedSession;
  readonly #feeds: Record<string, ort.Tensor>;
  readonly #release: () => void;
  #disposed = false;

  constructor(
    cached: CachedSession,
    readonly width: number,
    readonly height: number,
    feeds: Record<string, ort.Tensor>,
    release: () => void,
  ) {
    this.#cached = cached;
    this.#feeds = feeds;
    this.#release = release;
  }

  async evaluate(x: Float32Array): Promise<Evaluation> {
    if (this.#disposed) throw new Error('the objective has been disposed');
    const { width, height } = this;
    if (x.length !== width * height * 3) {
      throw new RangeError(`Expected an image of ${width}x${height}x3 values, got ${x.length}`);
    }
    const image = new ort.Tensor('float32', x, [1, height, width, 3]);
    const result = await this.#cached.session.run({ ...this.#feeds, [ObjectiveNames.image]: image });
    const [total, content, style, tv] = result[ObjectiveNames.loss]!.data as Float32Array;
    const grad = result[ObjectiveNames.grad]!.data as Float32Array;
    return { loss: { total: total!, content: content!, style: style!, tv: tv! }, grad };
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const tensor of Object.values(this.#feeds)) if (tensor.location === 'gpu-buffer') tensor.dispose();
    this.#release();
  }
}
