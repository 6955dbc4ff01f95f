import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
// protocol.ts has type imports only, so this value import brings no engine code (no tfjs) into the bot's process.
import {
  FAILURE_MESSAGES,
  type EngineJob,
  type Failure,
  type FromWorker,
  type JobProgressEvent,
  type ResultInfo,
  type StartupFailure,
  type ToWorker,
  type WorkerInit,
} from '../engine/protocol.ts';
import type { BackendInfo, BackendName } from '../engine/types.ts';
import { UserFacingError } from '../errors/user-facing-error.ts';
import { pino } from 'pino';
import type { Logger } from '../log/logger.ts';

const LOG_METHODS = { trace: 'trace', debug: 'debug', info: 'info', warn: 'warn', error: 'error', fatal: 'fatal' } as const;

/**
 * The engine worker processes of one machine: forks them (src/engine/worker.ts), sizes the pool from the backend
 * the first one reports, gives each job to the next idle worker, replaces workers that die (with backoff) and
 * retries a job whose worker died once, kills workers that do not stop when told, and stops them all on close.
 */

export interface WorkerPoolOptions {
  /** Weights location, backend choice and log settings for every worker; the pool adds each one's threads. */
  init: Omit<WorkerInit, 'threads'>;
  /** ENGINE_WORKERS; undefined: decided from the first worker's backend (see planPoolSize). */
  workers: number | undefined;
  /** ENGINE_THREADS; undefined: the cores shared out among the workers. */
  threads: number | undefined;
  logger: Logger;
  /**
   * A worker that has not stopped this long after being told (cancel, shutdown) is killed with SIGKILL and
   * replaced. @default 10_000
   */
  stopTimeoutMs?: number;
  /**
   * Delay before replacing a worker that died unexpectedly: doubles with each death in a row, back to the start
   * once a worker has run STABLE_AFTER_MS. @default { initialMs: 1000, maxMs: 30_000 }
   */
  restartBackoff?: { initialMs: number; maxMs: number };
  /** The worker's entry module and Node flags. @default src/engine/worker.ts with `--import tsx` */
  entry?: { path: string; execArgv: string[] };
}

export type RunOutcome =
  | { state: 'completed'; result: ResultInfo }
  | { state: 'failed'; failure: Failure }
  | { state: 'cancelled' };

/**
 * A running job's events: the worker's own, plus `restarted` when its worker died and it is about to run again,
 * once, on a fresh worker (its `started` follows).
 */
export type PoolJobEvent = JobProgressEvent | { type: 'restarted' };

export interface PoolStatus {
  /** Workers ready for jobs, idle or busy: 0 means no job can run until a worker is back. */
  alive: number;
  busy: number;
  /** Forked, loading the weights and the engine. */
  starting: number;
  /** Replacements waiting out their backoff before they are forked. */
  restarting: number;
  workers: { id: string; pid: number; backend: BackendInfo; busy: boolean }[];
}

/** The start-up line of a worker that could not start (bad weights, a backend that cannot run). */
export class EngineStartupError extends UserFacingError {
  constructor(
    message: string,
    readonly code: StartupFailure['code'] | 'exited',
  ) {
    super(message);
  }
}

const UNAVAILABLE: RunOutcome = {
  state: 'failed',
  failure: { code: 'engine-unavailable', message: FAILURE_MESSAGES['engine-unavailable'] },
};

const DEFAULT_STOP_TIMEOUT_MS = 10_000;
const DEFAULT_BACKOFF = { initialMs: 1000, maxMs: 30_000 };
/** A worker that ran this long before it died was stable: its replacement's backoff starts over. */
const STABLE_AFTER_MS = 60_000;

const GB = 1e9;
/**
 * Host memory one worker may need, by backend, for the automatic pool size (at the default 512 px output). wasm:
 * a worker's peak RSS after a 512 px job with one style was 1.9 GB (scripts/bench-worker-overhead.ts --rss-size
 * 512: forward and backward activations, L-BFGS history, and a wasm heap that keeps its high-water mark); issue 12
 * saw about 2.5 GB in the bot, which also covers several or larger style images. cpu holds the same tensors as JS
 * typed arrays; the multi-threaded CPU paths (onnx, tensorflow) hold them in native memory. GPU paths keep the
 * activations on the device, and the host the weights and the images.
 */
