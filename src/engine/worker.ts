/**
 * An engine worker process, forked by the worker pool (src/queue/worker-pool.ts): it loads the weights and the
 * engine once, then runs one job at a time and reports it in protocol.ts messages. It knows nothing of Discord or
 * queues. It never outlives its parent: it exits when the IPC channel closes or its parent process is gone.
 */
import { Writable } from 'node:stream';
import type { DestinationStream } from 'pino';
import { isUserFacing } from '../errors/user-facing-error.ts';
import { encodeFinal, encodePreview, resizeRgb, type EncodedImage } from '../images/index.ts';
import type { RgbImage } from '../images/rgb-image.ts';
import { MIN_SIDE, longSide, scaleToLongSide, shortSide } from '../images/size-plan.ts';
import { createLogger, type Logger } from '../log/logger.ts';
import { loadWeights } from '../weights/index.ts';
import { createEngine, resolveSettings } from './index.ts';
import {
  FAILURE_MESSAGES,
  type EncodedBytes,
  type EngineJob,
  type Failure,
  type FromWorker,
  type ProgressInfo,
  type StartupFailure,
  type ToWorker,
  type WorkerInit,
} from './protocol.ts';
import type { BackendInfo, StylizeRequest, StylizeResult } from './types.ts';

/** An out-of-memory retry runs at this share of the failed size, and not below RETRY_MIN_SIZE. */
const RETRY_SCALE = 0.7;
const RETRY_MIN_SIZE = 128;
/** How often the worker checks that its parent still exists (for a parent killed so hard it could not say so). */
const PARENT_POLL_MS = 1000;

// ---------------------------------------------------------------------------------------------------------------
// The engine, behind one function: every call into it is in startEngine, so that a change of its API is adapted
// here and nowhere else.

type EngineProgress = Omit<ProgressInfo, 'preview'> & {
  /** The current image; call it synchronously inside onProgress. */
  preview: () => RgbImage;
};

type EngineRun =
  | { ok: true; result: StylizeResult }
  /** `aborted`: the signal stopped it; `out-of-memory`: worth a retry at a smaller size (unless `fatal`). */
  | { ok: false; kind: 'aborted' | 'out-of-memory' | 'error'; error: unknown };

interface LoadedEngine {
  readonly backend: BackendInfo;
  /** The iterations a job will run at most: its setting, else its preset's. Throws for an invalid preset. */
  iterations(job: EngineJob): number;
  run(
    request: StylizeRequest,
    hooks: { signal: AbortSignal; timeLimitMs: number; onProgress: (progress: EngineProgress) => void },
  ): Promise<EngineRun>;
  /** A WebAssembly trap happened: the module's state is lost and this process cannot run another job. */
  readonly broken: boolean;
  dispose(): Promise<void>;
}

async function startEngine(init: WorkerInit, logger: Logger): Promise<LoadedEngine> {
  const { file, cacheDir, label, shapes } = init.weights;
  const weights = await loadWeights(cacheDir === undefined ? file : { source: file, cacheDir }, { label, shapes, logger });
  const engine = await createEngine(weights, { backend: init.backend, threads: init.threads, logger });
  let broken = false;
  return {
    backend: engine.backend,
    iterations: (job) => resolveSettings(job.preset, job.settings).iterations,
    get broken() {
      return broken;
    },
    run: async (request, { signal, timeLimitMs, onProgress }) => {
      try {
        const result = await engine.stylize(request, {
          signal,
          timeLimitMs,
          onProgress: (p) =>
            onProgress({
              iteration: p.iteration,
              total: p.total,
              elapsedMs: p.elapsedMs,
              etaMs: p.etaMs,
              loss: p.loss,
              scale: p.scale,
              preview: () => p.preview(),
            }),
        });
        return { ok: true, result };
      } catch (error) {
        if (hasWasmTrap(error)) broken = true;
        if (signal.aborted || nameOf(error) === 'StylizeAbortedError') return { ok: false, kind: 'aborted', error };
        if (nameOf(error) === 'EngineOutOfMemoryError') return { ok: false, kind: 'out-of-memory', error };
        return { ok: false, kind: 'error', error };
      }
    },
    dispose: () => engine.dispose(),
  };
}

