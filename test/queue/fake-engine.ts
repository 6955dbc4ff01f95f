import { setTimeout as sleep } from 'node:timers/promises';
import {
  EngineOutOfMemoryError,
  StylizeAbortedError,
  type LossTerms,
  type RunHooks,
  type StylizeFn,
  type StylizeRequest,
  type StylizeResult,
  type StylizeSettings,
} from '../../src/engine/types.ts';
import type { RgbImage } from '../../src/images/rgb-image.ts';
import type { JobRequest } from '../../src/queue/index.ts';

/**
 * A stand-in for the engine: an ordinary async function that takes `msPerIter` per iteration, reports progress,
 * honours the AbortSignal between iterations and the time limit like the real one, and keeps books on what it was
 * asked and what it still holds, so tests can check the queue's behaviour from the engine's side.
 */
export interface FakeEngineOptions {
  msPerIter?: number;
  /** Throws EngineOutOfMemoryError when the content's long side is above this. */
  oomAbove?: number;
  /** Throws this (or what it returns for the request) instead of running. */
  fail?: (request: StylizeRequest) => Error | undefined;
  /** Never looks at the signal. */
  ignoreAbort?: boolean;
  /** Never looks at timeLimitMs. */
  ignoreTimeLimit?: boolean;
}

export interface FakeCall {
  size: number;
  iterations: number;
  timeLimitMs: number | undefined;
  signal: AbortSignal | undefined;
  /** Iteration reached when the signal fired, and when the call returned. */
  iterationAtAbort: number | undefined;
  lastIteration: number;
  outcome: 'running' | 'completed' | 'time-limit' | 'aborted' | 'threw';
}

export interface FakeEngine {
  stylize: StylizeFn;
  calls: FakeCall[];
  /** Runs in progress now, and the most there ever were at once. */
  readonly live: number;
  readonly maxLive: number;
  /** Simulated tensors: each run holds some and must give them back however it ends. */
  readonly held: number;
}

const LOSS: LossTerms = { total: 100, content: 60, style: 30, tv: 10 };

export function createFakeEngine(options: FakeEngineOptions = {}): FakeEngine {
  const msPerIter = options.msPerIter ?? 2;
  const calls: FakeCall[] = [];
  let live = 0;
  let maxLive = 0;
  let held = 0;

  const stylize: StylizeFn = async (request: StylizeRequest, hooks: RunHooks = {}): Promise<StylizeResult> => {
    const size = Math.max(request.content.width, request.content.height);
    const iterations = request.settings?.iterations ?? 10;
    const call: FakeCall = {
      size,
      iterations,
      timeLimitMs: hooks.timeLimitMs,
      signal: hooks.signal,
      iterationAtAbort: undefined,
      lastIteration: 0,
      outcome: 'running',
    };
    calls.push(call);
    const onAbort = () => (call.iterationAtAbort = call.lastIteration);
    hooks.signal?.addEventListener('abort', onAbort, { once: true });
    live++;
    maxLive = Math.max(maxLive, live);
    held += 5;
    const started = performance.now();
    try {
      const failure = options.fail?.(request);
      if (failure !== undefined) throw failure;
      if (options.oomAbove !== undefined && size > options.oomAbove) throw new EngineOutOfMemoryError();
      const image = copy(request.content);
      for (let i = 1; i <= iterations; i++) {
        if (!options.ignoreAbort && hooks.signal?.aborted) throw new StylizeAbortedError();
        const elapsed = performance.now() - started;
        if (!options.ignoreTimeLimit && hooks.timeLimitMs !== undefined && elapsed >= hooks.timeLimitMs) {
          call.outcome = 'time-limit';
          return result(image, call.lastIteration, started, 'time-limit', request);
        }
        await sleep(msPerIter);
        image.data[0] = i % 256;
        call.lastIteration = i;
        hooks.onProgress?.({
          iteration: i,
          total: iterations,
          elapsedMs: performance.now() - started,
          etaMs: i < 2 ? undefined : ((performance.now() - started) / i) * (iterations - i),
          loss: { ...LOSS, total: LOSS.total / i },
          preview: () => copy(image),
        });
      }
      call.outcome = 'completed';
      return result(image, iterations, started, 'completed', request);
    } catch (err) {
      call.outcome = err instanceof StylizeAbortedError ? 'aborted' : 'threw';
      throw err;
    } finally {
      hooks.signal?.removeEventListener('abort', onAbort);
      held -= 5;
      live--;
    }
  };

  return {
    stylize,
    calls,
    get live() {
      return live;
    },
    get maxLive() {
      return maxLive;
    },
    get held() {
      return held;
    },
  };
}

function result(
  image: RgbImage,
  iterations: number,
  started: number,
  stopReason: StylizeResult['stopReason'],
  request: StylizeRequest,
): StylizeResult {
  const seconds = (performance.now() - started) / 1000;
  return {
    image,
    iterations,
    seconds,
    msPerIter: iterations === 0 ? 0 : (seconds * 1000) / iterations,
    backend: 'fake',
    loss: LOSS,
    initialLoss: LOSS,
    stopReason,
    settings: { iterations, ...request.settings } as StylizeSettings,
  };
}

function copy(image: RgbImage): RgbImage {
  return { width: image.width, height: image.height, data: Uint8Array.from(image.data) };
}

/** A one-row image whose width is the output long side: cheap, and the engine can tell the size asked for. */
export function imageOfSize(size: number): RgbImage {
  return { width: size, height: 1, data: new Uint8Array(size * 3) };
}

export interface TestRequestOptions extends Partial<Omit<JobRequest, 'userId' | 'prepare'>> {
  prepare?: JobRequest['prepare'];
}

/** A request whose prepare() records every size it is asked for. */
export function testRequest(userId: string, options: TestRequestOptions = {}): JobRequest & { prepared: number[] } {
  const prepared: number[] = [];
  return {
    userId,
    size: 256,
    iterations: 5,
    ...options,
    prepared,
    prepare:
      options.prepare ??
      ((size: number) => {
        prepared.push(size);
        return Promise.resolve({ content: imageOfSize(size), styles: [{ image: imageOfSize(size), weight: 1 }] });
      }),
  };
}
