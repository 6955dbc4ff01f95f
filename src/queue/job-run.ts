import { performance } from 'node:perf_hooks';
import { EngineOutOfMemoryError, type Progress, type StylizeFn, type StylizeResult } from '../engine/types.ts';
import type { RgbImage } from '../images/rgb-image.ts';
import { isUserFacing } from '../errors/user-facing-error.ts';
import type { Logger } from '../log/logger.ts';
import type { Job, JobControl } from './job.ts';
import { retrySize } from './limits.ts';
import { genericFailureMessage, OUT_OF_MEMORY_MESSAGE, timeoutMessage } from './messages.ts';
import type { CancelledBy, JobFailure, JobOutcome, JobRequest } from './types.ts';

export interface JobRunSettings {
  stylize: StylizeFn;
  timeoutMs: number;
  timeoutSlackMs: number;
  abortWaitMs: number;
  retryScale: number;
  minRetrySize: number;
  now: () => number;
  logger: Logger;
}

type StopReason = { kind: 'cancel'; by: CancelledBy } | { kind: 'timeout' };

/** Thrown inside the run when the time limit left no time for (another) attempt. */
class OutOfTimeError extends Error {
  constructor() {
    super('no time left for the job');
    this.name = 'OutOfTimeError';
  }
}

/**
 * One running job: prepares its inputs, runs the engine with the time limit and an abort signal, retries once
 * smaller after an out-of-memory error, and turns whatever happens into exactly one outcome. The engine is asked
 * to stop at the time limit by itself; a guard timer aborts it a little later in case it does not, and after any
 * abort the run waits at most `abortWaitMs` for the engine before ending the job anyway, so a stuck engine cannot
 * keep its user (or shutdown) waiting. The engine may still be working then: `settled` says when it has returned.
 */
export class JobRun {
  /** Resolves (never rejects) once the job has an outcome; the caller settles the job with it. */
  readonly outcome: Promise<JobOutcome>;
  /**
   * Resolves (never rejects) once the run's own work has returned: with or just after `outcome`, or later if the
   * engine was given up on (`abandoned`). Until then the engine may still hold the GPU.
   */
  readonly settled: Promise<void>;

  readonly #job: Job;
  readonly #control: JobControl;
  readonly #request: JobRequest;
  readonly #settings: JobRunSettings;
  readonly #abort = new AbortController();
  readonly #deadline: number;
  readonly #startedAt: number;
  #stopReason: StopReason | undefined;
  #guardTimer: NodeJS.Timeout | undefined;
  #abandonTimer: NodeJS.Timeout | undefined;
  #abandon!: (outcome: JobOutcome) => void;
  #retriedAtSize: number | undefined;
  #attempt = 0;
  #ended = false;
  #abandonedAt: number | undefined;