/** Emscripten's abort() and every other wasm trap throw WebAssembly.RuntimeError; the module is unusable after. */
function hasWasmTrap(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e.name === 'RuntimeError') return true;
  }
  return false;
}

function nameOf(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Messages to the parent, in order: a progress event whose preview is still being encoded holds back the ones
// after it.

class Outbox {
  #chain: Promise<void> = Promise.resolve();

  post(message: FromWorker | Promise<FromWorker>): void {
    this.#chain = this.#chain.then(async () => send(await message));
  }

  /** Resolves once everything posted so far has been handed to the IPC channel. */
  flushed(): Promise<void> {
    return this.#chain;
  }
}

function send(message: FromWorker): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) return resolve();
    // An error here means the channel closed: the 'disconnect' handler ends the process.
    process.send!(message, undefined, {}, () => resolve());
  });
}

/** A log destination that hands each JSON line to the parent, which writes it to its own log. */
function toParent(): DestinationStream {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line || !process.connected) continue;
        try {
          process.send!({ type: 'log', entry: JSON.parse(line) as Record<string, unknown> } satisfies FromWorker);
        } catch {
          // The channel closed under us; the 'disconnect' handler ends the process.
        }
      }
      done();
    },
  });
}

// ---------------------------------------------------------------------------------------------------------------
// One job.

function toBytes(image: EncodedImage): EncodedBytes {
  return { bytes: image.bytes, mime: image.mime, extension: image.extension, width: image.width, height: image.height };
}

function failed(jobId: string, failure: Failure): FromWorker {
  return { type: 'failed', jobId, failure };
}

/** A run that threw, as the failure its user sees; internal errors are logged with their detail. */
function failureOf(error: unknown, logger: Logger): Failure {
  if (isUserFacing(error)) return { code: 'invalid-request', message: error.userMessage };
  logger.error({ err: error }, 'job failed with an internal error');
  return { code: 'internal', message: FAILURE_MESSAGES.internal };
}

/**
 * The content and styles for a retry at `size` (long side), or undefined when no smaller size is left: styles
 * shrink by the content's factor, and no side goes below 32 px.
 */
async function shrinkForRetry(
  content: RgbImage,
  styles: EngineJob['styles'],
  size: number,
): Promise<{ content: RgbImage; styles: EngineJob['styles']; size: number } | undefined> {
  const target = Math.max(RETRY_MIN_SIZE, Math.floor(size * RETRY_SCALE));
  const factor = Math.max(target / size, MIN_SIDE / shortSide(content));
  const newSize = Math.round(size * factor);
  if (newSize >= size) return undefined;
  const smaller = async (image: RgbImage, f: number) => {
    const long = Math.round(longSide(image) * Math.min(1, Math.max(f, MIN_SIDE / shortSide(image))));
    return resizeRgb(image, scaleToLongSide(image, long));
  };
  return {
    content: await smaller(content, factor),
    styles: await Promise.all(styles.map(async ({ image, weight }) => ({ image: await smaller(image, factor), weight }))),
    size: newSize,
  };
}

