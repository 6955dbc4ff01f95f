import type { Logger } from '../log/logger.ts';
import type {
  CancelledBy,
  JobEventArgs,
  JobEventHandler,
  JobEventName,
  JobListener,
  JobOutcome,
  JobState,
  LastProgress,
} from './types.ts';

export interface JobInit {
  id: string;
  userId: string;
  guildId: string | undefined;
  /** Clamped output long side. */
  size: number;
  /** Clamped iteration count. */
  iterations: number;
  createdAt: number;
}

/** The queue's handle on a job's mutable state; the public Job only reads it. */
export interface JobControl {
  setPosition(position: number | undefined): void;
  markRunning(startedAt: number): void;
  setAttemptSize(size: number): void;
  setProgress(progress: LastProgress): void;
  setStopping(by: CancelledBy): void;
  emit<E extends JobEventName>(event: E, ...args: JobEventArgs<E>): void;
  /** Ends the job once: emits its terminal event, drops every listener, resolves `done`. Later calls are ignored. */
  settle(outcome: JobOutcome, finishedAt: number): boolean;
}

type AnyHandler = (...args: unknown[]) => unknown;

const JOB_EVENTS: readonly JobEventName[] = [
  'queued',
  'position',
  'started',
  'retrying',
  'progress',
  'completed',
  'failed',
  'cancelled',
];

/**
 * One stylize request from submission to its single final outcome. Read-only for everyone but the queue.
 * Listeners added with on() after the job has ended are never called and never kept.
 */
export class Job {
  readonly id: string;
  readonly userId: string;
  readonly guildId: string | undefined;
  /** Clamped output long side that was asked for (an out-of-memory retry runs smaller: see attemptSize). */
  readonly size: number;
  readonly iterations: number;
  readonly createdAt: number;
  /** Resolves (never rejects) with the final outcome, after the terminal event has been delivered. */
  readonly done: Promise<JobOutcome>;

  #state: JobState = 'queued';
  #position: number | undefined;
  #startedAt: number | undefined;
  #finishedAt: number | undefined;
  #attemptSize: number;
  #progress: LastProgress | undefined;
  #stoppingBy: CancelledBy | undefined;
  #outcome: JobOutcome | undefined;
  readonly #handlers = new Map<JobEventName, Set<AnyHandler>>();
  readonly #logger: Logger;
  #resolveDone!: (outcome: JobOutcome) => void;

  private constructor(init: JobInit, logger: Logger) {
    this.id = init.id;
    this.userId = init.userId;
    this.guildId = init.guildId;
    this.size = init.size;
    this.iterations = init.iterations;
    this.createdAt = init.createdAt;
    this.#attemptSize = init.size;
    this.#logger = logger;
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
  }

  /** For the queue only: the job and the handle that changes it. */
  static create(init: JobInit, logger: Logger): { job: Job; control: JobControl } {
    const job = new Job(init, logger);
    const control: JobControl = {
      setPosition: (position) => (job.#position = position),
      markRunning: (startedAt) => {
        job.#state = 'running';
        job.#position = undefined;
        job.#startedAt = startedAt;
      },
      setAttemptSize: (size) => (job.#attemptSize = size),
      setProgress: (progress) => (job.#progress = progress),
      setStopping: (by) => (job.#stoppingBy ??= by),
      emit: (event, ...args) => job.#emit(event, ...args),
      settle: (outcome, finishedAt) => job.#settle(outcome, finishedAt),
    };
    return { job, control };
  }

  get state(): JobState {
    return this.#state;
  }

  /** 1-based place in the waiting line; undefined once it has left the line. */
  get position(): number | undefined {
    return this.#position;
  }

  get startedAt(): number | undefined {
    return this.#startedAt;
  }

  get finishedAt(): number | undefined {
    return this.#finishedAt;
  }

  /** Output long side of the current (or last) attempt. */
  get attemptSize(): number {
    return this.#attemptSize;
  }

  get lastProgress(): LastProgress | undefined {
    return this.#progress;
  }

  /** Set while a cancellation waits for the engine to stop. */
  get stoppingBy(): CancelledBy | undefined {
    return this.#stoppingBy;
  }

  get outcome(): JobOutcome | undefined {
    return this.#outcome;
  }

  get isFinished(): boolean {
    return this.#outcome !== undefined;
  }

  /** Adds a handler; returns a function that removes it. */
  on<E extends JobEventName>(event: E, handler: JobEventHandler<E>): () => void {
    return this.#add(event, handler as AnyHandler);
  }

  off<E extends JobEventName>(event: E, handler: JobEventHandler<E>): void {
    this.#remove(event, handler as AnyHandler);
  }

  /** Subscribes every event method the listener has (own or inherited), called with the listener as `this`. */
  listen(listener: JobListener): () => void {
    const removers: Array<() => void> = [];
    for (const event of JOB_EVENTS) {
      const method: unknown = Reflect.get(listener, event);
      if (typeof method !== 'function') continue;
      removers.push(this.#add(event, (...args) => Reflect.apply(method, listener, args)));
    }
    return () => removers.forEach((remove) => remove());
  }

  listenerCount(event?: JobEventName): number {
    if (event) return this.#handlers.get(event)?.size ?? 0;
    let count = 0;
    for (const set of this.#handlers.values()) count += set.size;
    return count;
  }

  toJSON(): Record<string, unknown> {
    return { id: this.id, userId: this.userId, guildId: this.guildId, state: this.#state, position: this.#position };
  }

  #add(event: JobEventName, handler: AnyHandler): () => void {
    if (this.isFinished) return () => undefined;
    let set = this.#handlers.get(event);
    if (!set) this.#handlers.set(event, (set = new Set()));
    set.add(handler);
    return () => this.#remove(event, handler);
  }

  #remove(event: JobEventName, handler: AnyHandler): void {
    const set = this.#handlers.get(event);
    if (!set) return;
    set.delete(handler);
    if (set.size === 0) this.#handlers.delete(event);
  }

  #emit<E extends JobEventName>(event: E, ...args: JobEventArgs<E>): void {
    const set = this.#handlers.get(event);
    if (!set) return;
    for (const handler of [...set]) {
      try {
        const returned = handler(...args);
        if (isThenable(returned)) returned.then(undefined, (err: unknown) => this.#listenerFailed(event, err));
      } catch (err) {
        this.#listenerFailed(event, err);
      }
    }
  }

  #listenerFailed(event: JobEventName, err: unknown): void {
    this.#logger.warn({ jobId: this.id, event, err }, 'a job listener threw; the job carries on');
  }

  #settle(outcome: JobOutcome, finishedAt: number): boolean {
    if (this.#outcome) return false;
    this.#outcome = outcome;
    this.#state = outcome.state;
    this.#position = undefined;
    this.#finishedAt = finishedAt;
    if (outcome.state === 'completed') this.#emit('completed', outcome.result);
    else if (outcome.state === 'failed') this.#emit('failed', outcome.error);
    else this.#emit('cancelled', outcome.by);
    this.#handlers.clear();
    this.#resolveDone(outcome);
    return true;
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === 'function';
}
