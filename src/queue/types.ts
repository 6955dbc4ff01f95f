import type {
  LossTerms,
  PresetName,
  Progress,
  StyleInput,
  StylizeFn,
  StylizeResult,
  StylizeSettings,
} from '../engine/types.ts';
import type { RgbImage } from '../images/rgb-image.ts';
import type { Logger } from '../log/logger.ts';
import type { Job } from './job.ts';

export type JobState = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
export type FinalState = Extract<JobState, 'completed' | 'failed' | 'cancelled'>;
export type CancelledBy = 'owner' | 'admin' | 'shutdown';

export interface JobInputs {
  content: RgbImage;
  styles: StyleInput[];
}

export interface JobRequest {
  userId: string;
  /** For logs and per-guild stats only. */
  guildId?: string;
  /** Requested output long side; clamped to `maxSize`. */
  size: number;
  /** Clamped to `maxIterations`. */
  iterations: number;
  preset?: PresetName;
  /** `iterations` inside is overridden by the clamped value. */
  settings?: Partial<StylizeSettings>;
  /**
   * Builds the engine inputs at a given output long side. Called when the job starts, and again at a smaller
   * size after an out-of-memory error. Its errors (e.g. a bad image) fail the job with their userMessage.
   * `signal` aborts when the job is cancelled or times out; the queue stops waiting for it either way.
   */
  prepare(size: number, signal?: AbortSignal): Promise<JobInputs>;
}

export interface QueueOptions {
  /** The real engine or a fake. */
  stylize: StylizeFn;
  /** Jobs that run at once (GPU_CONCURRENCY). */
  concurrency: number;
  /** Jobs that may wait in line (MAX_QUEUE), not counting running ones. */
  maxQueue: number;
  /** Queued plus running jobs per user (MAX_JOBS_PER_USER). */
  maxJobsPerUser: number;
  /** Maximum run time of one job, preparation and a retry included (JOB_TIMEOUT_SECONDS). */
  timeoutMs: number;
  /** How long shutdown() lets running jobs finish before cancelling them (SHUTDOWN_GRACE_SECONDS). */
  shutdownGraceMs: number;
  maxIterations: number;
  maxSize: number;
  /** For logs; the engine's own `result.backend` wins when there is one. */
  backendName?: string;
  logger?: Logger;
  /** Clock for durations and timestamps (ms). Timers always use real time. */
  now?: () => number;
  /**
   * The engine is asked to stop at `timeoutMs`; if it has not returned this much later the queue aborts it.
   * Default: 10% of timeoutMs, between 5 s and 2 min.
   */
  timeoutSlackMs?: number;
  /**
   * After an abort (cancel, timeout, shutdown), how long to wait for the engine to return before giving up on
   * it and ending the job anyway. Its slot stays taken until the engine does return, so no job runs beside it.
   * Default DEFAULT_ABORT_WAIT_MS (30 s).
   */
  abortWaitMs?: number;
  /** Smallest size an out-of-memory retry goes down to. Default 128. */
  minRetrySize?: number;
  /** Size factor of the out-of-memory retry. Default 0.7. */
  retryScale?: number;
  /** Finished jobs remembered for get() and cancel() answers. Default 1000. */
  historySize?: number;
}

/** Engine progress plus job context. Call preview() synchronously inside the listener. */
export interface JobProgress extends Progress {
  jobId: string;
  /** Output long side of the current attempt (smaller after an out-of-memory retry). */
  size: number;
}

export interface JobResult extends StylizeResult {
  /** The run hit the time limit and this is its best image so far. */
  timedOut: boolean;
  /** Set when an out-of-memory error made the job run again at this smaller size. */
  retriedAtSize?: number;
  /** From start (leaving the line) to end, preparation included. */
  durationMs: number;
}

export type FailureKind = 'timeout' | 'out-of-memory' | 'user-error' | 'internal';

export interface JobFailure {
  /** Safe to show a user: one short line, no internals. */
  message: string;
  kind: FailureKind;
  cause: unknown;
}

export type JobOutcome =
  | { state: 'completed'; result: JobResult }
  | { state: 'failed'; error: JobFailure }
  | { state: 'cancelled'; by: CancelledBy };

/** Every method is optional; exceptions (and rejected promises) from them are caught and logged. */
export interface JobListener {
  /** Exactly once, during submit(): 1-based position in the waiting line (1 also when it starts at once). */
  queued?(position: number): void;
  /** Whenever the position changes while waiting. */
  position?(position: number): void;
  started?(info: { size: number; iterations: number }): void;
  retrying?(info: { size: number; reason: 'out-of-memory' }): void;
  progress?(progress: JobProgress): void;
  completed?(result: JobResult): void;
  failed?(error: JobFailure): void;
  cancelled?(by: CancelledBy): void;
}

export type JobEventName = keyof JobListener;
export type JobEventHandler<E extends JobEventName> = NonNullable<JobListener[E]>;
export type JobEventArgs<E extends JobEventName> = Parameters<JobEventHandler<E>>;

export type RefusalReason = 'queue-full' | 'user-limit' | 'shutting-down';

export type SubmitResult =
  | { accepted: true; job: Job }
  | {
      accepted: false;
      reason: RefusalReason;
      /** Safe to show the user. */
      message: string;
      /** user-limit: the user's oldest active job. */
      activeJobId?: string;
      /** queue-full: jobs waiting now. */
      queueLength?: number;
    };

export type CancelResult = 'cancelled' | 'not-found' | 'not-allowed' | 'already-finished';

/** What is remembered of a finished job. */
export interface FinishedJob {
  id: string;
  userId: string;
  guildId: string | undefined;
  state: FinalState;
  createdAt: number;
  /** Undefined when it was cancelled while waiting. */
  startedAt: number | undefined;
  finishedAt: number;
  /** The user-safe failure message, for failed jobs. */
  message: string | undefined;
}

export interface LastProgress {
  iteration: number;
  total: number;
  etaMs: number | undefined;
  loss: LossTerms;
}

export interface RunningJobInfo {
  id: string;
  userId: string;
  guildId: string | undefined;
  /** Size of the current attempt. */
  size: number;
  iterations: number;
  startedAt: number;
  elapsedMs: number;
  progress: LastProgress | undefined;
  /** Cancelled or shutting down, waiting for the engine to stop. */
  stopping: boolean;
}

export interface WaitingJobInfo {
  id: string;
  userId: string;
  guildId: string | undefined;
  position: number;
  waitingMs: number;
}

export interface OutcomeTotals {
  count: number;
  /** Mean run time of the jobs that ended this way after starting; undefined when none did. */
  avgDurationMs: number | undefined;
}

export interface QueueSnapshot {
  accepting: boolean;
  concurrency: number;
  maxQueue: number;
  running: RunningJobInfo[];
  queuedCount: number;
  /** The waiting line in order. */
  waiting: WaitingJobInfo[];
  /** Present when snapshot(userId) was asked: that user's active jobs. */
  user?: { userId: string; jobs: Array<{ id: string; state: 'queued' | 'running'; position: number | undefined }> };
  /** Present when snapshot(_, guildId) was asked: that server's finished jobs. */
  guild?: { guildId: string; totals: Record<FinalState, OutcomeTotals> };
  totals: Record<FinalState, OutcomeTotals>;
}