/** Runs `job` to its one final message; the events before it go to `outbox` as they happen. */
async function runJob(
  engine: LoadedEngine,
  job: EngineJob,
  signal: AbortSignal,
  outbox: Outbox,
  logger: Logger,
): Promise<FromWorker> {
  const startedAt = performance.now();
  const jobId = job.id;
  let content = job.content;
  let styles = job.styles;
  let size = longSide(content);
  let retriedAtSize: number | undefined;
  let iterations: number;
  try {
    iterations = engine.iterations(job);
  } catch (error) {
    return failed(jobId, failureOf(error, logger));
  }
  outbox.post({ type: 'started', jobId, size, iterations });

  for (let attempt = 1; ; attempt++) {
    const timeLimitMs = Math.floor(job.timeLimitMs - (performance.now() - startedAt));
    if (timeLimitMs <= 0) return failed(jobId, { code: 'timeout', message: FAILURE_MESSAGES.timeout });
    let lastPreviewAt: number | undefined;
    const run = await engine.run(
      { content, styles, preset: job.preset, settings: job.settings },
      {
        signal,
        timeLimitMs,
        onProgress: ({ preview, ...progress }) => {
          const message: FromWorker = { type: 'progress', jobId, ...progress };
          const now = performance.now();
          const every = job.previewEveryMs;
          if (every === undefined || (lastPreviewAt !== undefined && now - lastPreviewAt < every)) {
            outbox.post(message);
            return;
          }
          lastPreviewAt = now;
          // The snapshot is taken now; only its encoding waits.
          const snapshot = preview();
          outbox.post(
            encodePreview(snapshot)
              .then((encoded) => ({ ...message, preview: toBytes(encoded) }))
              .catch((error: unknown) => {
                logger.warn({ jobId, err: error }, 'a progress preview could not be made');
                return message;
              }),
          );
        },
      },
    );
    if (run.ok) {
      if (signal.aborted) return { type: 'cancelled', jobId };
      try {
        const image = await encodeFinal(run.result.image, job.resultMaxBytes);
        const { image: _pixels, stopReason, ...rest } = run.result;
        return {
          type: 'completed',
          jobId,
          result: {
            ...rest,
            stopReason,
            image: { ...toBytes(image), ...(image.note !== undefined && { note: image.note }) },
            ...(retriedAtSize !== undefined && { retriedAtSize }),
          },
        };
      } catch (error) {
        return failed(jobId, failureOf(error, logger));
      }
    }
    if (run.kind === 'aborted') return { type: 'cancelled', jobId };
    if (run.kind === 'error') return failed(jobId, failureOf(run.error, logger));
    // Out of memory.
    const retry = attempt === 1 && !engine.broken ? await shrinkForRetry(content, styles, size) : undefined;
    if (!retry) {
      logger.warn({ jobId, size, err: run.error }, 'the engine ran out of memory');
      return failed(jobId, { code: 'out-of-memory', message: FAILURE_MESSAGES['out-of-memory'] });
    }
    logger.warn({ jobId, size, retrySize: retry.size, err: run.error }, 'out of memory; retrying once smaller');
    ({ content, styles, size } = retry);
    retriedAtSize = size;
    outbox.post({ type: 'retrying', jobId, size, reason: 'out-of-memory' });
    if (signal.aborted) return { type: 'cancelled', jobId };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The process: start-up, the message loop, the parent watch.

function startupFailure(error: unknown): StartupFailure {
  const message = (isUserFacing(error) ? error.userMessage : String((error as Error)?.message ?? error)).split('\n')[0]!;
  switch (nameOf(error)) {
    case 'WeightsError':
      return { code: 'bad-weights', message };
    case 'BackendUnavailableError':
      return { code: 'backend-unavailable', message };
    default:
      return { code: 'internal', message: `The engine worker could not start: ${message}` };
  }
}

class Worker {
  readonly #outbox = new Outbox();
  /** Replaced by one at the parent's level and format once `init` comes. */
  #logger: Logger = createLogger({ level: 'info' }).child({ worker: process.pid });
  #engine: LoadedEngine | undefined;
  #current: { jobId: string; abort: AbortController; ended: Promise<void> } | undefined;
  #shuttingDown = false;

  handle(message: ToWorker): void {
    switch (message?.type) {
      case 'init':
        void this.#start(message.init);
        return;
      case 'run':
        this.#run(message.job);
        return;
      case 'cancel':
        if (this.#current?.jobId === message.jobId) this.#current.abort.abort();
        return;
      case 'shutdown':
        void this.#shutdown();
        return;
      default:
        this.#logger.warn({ type: (message as { type?: unknown })?.type }, 'unknown message from the parent ignored');
    }
  }

  async #start(init: WorkerInit): Promise<void> {
    this.#logger = createLogger({ level: init.log.level, format: 'json', destination: toParent() });
    try {
      this.#engine = await startEngine(init, this.#logger);
    } catch (error) {
      const failure = startupFailure(error);
      this.#logger.error({ err: error, code: failure.code }, 'engine worker could not start');
      this.#outbox.post({ type: 'startup-failed', failure });
      await this.#exit(1);
      return;
    }
    const startupMs = Math.round(performance.now());
    const backend = this.#engine.backend;
    this.#logger.info({ backend: backend.name, startupMs, weights: init.weights.label }, 'engine worker ready');
    this.#outbox.post({ type: 'ready', pid: process.pid, backend, weights: init.weights.label, startupMs });
  }

  #run(job: EngineJob): void {
    const jobId = typeof job?.id === 'string' ? job.id : '?';
    if (!this.#engine || this.#current || this.#shuttingDown) {
      this.#logger.error({ jobId, busy: this.#current?.jobId }, 'a job was sent to a worker that cannot take it');
      this.#outbox.post(failed(jobId, { code: 'engine-unavailable', message: FAILURE_MESSAGES['engine-unavailable'] }));
      return;
    }
    const engine = this.#engine;
    const abort = new AbortController();
    const logger = this.#logger.child({ jobId });
    logger.info({ width: job.content?.width, height: job.content?.height }, 'job started');
    const ended = runJob(engine, job, abort.signal, this.#outbox, logger)
      .catch((error: unknown) => failed(jobId, failureOf(error, logger)))
      .then(async (final) => {
        logger.info({ outcome: final.type }, 'job ended');
        this.#outbox.post(final);
        await this.#outbox.flushed();
        this.#current = undefined;
        if (engine.broken) {
          logger.error('the WebAssembly backend trapped and cannot run another job; this worker exits');
          await this.#exit(1);
        }
      });
    this.#current = { jobId, abort, ended };
  }

  async #shutdown(): Promise<void> {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    this.#logger.info({ running: this.#current?.jobId }, 'engine worker shutting down');
    if (this.#current) {
      this.#current.abort.abort();
      await this.#current.ended;
    }
    await this.#engine?.dispose();
    await this.#exit(0);
  }

  get logger(): Logger {
    return this.#logger;
  }

  async #exit(code: number): Promise<void> {
    await this.#outbox.flushed();
    process.exit(code);
  }
}

