import type { BackendChoice } from '../config/schema.ts';
import type { RgbImage } from '../images/rgb-image.ts';
import type { ShapeCheck } from '../weights/types.ts';
import type { BackendInfo, LossTerms, PresetName, StylizeResult, StylizeSettings } from './types.ts';

/**
 * What crosses between an engine worker process and whoever feeds it (the local pool, or `npm run worker` taking
 * jobs from Redis): plain data only, so that it survives `child_process` IPC with `serialization: 'advanced'`
 * (Buffers and typed arrays cross as bytes) and, outside the images, JSON. No closures, no class instances, no
 * Error objects: a failure is a code plus a message safe to show users.
 */

/** One style transfer, complete: inputs, settings and how the result should come back. */
export interface EngineJob {
  id: string;
  /** Decoded at the output size: the result has its dimensions. */
  content: RgbImage;
  /** Already sized for the output and the style scale. */
  styles: { image: RgbImage; weight: number }[];
  preset?: PresetName;
  /** Overrides of the preset; `iterations` is the (clamped) maximum. */
  settings: Partial<StylizeSettings>;
  /** The run stops by itself at this many ms after it starts and returns its best image (stopReason time-limit). */
  timeLimitMs: number;
  /** A JPEG preview rides on a progress event at most this often; undefined: never. */
  previewEveryMs?: number;
  /** The encoded result must fit in this many bytes (Discord's upload limit): PNG, else a JPEG fallback. */
  resultMaxBytes: number;
}

/** An encoded image, as bytes. */
export interface EncodedBytes {
  bytes: Uint8Array;
  mime: string;
  /** Without the dot: png, jpg, webp. */
  extension: string;
  width: number;
  height: number;
}

export interface ProgressInfo {
  iteration: number;
  /** The maximum (the run may stop earlier when it has converged). */
  total: number;
  elapsedMs: number;
  etaMs: number | undefined;
  loss: LossTerms;
  scale: { index: number; count: number; width: number; height: number } | undefined;
  preview?: EncodedBytes;
}

/** The engine's result, with its image encoded where it was made. */
export interface ResultInfo extends Omit<StylizeResult, 'image'> {
  image: EncodedBytes & {
    /** For the user when it is not the lossless PNG (a JPEG, or a smaller size to fit the upload limit). */
    note?: string;
  };
  /** Set when an out-of-memory error made the job run again at this smaller output long side. */
  retriedAtSize?: number;
}

/**
 * Failure codes, each with its user message in FAILURE_MESSAGES below. `invalid-request`: the request cannot run
 * (a bad image or setting; its own message says which). `out-of-memory`: even the smaller retry did not fit.
 * `timeout`: the time limit came before any image. `worker-crashed`: the process died (twice, after a retry).
 * `engine-unavailable`: no worker could run it. `internal`: a bug; the log has the detail.
 */
export type FailureCode =
  | 'invalid-request'
  | 'out-of-memory'
  | 'timeout'
  | 'worker-crashed'
  | 'engine-unavailable'
  | 'internal';

export interface Failure {
  code: FailureCode;
  /** One short line, safe to show a user. */
  message: string;
}

/**
 * The user messages of the failures that the worker and the pool word themselves (an `invalid-request` carries
 * the engine's own message). Plain strings, importable from the bot's process: this file has no runtime imports.
 */
export const FAILURE_MESSAGES = {
  'out-of-memory':
    'The server ran out of memory for this image, even at a smaller size. Please try again with a smaller size.',
  timeout: 'Your job reached its time limit before it had an image to show, so it was stopped.',
  'worker-crashed':
    'The engine crashed twice while running this job, so it was stopped. Please try again, perhaps at a smaller size.',
  'engine-unavailable': 'The engine is not running right now. Please try again in a minute.',
  internal: 'Something went wrong while stylizing. The admin can find details in the log.',
} as const satisfies Record<Exclude<FailureCode, 'invalid-request'>, string>;

/**
 * Everything a worker needs to start, sent as its first message: plain data, never a secret (the worker's
 * environment has the bot token and other secrets removed, and nothing here carries one).
 */
export interface WorkerInit {
  weights: {
    /** A local file or folder (the bot has already downloaded a configured URL). */
    file: string;
    /** What messages call it: the configured path or URL. */
    label: string;
    /** Where a converted copy of an .h5 file is kept, shared by every worker on this machine. */
    cacheDir: string | undefined;
    shapes: ShapeCheck;
  };
  backend: BackendChoice;
  /** CPU threads this worker may compute with (its share of the cores). */
  threads: number;
  log: { level: string; format: 'auto' | 'pretty' | 'json' };
}

/**
 * Why a worker could not start. `bad-weights` and `backend-unavailable` carry a line an admin can act on;
 * `internal` is anything else (the worker's log has the detail).
 */
export interface StartupFailure {
  code: 'bad-weights' | 'backend-unavailable' | 'internal';
  /** One line: the bot refuses to start with it. */
  message: string;
}

/** The events of a running job, as a worker reports them and the pool forwards them. */
export type JobProgressEvent =
  | { type: 'started'; size: number; iterations: number }
  /** An out-of-memory error: the job runs again once, at this output long side. */
  | { type: 'retrying'; size: number; reason: 'out-of-memory' }
  | ({ type: 'progress' } & ProgressInfo);

/** The parent's messages to a worker. */
export type ToWorker =
  /** The first message: the worker loads the weights and the engine, then answers `ready` or `startup-failed`. */
  | { type: 'init'; init: WorkerInit }
  /** One job at a time: `run` is sent only to a worker that is ready and idle. */
  | { type: 'run'; job: EngineJob }
  /** Stop the job within one iteration; the worker answers with `cancelled` (or the outcome that beat it). */
  | { type: 'cancel'; jobId: string }
  /** Finish nothing more: exit once the current job (if any) has been cancelled. */
  | { type: 'shutdown' };

/** A worker's messages to its parent. */
export type FromWorker =
  | { type: 'ready'; pid: number; backend: BackendInfo; weights: string; startupMs: number }
  /**
   * One log line of the worker's, as pino's JSON object: the parent writes it to its own log (one stream, one
   * format, the parent's redaction), so that nothing the engine says bypasses it.
   */
  | { type: 'log'; entry: Record<string, unknown> }
  /** Start-up failed (bad weights, a forced backend that cannot run); the worker exits after sending it. */
  | { type: 'startup-failed'; failure: StartupFailure }
  | (JobProgressEvent & { jobId: string })
  | { type: 'completed'; jobId: string; result: ResultInfo }
  | { type: 'failed'; jobId: string; failure: Failure }
  | { type: 'cancelled'; jobId: string };