export const WORKER_MEMORY_BYTES: Readonly<Record<BackendName, number>> = {
  wasm: 2.5 * GB,
  cpu: 2.5 * GB,
  onnx: 2.5 * GB,
  tensorflow: 2.5 * GB,
  'onnx-cuda': 1.5 * GB,
  'onnx-webgpu': 1.5 * GB,
};
/** Workers may take this share of the machine's memory; the rest is for the bot, the OS and the page cache. */
const MEMORY_SHARE = 0.75;
/** Backends that compute on one thread: the cores are used by running one worker per core. */
const SINGLE_THREADED: readonly BackendName[] = ['wasm', 'cpu'];

export interface PoolSizeInput {
  workers: number | undefined;
  backend: BackendInfo;
  cores: number;
  totalMemoryBytes: number;
}

/**
 * How many workers to run. ENGINE_WORKERS wins (with a warning above the memory bound). Otherwise: one on a GPU
 * (a GPU runs one job best at a time); one on a multi-threaded CPU backend (ONNX Runtime, native TensorFlow: one
 * job gets every core, the best latency, and their near-linear thread scaling keeps throughput); one per core on
 * the single-threaded ones (wasm, cpu), where more jobs at once is the only way to use the cores. Always at most
 * what memory allows.
 */
export function planPoolSize(input: PoolSizeInput): { workers: number; reason: string; warning?: string } {
  const { backend, cores } = input;
  const perWorker = WORKER_MEMORY_BYTES[backend.name];
  const memoryBound = Math.max(1, Math.floor((MEMORY_SHARE * input.totalMemoryBytes) / perWorker));
  const memory = `${(input.totalMemoryBytes / GB).toFixed(1)} GB of memory allow ${memoryBound} at ${perWorker / GB} GB each`;
  if (input.workers !== undefined) {
    const warning =
      input.workers > memoryBound
        ? `ENGINE_WORKERS=${input.workers} is above what memory allows: ${memory}; large jobs may run out of memory`
        : undefined;
    return { workers: input.workers, reason: 'set by ENGINE_WORKERS', ...(warning && { warning }) };
  }
  if (backend.gpu) return { workers: 1, reason: `${backend.name} computes on a GPU, which runs one job best at a time` };
  if (!SINGLE_THREADED.includes(backend.name)) {
    return {
      workers: 1,
      reason: `${backend.name} is multi-threaded: one job gets all ${cores} cores (best latency, and throughput scales with threads)`,
    };
  }
  const workers = Math.min(cores, memoryBound);
  return {
    workers,
    reason: `${backend.name} computes on one thread: one worker per core (${cores}), bounded by memory (${memory})`,
  };
}

/** CPU threads each worker computes with: ENGINE_THREADS, else the cores shared out among ENGINE_WORKERS (or 1). */
export function threadsPerWorker(threads: number | undefined, workers: number | undefined, cores: number): number {
  return threads ?? Math.max(1, Math.floor(cores / (workers ?? 1)));
}

/** Environment variables a worker never gets: it knows nothing of Discord, Redis or any credential. */
const SECRET_NAME = /TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE_KEY|API_KEY/i;

function workerEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(env).filter(([name]) => !name.startsWith('DISCORD_') && name !== 'REDIS_URL' && !SECRET_NAME.test(name)),
  );
}

function defaultEntry(): { path: string; execArgv: string[] } {
  // tsx by absolute URL: `--import tsx` would resolve from the working folder, which need not be the project's.
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return { path: fileURLToPath(new URL('../engine/worker.ts', import.meta.url)), execArgv: ['--import', tsx] };
}

type WorkerState = 'starting' | 'idle' | 'busy' | 'stopping' | 'exited';