/** Exits at once when the parent is gone: nothing is left to report to, and no job may run on unseen. */
function watchParent(logger: () => Logger): void {
  const parent = process.ppid;
  const gone = (why: string) => {
    logger().warn({ parent }, `${why}; the engine worker exits`);
    process.exit(2);
  };
  process.on('disconnect', () => gone('the IPC channel to the parent closed'));
  const timer = setInterval(() => {
    if (!process.connected) gone('the IPC channel to the parent is closed');
    else if (process.ppid !== parent) gone(`the parent process ${parent} is gone`);
  }, PARENT_POLL_MS);
  timer.unref();
}

if (!process.send) {
  process.stderr.write('src/engine/worker.ts is an engine worker: the worker pool starts it with child_process.fork.\n');
  process.exit(2);
}
const worker = new Worker();
watchParent(() => worker.logger);
process.on('uncaughtException', (error) => {
  worker.logger.fatal({ err: error }, 'engine worker crashed');
  process.exit(1);
});
// The parent decides when a worker stops (it gives running jobs their grace period first): a Ctrl+C in a
// terminal, or a service manager's SIGTERM to the whole process group, must not end jobs behind its back. The
// worker still ends with its parent, by the watch above.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);
process.on('message', (message: ToWorker) => worker.handle(message));
