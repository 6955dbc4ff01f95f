import { setTimeout as sleep } from 'node:timers/promises';
import type { EngineJob, Failure, ResultInfo } from '../../src/engine/protocol.ts';
import type { BackendInfo, LossTerms, StylizeSettings } from '../../src/engine/types.ts';
import type { JobRunner, RunnerEvent, RunOutcome } from '../../src/queue/local-queue.ts';

/**
 * A stand-in for the worker pool, in-process: each job takes `msPerIter` per iteration, reports progress, honours
 * cancellation between iterations (or ignores it, and is "killed" after `stopTimeoutMs` like a real stuck worker),
 * and keeps books on what it was asked, so that tests can check the queue's behaviour from the engine's side.
 */
export interface FakeRunnerOptions {
  msPerIter?: number;
  workers?: number;
  /** Ends the job failed with this instead of running. */
  fail?: (job: EngineJob) => Failure | undefined;
  /** Runs out of memory above this output long side: reports `retrying` at 70% and carries on there. */
  oomAbove?: number;
  /** The worker dies at this iteration (once per job); the run goes on as the retry on a "fresh worker". */
  dieAt?: (job: EngineJob) => number | undefined;
  /** Never looks at the cancel; it is "killed" stopTimeoutMs after being told. */
  ignoreCancel?: boolean;
  stopTimeoutMs?: number;
  /** Never looks at the job's time limit. */
  ignoreTimeLimit?: boolean;
}

export interface FakeCall {
  job: EngineJob;
  signal: AbortSignal;
  lastIteration: number;
  iterationAtAbort: number | undefined;
  outcome: 'running' | 'completed' | 'time-limit' | 'cancelled' | 'killed' | 'failed';
}

const LOSS: LossTerms = { total: 100, content: 60, style: 30, tv: 10 };
const BACKEND: BackendInfo = { name: 'cpu', gpu: false, device: 'fake', threads: 1, reason: 'test' };

export class FakeRunner implements JobRunner {
  readonly calls: FakeCall[] = [];
  live = 0;
  maxLive = 0;
  started = false;
  closed = false;
  #alive: number;
  readonly #options: Required<Pick<FakeRunnerOptions, 'msPerIter' | 'workers' | 'stopTimeoutMs'>> & FakeRunnerOptions;

  constructor(options: FakeRunnerOptions = {}) {
    this.#options = { msPerIter: 2, workers: 1, stopTimeoutMs: 50, ...options };
    this.#alive = this.#options.workers;
  }

  /** Simulates workers dying (0: the engine is restarting) or coming back. */
  setAlive(alive: number): void {
    this.#alive = alive;
  }

  start(): Promise<void> {
    this.started = true;
    return Promise.resolve();
  }

  status(): ReturnType<JobRunner['status']> {
    const workers = Array.from({ length: this.#options.workers }, (_, i) => ({
      id: `fake:${i}`,
      backend: BACKEND,
      busy: i < this.live,
    }));
    return { alive: this.#alive, busy: this.live, workers };
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  async run(job: EngineJob, onEvent: (event: RunnerEvent) => void, signal: AbortSignal): Promise<RunOutcome> {
    const call: FakeCall = { job, signal, lastIteration: 0, iterationAtAbort: undefined, outcome: 'running' };
    this.calls.push(call);
    this.live++;
    this.maxLive = Math.max(this.maxLive, this.live);
    const onAbort = () => (call.iterationAtAbort = call.lastIteration);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.#run(call, onEvent);
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.live--;
    }
  }

  async #run(call: FakeCall, onEvent: (event: RunnerEvent) => void): Promise<RunOutcome> {
    const { job, signal } = call;
    const o = this.#options;
    let size = Math.max(job.content.width, job.content.height);
    const iterations = job.settings.iterations ?? 10;
    const failure = o.fail?.(job);
    if (failure) {
      call.outcome = 'failed';
      return { state: 'failed', failure };
    }
    onEvent({ type: 'started', size, iterations });
    if (o.oomAbove !== undefined && size > o.oomAbove) {
      size = Math.round(size * 0.7);
      if (size > o.oomAbove) {
        call.outcome = 'failed';
        return { state: 'failed', failure: { code: 'out-of-memory', message: 'out of memory' } };
      }
      onEvent({ type: 'retrying', size, reason: 'out-of-memory' });
    }
    const dieAt = o.dieAt?.(job);
    const started = performance.now();
    let abortedAt: number | undefined;
    for (let i = 1; i <= iterations; i++) {
      if (signal.aborted) {
        abortedAt ??= performance.now();
        if (!o.ignoreCancel) {
          call.outcome = 'cancelled';
          return { state: 'cancelled' };
        }
        if (performance.now() - abortedAt >= o.stopTimeoutMs) {
          call.outcome = 'killed';
          return { state: 'cancelled' };
        }
      }
      if (!o.ignoreTimeLimit && performance.now() - started >= job.timeLimitMs) {
        call.outcome = 'time-limit';
        return { state: 'completed', result: result(job, size, call.lastIteration, started, 'time-limit') };
      }
      await sleep(o.msPerIter);
      call.lastIteration = i;
      if (i === dieAt) {
        onEvent({ type: 'restarted' });
        onEvent({ type: 'started', size, iterations });
      }
      onEvent({
        type: 'progress',
        iteration: i,
        total: iterations,
        elapsedMs: performance.now() - started,
        etaMs: i < 2 ? undefined : ((performance.now() - started) / i) * (iterations - i),
        loss: { ...LOSS, total: LOSS.total / i },
        scale: undefined,
      });
    }
    call.outcome = 'completed';
    return { state: 'completed', result: result(job, size, iterations, started, 'completed') };
  }
}

function result(
  job: EngineJob,
  size: number,
  iterations: number,
  started: number,
  stopReason: ResultInfo['stopReason'],
): ResultInfo {
  const seconds = (performance.now() - started) / 1000;
  const scale = size / Math.max(job.content.width, job.content.height);
  return {
    image: {
      bytes: new Uint8Array([0x89, 0x50, 0x4e, 0x47]),
      mime: 'image/png',
      extension: 'png',
      width: Math.round(job.content.width * scale),
      height: Math.round(job.content.height * scale),
    },
    iterations,
    seconds,
    msPerIter: iterations === 0 ? 0 : (seconds * 1000) / iterations,
    backend: 'fake',
    loss: LOSS,
    initialLoss: LOSS,
    stopReason,
    settings: { iterations, contentWeight: 5, styleWeight: 100, tvWeight: 0.001, seed: 1, ...job.settings } as StylizeSettings,
    ...(scale < 1 && { retriedAtSize: size }),
  };
}