/** One forked worker process, from fork to exit. */
class PoolWorker {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly id: string;
  readonly forkedAt = performance.now();
  state: WorkerState = 'starting';
  backend: BackendInfo | undefined;
  readyAt: number | undefined;
  run: PoolRun | undefined;
  /** The pool stopped or killed it: its exit is no crash. */
  intentional = false;
  startupFailure: StartupFailure | undefined;
  /** Resolves with the backend once ready; rejects with the start-up line if it exits first. */
  readonly ready: Promise<BackendInfo>;
  readonly exited: Promise<void>;
  resolveReady!: (backend: BackendInfo) => void;
  rejectReady!: (error: EngineStartupError) => void;
  resolveExited!: () => void;
  killTimer: NodeJS.Timeout | undefined;

  constructor(
    child: ChildProcess,
    /** The delay before this worker's replacement if it dies unexpectedly. */
    readonly backoffMs: number,
  ) {
    this.child = child;
    this.pid = child.pid ?? -1;
    this.id = `${os.hostname()}:${this.pid}`;
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // Only start() awaits it; a replacement that fails to start is handled by its exit.
    this.ready.catch(() => undefined);
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
  }
}

/** One run() call, from submission to its one outcome, across at most two workers. */
class PoolRun {
  deaths = 0;
  worker: PoolWorker | undefined;
  cancelSent = false;
  done = false;
  killTimer: NodeJS.Timeout | undefined;
  onAbort: (() => void) | undefined;

  constructor(
    readonly job: EngineJob,
    readonly onEvent: (event: PoolJobEvent) => void,
    readonly signal: AbortSignal,
    private readonly resolve: (outcome: RunOutcome) => void,
  ) {}

  settle(outcome: RunOutcome): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.killTimer);
    if (this.onAbort) this.signal.removeEventListener('abort', this.onAbort);
    this.resolve(outcome);
  }
}

export class WorkerPool {
  readonly #options: WorkerPoolOptions;
  readonly #logger: Logger;
  readonly #entry: { path: string; execArgv: string[] };
  readonly #stopTimeoutMs: number;
  readonly #backoff: { initialMs: number; maxMs: number };
  readonly #cores = os.availableParallelism();
  readonly #threads: number;
  readonly #workers = new Set<PoolWorker>();
  readonly #restartTimers = new Set<NodeJS.Timeout>();
  #pending: PoolRun[] = [];
  #starting: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  /** No more workers are forked: closing, or the first one could not start. */
  #stopped = false;
  /** The first worker was ready and the pool has its size: from now on, dead workers are replaced. */
  #sized = false;

  /** What the workers' weights are called in messages (the configured path or URL). */
  get weightsLabel(): string {
    return this.#options.init.weights.label;
  }

