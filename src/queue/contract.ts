import type { Failure, ProgressInfo, ResultInfo } from '../engine/protocol.ts';
import type { BackendInfo, PresetName, StylizeSettings } from '../engine/types.ts';
import type { RgbImage } from '../images/rgb-image.ts';

/**
 * The one contract the bot uses to run style transfers. `LocalQueue` (p-queue in the bot's process, engine
 * workers it forks) is the default; `RedisQueue` (BullMQ, workers on any machine) sits beside it. Everything that
 * enters or leaves is plain data, so that it can be stored in Redis and read back by another process.
 *
 * A request goes: reserve (limits checked atomically, the job id is made) → the bot downloads and decodes →
 * submit (the job enters the line) → events through the sink → exactly one final event.
 */
export interface StylizeQueue<D = unknown> {
  /**
   * Starts the queue and sends every job event to `sink`. Resolves once jobs can run (a worker is ready, or
   * Redis is reachable); rejects with a user-facing error when they never can (e.g. bad weights).
   */
  start(sink: JobEventSink<D>): Promise<void>;
  /**
   * Holds a place for `owner` against MAX_JOBS_PER_USER, MAX_QUEUE and the per-server caps, atomically across
   * every process that shares the queue, and names the job. The place lapses unless submitted or released.
   */
  reserve(owner: JobOwner): Promise<Reservation | Refusal>;
  /** Enters a reserved job into the line with its inputs and where its results go. */
  submit(reservation: Reservation, job: JobInput, delivery: D): Promise<{ accepted: true; position: number } | Refusal>;
  /** Gives a reserved place back (the download failed, the user's image was bad). */
  release(reservation: Reservation): Promise<void>;
  /** Owners cancel their own jobs, `privileged` members anyone's. Accepts ids as users type them. */
  cancel(jobId: string, by: { userId: string; privileged: boolean }): Promise<CancelResult>;
  /** For `/queue`: what runs, what waits, where `userId` stands, which workers are online. */
  snapshot(view?: { userId?: string; guildId?: string }): Promise<QueueSnapshot>;
  /** Whether a new job could run now; the bot refuses /stylize privately with the message otherwise. */
  health(): Promise<{ ok: true } | { ok: false; message: string }>;
  /**
   * Stops taking jobs. Local: waiting jobs are cancelled, running ones get the grace period, then their workers
   * are stopped. Redis: jobs stay in Redis for the next bot process. Resolves when this process is done with them.
   */
  shutdown(): Promise<void>;
}

export interface JobOwner {
  userId: string;
  guildId: string | undefined;
}

export interface Reservation extends JobOwner {
  /** The job's id from now on: in every message, log line and Cancel button. */
  readonly jobId: string;
}

export type RefusalReason = 'queue-full' | 'user-limit' | 'guild-limit' | 'shutting-down' | 'engine-restarting' | 'unavailable';

export interface Refusal {
  accepted: false;
  reason: RefusalReason;
  /** One line, safe to show the user privately. */
  message: string;
}

/** What the bot hands over: decoded images and settings, no closures. */
export interface JobInput {
  /** Decoded at the output size. */
  content: RgbImage;
  /** Sized for the output and the style scale, with blend weights. */
  styles: { image: RgbImage; weight: number }[];
  preset?: PresetName;
  /** Engine overrides; `iterations` is set from `iterations` below. */
  settings: Partial<StylizeSettings>;
  /** Output long side (the content's); clamped to the server caps. */
  size: number;
  /** The maximum; clamped to the caps. */
  iterations: number;
  /** The upload limit the result must fit. */
  resultMaxBytes: number;
}

export type CancelledBy = 'owner' | 'admin' | 'shutdown';

export type JobEvent =
  /** Once, when the job has to wait: its 1-based place in the line. A job that starts at once goes to `started`. */
  | { type: 'queued'; position: number }
  | { type: 'position'; position: number }
  /** `restarted`: a worker died while running it, and this is its one retry on a fresh worker. */
  | { type: 'started'; size: number; iterations: number; restarted: boolean }
  | { type: 'retrying'; size: number; reason: 'out-of-memory' }
  | ({ type: 'progress' } & ProgressInfo)
  /** Final. The result's bytes may be dropped from storage once the sink's promise resolves. */
  | { type: 'completed'; result: ResultInfo }
  /** Final. */
  | { type: 'failed'; failure: Failure }
  /** Final. */
  | { type: 'cancelled'; by: CancelledBy };

export type JobEventType = JobEvent['type'];

export interface JobRef<D> extends JobOwner {
  jobId: string;
  /** What the bot stored at submit: for a restarted bot, everything it needs to reach the user. */
  delivery: D;
}

/**
 * Receives every event of every job, in order per job. A final event's promise is awaited (the result is kept
 * until it resolves, so a bot that dies mid-delivery delivers again after restart); others are not.
 */
export type JobEventSink<D> = (job: JobRef<D>, event: JobEvent) => void | Promise<void>;

export type CancelResult = 'cancelled' | 'not-found' | 'not-allowed' | 'already-finished';

export type FinalState = 'completed' | 'failed' | 'cancelled';

export interface OutcomeTotals {
  count: number;
  /** Mean run time of the jobs that ended this way after starting; undefined when none did. */
  avgDurationMs: number | undefined;
}

export interface RunningJobInfo {
  id: string;
  userId: string;
  guildId: string | undefined;
  size: number;
  iterations: number;
  elapsedMs: number;
  progress: { iteration: number; total: number; etaMs: number | undefined } | undefined;
  /** Cancelled or shutting down, waiting for the worker to stop. */
  stopping: boolean;
}

export interface WorkerInfo {
  /** Host name and pid, e.g. `gpu-box-2:4121`. */
  id: string;
  backend: BackendInfo;
  busy: boolean;
}

export interface QueueSnapshot {
  accepting: boolean;
  /** Jobs that may wait (MAX_QUEUE). */
  maxQueue: number;
  running: RunningJobInfo[];
  /** Jobs waiting, in line order. */
  waiting: { id: string; userId: string; position: number }[];
  workers: WorkerInfo[];
  /** With view.userId: that user's active jobs. */
  user?: { userId: string; jobs: { id: string; state: 'queued' | 'running'; position: number | undefined }[] };
  /** Finished jobs by outcome since this queue started (local) or within Redis's retention (cluster). */
  totals: Record<FinalState, OutcomeTotals>;
}