  constructor(job: Job, control: JobControl, request: JobRequest, settings: JobRunSettings) {
    this.#job = job;
    this.#control = control;
    this.#request = request;
    this.#settings = settings;
    this.#startedAt = settings.now();
    this.#deadline = performance.now() + settings.timeoutMs;
    this.#guardTimer = setTimeout(() => this.stop({ kind: 'timeout' }), settings.timeoutMs + settings.timeoutSlackMs);
    const abandoned = new Promise<JobOutcome>((resolve) => (this.#abandon = resolve));
    const ran = this.#execute().then(
      (result) => this.#whenFinished(result),
      (err: unknown) => this.#whenFailed(err),
    );
    this.outcome = Promise.race([ran, abandoned]).finally(() => {
      this.#ended = true;
      this.#clearTimers();
    });
    this.settled = ran.then(
      () => this.#returnedLate(),
      () => this.#returnedLate(),
    );
  }

  get stopping(): boolean {
    return this.#stopReason !== undefined;
  }

  /** The engine did not stop within abortWaitMs of an abort, so the job was ended without it. */
  get abandoned(): boolean {
    return this.#abandonedAt !== undefined;
  }

  /** Aborts the run. The first reason wins; the outcome follows when the engine has stopped (or is given up on). */
  stop(reason: StopReason): void {
    if (this.#stopReason || this.#ended) return;
    this.#stopReason = reason;
    if (reason.kind === 'cancel') this.#control.setStopping(reason.by);
    this.#abort.abort();
    this.#abandonTimer = setTimeout(() => {
      this.#abandonedAt = performance.now();
      this.#settings.logger.warn(
        { jobId: this.#job.id, waitedMs: this.#settings.abortWaitMs, stop: reason.kind },
        'the engine did not stop after an abort; the job is ended, but its slot stays taken until the engine returns',
      );
      this.#abandon(this.#stoppedOutcome(reason, undefined));
    }, this.#settings.abortWaitMs);
  }

  #returnedLate(): void {
    if (this.#abandonedAt === undefined) return;
    const lateMs = Math.round(performance.now() - this.#abandonedAt);
    this.#settings.logger.warn({ jobId: this.#job.id, lateMs }, 'the engine returned late; its slot is free again');
  }

  async #execute(): Promise<StylizeResult> {
    // Let submit() return before the first event after `queued`.
    await Promise.resolve();
    this.#abort.signal.throwIfAborted();
    this.#control.emit('started', { size: this.#job.size, iterations: this.#job.iterations });
    let size = this.#job.size;
    for (let attempt = 1; ; attempt++) {
      this.#attempt = attempt;
      const inputs = await this.#untilAborted(Promise.resolve(this.#request.prepare(size, this.#abort.signal)));
      const timeLimitMs = Math.floor(this.#deadline - performance.now());
      if (timeLimitMs <= 0) throw new OutOfTimeError();
      this.#abort.signal.throwIfAborted();
      try {
        return await this.#settings.stylize(
          {
            content: inputs.content,
            styles: inputs.styles,
            preset: this.#request.preset,
            settings: { ...this.#request.settings, iterations: this.#job.iterations },
          },
          { signal: this.#abort.signal, timeLimitMs, onProgress: (p) => this.#forwardProgress(p, attempt, size) },
        );
      } catch (err) {
        const smaller = retrySize(size, this.#settings.retryScale, this.#settings.minRetrySize);
        if (attempt > 1 || !isOutOfMemory(err) || this.#abort.signal.aborted || smaller === undefined) throw err;
        this.#settings.logger.warn(
          { jobId: this.#job.id, size, retrySize: smaller, err },
          'the engine ran out of memory; retrying once at a smaller size',
        );
        size = smaller;
        this.#retriedAtSize = smaller;
        this.#control.setAttemptSize(smaller);
        this.#control.emit('retrying', { size: smaller, reason: 'out-of-memory' });
      }
    }
  }

  #forwardProgress(progress: Progress, attempt: number, size: number): void {
    if (attempt !== this.#attempt || this.#abort.signal.aborted || this.#job.isFinished) return;
    const remainingMs = Math.max(0, this.#deadline - performance.now());
    const etaMs = progress.etaMs === undefined ? undefined : Math.min(progress.etaMs, remainingMs);
    this.#control.setProgress({ iteration: progress.iteration, total: progress.total, etaMs, loss: progress.loss });
    // Several listeners may each want a preview: render it once per progress event.
    let preview: RgbImage | undefined;
    this.#control.emit('progress', {
      ...progress,
      jobId: this.#job.id,
      size,
      etaMs,
      preview: () => (preview ??= progress.preview()),
    });
  }

  /** Follows `promise`, but rejects as soon as the run is aborted (a late rejection is swallowed). */
  #untilAborted<T>(promise: Promise<T>): Promise<T> {
    const signal = this.#abort.signal;
    promise.catch(() => undefined);
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      promise.finally(() => signal.removeEventListener('abort', onAbort)).then(resolve, reject);
    });
  }

  #whenFinished(result: StylizeResult): JobOutcome {
    // A cancel wins over a result that raced it; a result that beat the timeout guard is still a result.
    if (this.#stopReason?.kind === 'cancel') return { state: 'cancelled', by: this.#stopReason.by };
    return {
      state: 'completed',
      result: {
        ...result,
        timedOut: result.stopReason === 'time-limit',
        retriedAtSize: this.#retriedAtSize,
        durationMs: this.#settings.now() - this.#startedAt,
      },
    };
  }

  #whenFailed(err: unknown): JobOutcome {
    if (this.#stopReason) return this.#stoppedOutcome(this.#stopReason, err);
    if (err instanceof OutOfTimeError) return { state: 'failed', error: this.#timeoutFailure(err) };
    return { state: 'failed', error: this.#failure(err) };
  }

  #stoppedOutcome(reason: StopReason, err: unknown): JobOutcome {
    if (reason.kind === 'cancel') return { state: 'cancelled', by: reason.by };
    return { state: 'failed', error: this.#timeoutFailure(err) };
  }

  #timeoutFailure(cause: unknown): JobFailure {
    return { kind: 'timeout', message: timeoutMessage(this.#settings.timeoutMs), cause };
  }

  #failure(err: unknown): JobFailure {
    if (isOutOfMemory(err)) return { kind: 'out-of-memory', message: OUT_OF_MEMORY_MESSAGE, cause: err };
    if (isUserFacing(err)) return { kind: 'user-error', message: err.userMessage, cause: err };
    this.#settings.logger.error({ jobId: this.#job.id, err }, 'job failed with an internal error');
    return { kind: 'internal', message: genericFailureMessage(this.#job.id), cause: err };
  }

  #clearTimers(): void {
    clearTimeout(this.#guardTimer);
    clearTimeout(this.#abandonTimer);
    this.#guardTimer = undefined;
    this.#abandonTimer = undefined;
  }
}

function isOutOfMemory(err: unknown): boolean {
  // The name check also catches the error from a second copy of the engine module (e.g. a worker bundle).
  return err instanceof EngineOutOfMemoryError || (err instanceof Error && err.name === 'EngineOutOfMemoryError');
}