  constructor(options: WorkerPoolOptions) {
    for (const [name, value] of [
      ['workers', options.workers],
      ['threads', options.threads],
    ] as const) {
      if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
        throw new RangeError(`Expected \`${name}\` to be a whole number from 1 up or undefined, got ${value}`);
      }
    }
    this.#options = options;
    this.#logger = options.logger;
    this.#entry = options.entry ?? defaultEntry();
    this.#stopTimeoutMs = options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
    this.#backoff = options.restartBackoff ?? DEFAULT_BACKOFF;
    this.#threads = threadsPerWorker(options.threads, options.workers, this.#cores);
  }

  /**
   * Forks the first worker and waits for it: resolves when it is ready, rejects with an EngineStartupError whose
   * message is the worker's one start-up line. Then sizes the pool and forks the rest in the background.
   */
  start(): Promise<void> {
    return (this.#starting ??= this.#start());
  }

  async #start(): Promise<void> {
    if (this.#stopped) throw new EngineStartupError('The worker pool has been closed.', 'exited');
    const first = this.#fork(this.#backoff.initialMs);
    let backend: BackendInfo;
    try {
      backend = await first.ready;
    } catch (error) {
      this.#stopped = true;
      this.#failPending(`the engine could not start: ${(error as Error).message}`);
      await this.#stopWorker(first);
      throw error;
    }
    if (this.#stopped) return;
    const plan = planPoolSize({
      workers: this.#options.workers,
      backend,
      cores: this.#cores,
      totalMemoryBytes: os.totalmem(),
    });
    this.#sized = true;
    if (plan.warning) this.#logger.warn(plan.warning);
    this.#logger.info(
      { workers: plan.workers, threads: this.#threads, backend: backend.name, cores: this.#cores },
      `engine workers: ${plan.workers} × ${this.#threads} thread(s): ${plan.reason}`,
    );
    // Normally forks plan.workers - 1; more if the first one has died since it said it was ready.
    for (let i = this.#workers.size; i < plan.workers; i++) this.#fork(this.#backoff.initialMs);
  }

  /**
   * Runs `job` on the next idle live worker; jobs wait for one in arrival order. Resolves exactly once, never
   * rejects. Aborting `signal` cancels it: a worker that has not ended the job `stopTimeoutMs` later is killed
   * (and replaced), and the outcome is `cancelled`.
   */
  run(job: EngineJob, onEvent: (event: PoolJobEvent) => void, signal: AbortSignal): Promise<RunOutcome> {
    return new Promise((resolve) => {
      const run = new PoolRun(job, onEvent, signal, resolve);
      if (this.#stopped) {
        run.settle(UNAVAILABLE);
        return;
      }
      if (signal.aborted) {
        run.settle({ state: 'cancelled' });
        return;
      }
      run.onAbort = () => this.#cancel(run);
      signal.addEventListener('abort', run.onAbort, { once: true });
      this.#pending.push(run);
      this.#dispatch();
    });
  }

  status(): PoolStatus {
    const live = [...this.#workers].filter((w) => w.state === 'idle' || w.state === 'busy');
    return {
      alive: live.length,
      busy: live.filter((w) => w.state === 'busy').length,
      starting: [...this.#workers].filter((w) => w.state === 'starting').length,
      restarting: this.#restartTimers.size,
      workers: live.map((w) => ({ id: w.id, pid: w.pid, backend: w.backend!, busy: w.state === 'busy' })),
    };
  }

  /**
   * Stops replacing workers, cancels waiting jobs, tells every worker to shut down (a running job ends
   * `cancelled`, or with the outcome that beat the cancel), kills those still there after stopTimeoutMs, and
   * resolves when every worker process has exited.
   */
  close(): Promise<void> {
    return (this.#closing ??= this.#close());
  }

  async #close(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#restartTimers) clearTimeout(timer);
    this.#restartTimers.clear();
    const waiting = this.#pending;
    this.#pending = [];
    for (const run of waiting) run.settle({ state: 'cancelled' });
    const workers = [...this.#workers];
    this.#logger.info(
      { workers: workers.length, running: workers.filter((w) => w.run && !w.run.done).length },
      'stopping the engine workers',
    );
    await Promise.all(workers.map((w) => this.#stopWorker(w)));
  }

  #failPending(why: string): void {
    const waiting = this.#pending;
    this.#pending = [];
    for (const run of waiting) {
      this.#logger.warn({ jobId: run.job.id }, `job not run: ${why}`);
      run.settle(UNAVAILABLE);
    }
  }

  // --- workers -------------------------------------------------------------------------------------------------

  #fork(backoffMs: number): PoolWorker {
    const child = fork(this.#entry.path, [], {
      execArgv: this.#entry.execArgv,
      env: workerEnvironment(process.env),
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const worker = new PoolWorker(child, backoffMs);
    this.#workers.add(worker);
    let exited = false;
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      if (exited) return;
      exited = true;
      this.#onExit(worker, code, signal);
    };
    child.on('message', (message: FromWorker) => this.#onMessage(worker, message));
    // 'close', not 'exit': it comes once the IPC channel is drained too, so a worker's last messages (its
    // start-up failure, the outcome it sent before exiting) are read before its death is handled.
    child.on('close', onExit);
    child.on('error', (error) => {
      this.#logger.error({ pid: worker.pid, err: error }, 'engine worker process error');
      // A fork that never started emits no 'close'.
      if (child.pid === undefined) onExit(null, null);
    });
    this.#logger.debug({ pid: worker.pid, threads: this.#threads }, 'engine worker forked');
    this.#send(worker, { type: 'init', init: { ...this.#options.init, threads: this.#threads } });
    return worker;
  }

  #onMessage(worker: PoolWorker, message: FromWorker): void {
    switch (message?.type) {
      case 'ready': {
        worker.backend = message.backend;
        worker.readyAt = performance.now();
        if (worker.state === 'starting') worker.state = 'idle';
        this.#logger.info(
          {
            pid: worker.pid,
            backend: message.backend.name,
            device: message.backend.device,
            startupMs: message.startupMs,
            sinceForkMs: Math.round(worker.readyAt - worker.forkedAt),
          },
          'engine worker ready',
        );
        worker.resolveReady(message.backend);
        this.#dispatch();
        return;
      }
      case 'startup-failed':
        worker.startupFailure = message.failure;
        return;
      case 'log':
        this.#relayLog(worker, message.entry);
        return;
      case 'started':
      case 'retrying':
      case 'progress': {
        const run = this.#runOf(worker, message.jobId);
        if (!run) return;
        const { jobId: _jobId, ...event } = message;
        this.#emit(run, event);
        return;
      }
      case 'completed':
      case 'failed':
      case 'cancelled': {
        const run = this.#runOf(worker, message.jobId);
        if (!run) return;
        worker.run = undefined;
        if (worker.state === 'busy') worker.state = 'idle';
        run.settle(
          message.type === 'completed'
            ? { state: 'completed', result: message.result }
            : message.type === 'failed'
              ? { state: 'failed', failure: message.failure }
              : { state: 'cancelled' },
        );
        this.#dispatch();
        return;
      }
      default:
        this.#logger.warn({ pid: worker.pid, type: (message as { type?: unknown })?.type }, 'unknown worker message ignored');
    }
  }

  /** A worker's log line, written by this process's logger with the worker's pid. */
  #relayLog(worker: PoolWorker, entry: Record<string, unknown>): void {
    const { level, msg, time: _time, pid: _pid, hostname: _host, ...fields } = entry;
    const label = typeof level === 'number' ? pino.levels.labels[level] : undefined;
    const write = label && label in LOG_METHODS ? LOG_METHODS[label as keyof typeof LOG_METHODS] : 'info';
    this.#logger[write]({ ...fields, worker: worker.pid }, typeof msg === 'string' ? msg : '');
  }

  /** The worker's current run, if `jobId` is it and it has not ended. */
  #runOf(worker: PoolWorker, jobId: string): PoolRun | undefined {
    const run = worker.run;
    return run && !run.done && run.job.id === jobId ? run : undefined;
  }

  #emit(run: PoolRun, event: PoolJobEvent): void {
    try {
      run.onEvent(event);
    } catch (error) {
      this.#logger.error({ jobId: run.job.id, err: error }, 'a job event listener threw');
    }
  }

  #onExit(worker: PoolWorker, code: number | null, signal: NodeJS.Signals | null): void {
    const wasReady = worker.readyAt !== undefined;
    worker.state = 'exited';
    clearTimeout(worker.killTimer);
    this.#workers.delete(worker);
    const how = signal ? `killed by ${signal}` : `exit code ${code}`;
    if (!wasReady) {
      const failure = worker.startupFailure;
      worker.rejectReady(
        failure
          ? new EngineStartupError(failure.message, failure.code)
          : new EngineStartupError(`The engine worker exited during start-up (${how}); see the log above.`, 'exited'),
      );
    }
    const run = worker.run;
    worker.run = undefined;
    if (run && !run.done) this.#jobLostItsWorker(run, worker, how);
    if (!worker.intentional) {
      const startup = worker.startupFailure?.message;
      this.#logger.warn({ pid: worker.pid, code, signal, jobId: run?.job.id, startup }, `engine worker died (${how})`);
    }
    worker.resolveExited();
    if (this.#sized && !this.#stopped) this.#replace(worker);
    this.#dispatch();
  }

  #jobLostItsWorker(run: PoolRun, worker: PoolWorker, how: string): void {
    run.worker = undefined;
    if (run.cancelSent || this.#closing) {
      run.settle({ state: 'cancelled' });
      return;
    }
    run.deaths++;
    if (run.deaths >= 2) {
      this.#logger.error({ jobId: run.job.id, pid: worker.pid }, `job failed: its worker died a second time (${how})`);
      run.settle({ state: 'failed', failure: { code: 'worker-crashed', message: FAILURE_MESSAGES['worker-crashed'] } });
      return;
    }
    this.#logger.warn({ jobId: run.job.id, pid: worker.pid }, `job's worker died (${how}); retrying it once on a fresh worker`);
    this.#emit(run, { type: 'restarted' });
    // It was running: it goes first.
    this.#pending.unshift(run);
  }

  /** Forks a replacement: at once after an intentional kill, else after the backoff. */
  #replace(dead: PoolWorker): void {
    const { initialMs, maxMs } = this.#backoff;
    let delay = 0;
    let next = dead.backoffMs;
    if (!dead.intentional) {
      const stable = dead.readyAt !== undefined && performance.now() - dead.readyAt >= STABLE_AFTER_MS;
      delay = stable ? initialMs : dead.backoffMs;
      next = Math.min(delay * 2, maxMs);
      this.#logger.info({ delayMs: delay }, 'replacing the engine worker');
    }
    const timer = setTimeout(() => {
      this.#restartTimers.delete(timer);
      if (!this.#stopped) this.#fork(next);
    }, delay);
    this.#restartTimers.add(timer);
  }

  #dispatch(): void {
    while (this.#pending.length > 0) {
      const worker = [...this.#workers].find((w) => w.state === 'idle');
      if (!worker) return;
      const run = this.#pending.shift()!;
      try {
        // Serialized here: a job that cannot cross the process boundary throws (DataCloneError) right away.
        this.#send(worker, { type: 'run', job: run.job });
      } catch (error) {
        this.#logger.error({ jobId: run.job.id, err: error }, 'job could not be sent to an engine worker');
        run.settle({ state: 'failed', failure: { code: 'internal', message: FAILURE_MESSAGES.internal } });
        continue;
      }
      worker.state = 'busy';
      worker.run = run;
      run.worker = worker;
    }
  }

  #cancel(run: PoolRun): void {
    if (run.done) return;
    const worker = run.worker;
    if (!worker) {
      this.#pending = this.#pending.filter((r) => r !== run);
      run.settle({ state: 'cancelled' });
      return;
    }
    run.cancelSent = true;
    this.#send(worker, { type: 'cancel', jobId: run.job.id });
    run.killTimer = setTimeout(() => {
      if (run.done || run.worker !== worker) return;
      this.#logger.warn(
        { jobId: run.job.id, pid: worker.pid, waitedMs: this.#stopTimeoutMs },
        'the engine worker did not stop after a cancel; killing and replacing it',
      );
      this.#kill(worker);
      run.settle({ state: 'cancelled' });
    }, this.#stopTimeoutMs);
  }

  /** Tells `worker` to shut down and kills it if it is still there stopTimeoutMs later; resolves on its exit. */
  #stopWorker(worker: PoolWorker): Promise<void> {
    if (worker.state !== 'exited') {
      worker.intentional = true;
      worker.state = 'stopping';
      this.#send(worker, { type: 'shutdown' });
      worker.killTimer ??= setTimeout(() => {
        this.#logger.warn({ pid: worker.pid, waitedMs: this.#stopTimeoutMs }, 'engine worker did not stop; killing it');
        this.#kill(worker);
      }, this.#stopTimeoutMs);
    }
    return worker.exited;
  }

  #kill(worker: PoolWorker): void {
    worker.intentional = true;
    worker.state = 'stopping';
    worker.child.kill('SIGKILL');
  }

  #send(worker: PoolWorker, message: ToWorker): void {
    if (!worker.child.connected) return;
    worker.child.send(message, (error) => {
      // The channel closed under the message: the worker is gone, and its 'exit' handles the rest.
      if (error) this.#logger.debug({ pid: worker.pid, type: message.type, err: error }, 'message to a worker lost');
    });
  }
}
